"""Storywire settings: one typed object read from the environment.

Usage::

    from worker.config import get_settings

    settings = get_settings()
    settings.sqlalchemy_url    # DATABASE_URL, SQLite file in the data dir by default
    settings.redis_url         # REDIS_URL, else None: an embedded SQLite broker

``DATABASE_URL`` and ``REDIS_URL`` keep their conventional names (docker-compose, Heroku-style
platforms set them); every other setting is ``STORYWIRE_<NAME>``. With nothing set at all,
Storywire runs on embedded defaults: a SQLite database and a SQLite-backed Celery broker under
``STORYWIRE_DATA_DIR``, so ``storywire run`` needs no server.

settings.py   the model: every setting, its default, bounds and meaning; ``get_settings``
urls.py       the URL settings checked (database, Redis, contact, proxy)
secrets.py    ``*_FILE`` twins: a setting's value read from a file
allowed.py    what a setting accepts, in words (README table, start-up errors)
"""

from worker.config.allowed import allowed
from worker.config.settings import Settings, get_settings
from worker.config.urls import check_database_url, check_redis_url, normalize_database_url

__all__ = [
    "Settings",
    "allowed",
    "check_database_url",
    "check_redis_url",
    "get_settings",
    "normalize_database_url",
]
