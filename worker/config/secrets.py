"""Settings read from files: every variable has a ``*_FILE`` twin naming a file that holds its
value (Docker and Kubernetes secrets).

Usage (``Settings`` puts it after the environment and before ``.env``)::

    DATABASE_URL_FILE=/run/secrets/db storywire run
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

#: Suffix of a variable naming a file that holds a setting's value (Docker/Kubernetes secrets).
FILE_SUFFIX = "_FILE"


class FileSecrets(PydanticBaseSettingsSource):
    """``DATABASE_URL_FILE=/run/secrets/db`` sets ``DATABASE_URL`` to that file's content
    (without its trailing newline): secrets mounted as files stay out of the environment,
    where any process listing can read them. Every setting has its ``*_FILE`` twin."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        for name in _env_names(field_name, field):
            path = os.environ.get(name + FILE_SUFFIX)
            if path:
                # Keyed as the environment source keys it: by alias where the field has one.
                key = name if isinstance(field.validation_alias, AliasChoices) else field_name
                return _read_secret(name + FILE_SUFFIX, path), key, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, field_name)
            if value is not None:
                found[key] = value
        return found


def _env_names(field_name: str, field: FieldInfo) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [f"STORYWIRE_{field_name.upper()}"]


def _read_secret(variable: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{variable}={path}: cannot read the file: {exc}") from exc
