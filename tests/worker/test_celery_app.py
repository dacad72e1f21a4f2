"""The Celery app's process set-up."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from celery import signals

import worker.celery_app  # noqa: F401  (connects the signal handlers)
from tests.support.processes import run_python


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the suite runs with a normal collector


@pytest.mark.usefixtures("unfrozen")
def test_a_worker_process_freezes_the_objects_it_starts_with() -> None:
    assert gc.get_freeze_count() == 0
    signals.worker_process_init.send(sender=None)
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the imported modules' objects, at least
    # Objects made later stay in the collector's generations: only what existed is frozen.
    # (The count may fall meanwhile: other threads of this process, the test server's or
    # pytest-xdist's, may free frozen objects; it can only grow by freezing again.)
    made_later = [[] for _ in range(1000)]
    assert gc.get_freeze_count() <= frozen
    assert any(obj is made_later for obj in gc.get_objects())  # not the permanent generation
    del made_later


def test_the_worker_loads_the_date_parsers_languages_before_it_forks() -> None:
    # A fresh interpreter: what this test process already loaded must not count.
    code = (
        "from celery import signals\n"
        "import worker.celery_app\n"
        "from dateparser.languages.loader import LocaleDataLoader as L\n"
        "before = len(L._loaded_locales)\n"
        "signals.worker_init.send(sender=None)\n"
        "print(before, len(L._loaded_locales))\n"
    )
    out = run_python(code).split()
    before, after = int(out[0]), int(out[1])
    assert before == 0
    assert after > 100  # every language dateparser knows: none is loaded on a page later
