# Storywire worker image: `docker build -t storywire .` (docker-compose.yml builds it).
# One image for every role; the command picks it: `storywire db upgrade|worker|beat|run`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STORYWIRE_DATA_DIR=/var/lib/storywire

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so a source change does not reinstall them:
# install the project once with empty packages, then drop it and keep its dependencies.
COPY pyproject.toml README.md ./
RUN mkdir -p worker models \
    && touch worker/__init__.py models/__init__.py \
    && pip install . \
    && pip uninstall -y storywire \
    && rm -rf worker models build *.egg-info

COPY worker ./worker
COPY models ./models
COPY alembic ./alembic
RUN pip install --no-deps . && rm -rf build *.egg-info

# Celery refuses nothing as root, but a worker that parses untrusted pages has no need for it.
RUN useradd --system --create-home --home-dir /home/storywire storywire \
    && mkdir -p "$STORYWIRE_DATA_DIR" \
    && chown storywire "$STORYWIRE_DATA_DIR"
USER storywire

CMD ["storywire", "run"]
