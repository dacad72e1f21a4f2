"""Alembic, driven from Python: ``storywire db upgrade`` and the embedded auto-migrate.

Usage::

    upgrade("sqlite:///storywire.db")          # to head
    downgrade("postgresql+psycopg://…", "base")
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

import models


def _script_location() -> Path:
    # The migrations live beside the packages in the source tree (editable install, Docker
    # image, Procfile app); fall back to the working directory for other layouts.
    for base in (Path(models.__file__).resolve().parent.parent, Path.cwd()):
        candidate = base / "alembic"
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("alembic/ migrations directory not found beside the package")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def current_revision(database_url: str) -> str | None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head()
