"""Alembic environment: runs migrations against Storywire's configured database."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from models import Base, make_engine
from worker.config import get_settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    # An explicit URL (storywire db upgrade --database-url, tests) wins over the settings.
    # (No alembic.ini: source paths live in pyproject.toml, the URL comes from the settings.)
    explicit = config.attributes.get("database_url")
    if explicit is None and config.file_config.has_section(config.config_ini_section):
        explicit = config.get_main_option("sqlalchemy.url")
    return str(explicit or get_settings().sqlalchemy_url)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode recreates the table instead.
        render_as_batch=True,
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
