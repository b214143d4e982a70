# The sandbox worker: one container per sandbox instance (docs/runtimes.md). Build context: the repository root.
#   docker build -f deploy/images/sandbox-worker.Dockerfile -t wagw/sandbox-worker:dev .
FROM python:3.11-slim

# The worker needs only the standard library and h11 (pinned as in uv.lock).
RUN python3 -m venv /opt/worker \
    && /opt/worker/bin/pip install --no-cache-dir --disable-pip-version-check h11==0.16.0 \
    && rm -rf /root/.cache

COPY src/sandbox_worker /opt/worker/app/sandbox_worker

# A user of its own, no home, no shell: the runtime also drops every capability and mounts the root read-only.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin worker \
    && install -d -o 10001 -g 10001 -m 0700 /data

ENV PATH=/opt/worker/bin:$PATH \
    PYTHONPATH=/opt/worker/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/data \
    LISTEN=0.0.0.0:8080
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
# /v1/health needs no credentials (docs/worker-protocol.md).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/v1/health', timeout=2)"]
ENTRYPOINT ["python3", "-m", "sandbox_worker"]
