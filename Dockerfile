# Storywire worker image: `docker build -t storywire .` (docker-compose.yml builds it).
# One image for every role; the command picks it: `storywire db upgrade|worker|beat|run`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STORYWIRE_DATA_DIR=/var/lib/storywire

WORKDIR /app

# Dependencies first, at the exact versions of requirements.lock (regenerated from
# pyproject.toml with the pip-compile command at its top), so the image is reproducible and
# a source change does not reinstall them.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

COPY pyproject.toml README.md ./
COPY worker ./worker
COPY models ./models
COPY alembic ./alembic
# --no-deps: everything came from the lock file; `pip check` fails the build if the lock
# no longer satisfies pyproject.toml.
RUN pip install --no-deps . && rm -rf build *.egg-info && pip check

# Celery refuses nothing as root, but a worker that parses untrusted pages has no need for it.
RUN useradd --system --create-home --home-dir /home/storywire storywire \
    && mkdir -p "$STORYWIRE_DATA_DIR" \
    && chown storywire "$STORYWIRE_DATA_DIR"
USER storywire

# `storywire health --local`: database, migrations, broker, and this container's own beat and
# worker heartbeats (docker-compose.yml narrows the checks for the worker and beat services).
HEALTHCHECK --interval=60s --timeout=30s --start-period=60s --retries=3 \
    CMD ["storywire", "health", "--local"]

CMD ["storywire", "run"]
