# The support desk's worker image: Tether (the library, installed from this repository)
# and the demo application beside it. Secrets (OPENAI_API_KEY, ...) come from the
# environment at run time, never from the image.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tether ./tether
RUN pip install --no-cache-dir .
COPY workflows ./workflows
COPY activities ./activities
COPY support_desk ./support_desk
COPY worker.py starter.py ./
ENV TETHER_SHOP_DB=/data/shop.db
CMD ["python", "worker.py"]
