# The Tether worker image. Secrets (OPENAI_API_KEY, ...) come from the environment at
# run time, never from the image.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tether ./tether
COPY workflows ./workflows
COPY activities ./activities
COPY tools ./tools
COPY agents ./agents
COPY cli ./cli
COPY worker.py starter.py ./
RUN pip install --no-cache-dir .
ENV TETHER_SHOP_DB=/data/shop.db
CMD ["python", "worker.py"]
