"""Helpers shared by the benchmarks: where the evaluation data is, peak memory."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python bench/x.py` puts bench/ first, not the repo
    sys.path.insert(0, str(REPO_ROOT))


def shared_data() -> Path | None:
    """The third-party evaluation corpora: $STORYWIRE_SHARED_DATA or ../shared/data."""
    for candidate in (os.environ.get("STORYWIRE_SHARED_DATA"), REPO_ROOT.parent / "shared/data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def peak_rss_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024
