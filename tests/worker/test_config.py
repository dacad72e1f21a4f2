"""Settings from the environment, a `.env` file and `*_FILE` secrets, in that precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.config import Settings


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_dotenv_file(workdir: Path) -> None:
    (workdir / ".env").write_text(
        "# comments and blank lines are fine\n\nSTORYWIRE_CONCURRENCY=7\n"
        "DATABASE_URL=postgres://u:p@db/sw\nSTORYWIRE_HTTP_PROXY=http://proxy.internal:3128\n"
    )
    settings = Settings()
    assert settings.concurrency == 7
    assert settings.sqlalchemy_url == "postgresql+psycopg://u:p@db/sw"
    assert settings.http_proxy == "http://proxy.internal:3128"


def test_file_secrets_and_precedence(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = workdir / "db-url"
    secret.write_text("postgresql://app:s3cret@db/storywire\n")
    rate = workdir / "rate"
    rate.write_text("5")
    monkeypatch.setenv("DATABASE_URL_FILE", str(secret))
    monkeypatch.setenv("STORYWIRE_HOST_RATE_PER_S_FILE", str(rate))
    (workdir / ".env").write_text("STORYWIRE_HOST_RATE_PER_S=9\nSTORYWIRE_CONCURRENCY=4\n")
    settings = Settings()
    assert settings.database_url == "postgresql://app:s3cret@db/storywire"  # newline dropped
    assert settings.host_rate_per_s == 5  # the file wins over .env
    assert settings.concurrency == 4  # .env still fills the rest

    monkeypatch.setenv("STORYWIRE_HOST_RATE_PER_S", "2")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///direct.db")
    settings = Settings()
    assert settings.host_rate_per_s == 2  # the variable itself wins over its file
    assert settings.database_url == "sqlite:///direct.db"


def test_unreadable_secret_file_names_the_variable(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL_FILE", str(workdir / "missing"))
    with pytest.raises(ValueError, match=r"REDIS_URL_FILE=.*missing: cannot read the file"):
        Settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STORYWIRE_METRICS_PORT", "0"),
        ("STORYWIRE_METRICS_PORT", "70000"),
        ("STORYWIRE_METRICS_TOP_DOMAINS", "-1"),
        ("STORYWIRE_ARTICLE_RETENTION_DAYS", "0"),
    ],
)
def test_new_settings_are_bounded(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name.removeprefix("STORYWIRE_").lower()):
        Settings()
