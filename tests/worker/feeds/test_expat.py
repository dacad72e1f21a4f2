"""The startup check of Expat (versions other than this machine's are passed in)."""

from __future__ import annotations

import pyexpat

import pytest

from worker.feeds.expat import UnsafeXMLParser, check_expat


def test_no_entity_protection_is_always_refused() -> None:
    with pytest.raises(UnsafeXMLParser, match=r"2\.4\.0"):
        check_expat(strict=False, version=(2, 4, 0))


def test_without_reparse_deferral_warns_or_refuses_when_strict() -> None:
    assert "CVE-2023-52425" in (check_expat(strict=False, version=(2, 5, 0)) or "")
    with pytest.raises(UnsafeXMLParser, match="STRICT_EXPAT"):
        check_expat(strict=True, version=(2, 5, 0))


def test_current_expat_passes_even_strict() -> None:
    assert check_expat(strict=True, version=(2, 6, 0)) is None
    assert check_expat(strict=True, version=(2, 7, 3)) is None


def test_this_pythons_expat_is_checked_by_default() -> None:
    # Whatever this machine has, the default check either passes or warns: never silent
    # about an old parser, never refusing one that has entity protection.
    result = check_expat(strict=False)
    assert (result is None) == (pyexpat.version_info >= (2, 6, 0))


def test_strict_worker_refuses_to_start_on_an_old_expat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The machine's own Expat may be new: the old version is the fault we simulate.
    from typer.testing import CliRunner

    from worker.cli import app
    from worker.config import get_settings
    from worker.feeds import expat

    # The CLI imports the check when a worker starts (not at import: --help stays fast).
    real = expat.check_expat
    monkeypatch.setattr(
        expat, "check_expat", lambda *, strict: real(strict=strict, version=(2, 5, 0))
    )
    monkeypatch.setenv("STORYWIRE_STRICT_EXPAT", "1")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 1
    assert "CVE-2023-52425" in result.output
