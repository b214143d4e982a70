# The control plane (API, dashboard, reconciler, webhook dispatcher). Build context: the repository root.
#   docker build -f deploy/images/gateway.Dockerfile -t wagw/gateway:dev .
FROM python:3.11-slim AS build
ENV UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/gateway UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check uv==0.13.9
WORKDIR /src
# Dependencies first, from the lock file, so a code change does not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-install-project
COPY src ./src
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim
COPY --from=build /opt/gateway /opt/gateway
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin gateway \
    && install -d -o 10001 -g 10001 -m 0700 /data
ENV PATH=/opt/gateway/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/data \
    PORT=3000
USER 10001:10001
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"3000\")}/healthz', timeout=2)"]
ENTRYPOINT ["wagw"]
CMD ["run"]
