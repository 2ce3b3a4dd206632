# Driftline's image: the `driftline` service, and the example retraining service of
# docker-compose.yml (examples/retrain_service/, run with uvicorn from /app).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the distribution from a throw-away copy of the sources (no test extras), then drop
# them: the image runs the installed packages only, so /app cannot shadow them.
COPY pyproject.toml README.md /tmp/driftline-src/
COPY monitor /tmp/driftline-src/monitor
COPY exporters /tmp/driftline-src/exporters
COPY alerts /tmp/driftline-src/alerts
COPY dashboards /tmp/driftline-src/dashboards
RUN pip install /tmp/driftline-src && rm -rf /tmp/driftline-src

# The example retraining service and its data (examples/current.csv); uvicorn imports
# `examples.retrain_service.app` from the working directory.
WORKDIR /app
COPY examples /app/examples

# A non-root user that owns nothing but its state folders: the code stays read-only to it.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/driftline --create-home \
        --shell /usr/sbin/nologin driftline \
    && mkdir -p /var/lib/retrain \
    && chown driftline:driftline /var/lib/retrain
USER driftline

EXPOSE 8000
CMD ["driftline", "serve", "--host", "0.0.0.0", "--port", "8000"]
