"""Helpers shared by the benchmarks: where the evaluation data is, peak memory, CPU, load."""

from __future__ import annotations

import functools
import os
import resource
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python bench/x.py` puts bench/ first, not the repo
    sys.path.insert(0, str(REPO_ROOT))


@functools.cache
def shared_data() -> Path | None:
    """The third-party evaluation corpora: $STORYWIRE_SHARED_DATA if set, else ../shared/data;
    None when absent. A set variable naming no folder is said once and not replaced by the
    default: the corpus measured must be the one asked for."""
    env = os.environ.get("STORYWIRE_SHARED_DATA")
    if env:
        if Path(env).is_dir():
            return Path(env)
        print(f"note: STORYWIRE_SHARED_DATA={env} is not a folder: no shared data", file=sys.stderr)
        return None
    default = REPO_ROOT.parent / "shared" / "data"
    return default if default.is_dir() else None


def machine_load() -> str:
    """The load averages and the number of cores, as the benchmarks print them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


def peak_rss_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def tree_cpu_s(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) so far of each named process and its descendants: the live
    ones, and those that exited and were reaped (counted in their parent's ``cutime``).
    Linux only (``/proc``); 0.0 for a process that is gone."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        pid = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        # utime, stime, cutime, cstime: fields 14-17 of proc(5), here counted from "state".
        times[pid] = sum(int(f) for f in fields[11:15]) / ticks
    totals = {}
    for name, root in roots.items():
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            total += times.get(pid, 0.0)
            todo.extend(children.get(pid, ()))
        totals[name] = total
    return totals
