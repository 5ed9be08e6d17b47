# The support desk's worker image: Tether (the library, installed from this repository)
# and the demo application beside it. Secrets (OPENAI_API_KEY, TETHER_ENCRYPTION_KEYS,
# ...) come from the environment at run time, never from the image.
#
# The base is pinned to a patch release on one Debian release (bump it on purpose; on a
# machine with a registry, pin its digest too: FROM python:...@sha256:...). Dependencies
# install from deploy/requirements.lock, each with its hashes, before Tether itself
# (--no-deps), so the build resolves nothing fresh. The worker runs as an unprivileged
# user that can write only the shop's data directory.
FROM python:3.11.14-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin tether
WORKDIR /app
COPY deploy/requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY tether ./tether
RUN pip install --no-cache-dir --no-deps .
COPY workflows ./workflows
COPY activities ./activities
COPY support_desk ./support_desk
COPY worker.py starter.py ./
RUN install -d -o tether -g tether -m 0700 /data
USER tether
ENV TETHER_SHOP_DB=/data/shop.db
CMD ["python", "worker.py"]
