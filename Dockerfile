# Flightlog image: one image, two roles (see docker-compose.yml).
#   collector: flightlog serve --host 0.0.0.0 --port 4318   (OTLP/HTTP + query API)
#   ui:        flightlog ui --host 0.0.0.0 --port 8501      (Streamlit, talks to the query API)
# Build: docker build -t flightlog .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLIGHTLOG_DATA_DIR=/var/lib/flightlog

WORKDIR /src

# The build context is filtered by .dockerignore (no .git, caches, local data).
COPY . .
# [all] = server (FastAPI, uvicorn, clickhouse-connect, chDB, OTLP protos) + ui (Streamlit).
# chDB alone is ~550 MB installed; the image is large by design, one image for both roles.
RUN pip install '.[all]' \
    && rm -rf /src/build /src/*.egg-info

# Run as an unprivileged user that owns only the data directory (spool, dev keys and,
# without FLIGHTLOG_DSN, the embedded store).
RUN groupadd --system --gid 10001 flightlog \
    && useradd --system --uid 10001 --gid flightlog --no-create-home \
        --home-dir /var/lib/flightlog --shell /usr/sbin/nologin flightlog \
    && mkdir -p /var/lib/flightlog \
    && chown flightlog:flightlog /var/lib/flightlog

USER flightlog
WORKDIR /var/lib/flightlog
VOLUME ["/var/lib/flightlog"]

# 4318: OTLP/HTTP /v1/traces, /v1/logs and the query API /api; 8501: the UI.
EXPOSE 4318 8501

CMD ["flightlog", "serve", "--host", "0.0.0.0", "--port", "4318"]
