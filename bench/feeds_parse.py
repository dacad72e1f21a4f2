"""Run every file of the shared feed corpus through ``parse_feed`` and print the outcomes.

Usage::

    .venv/bin/python bench/feeds_parse.py [--data DIR] [--limit N] [--show-errors]

The corpus (feedparser's, gofeed's and miniflux's test inputs) lives in ``../shared/data/feeds``
(or ``$STORYWIRE_SHARED_DATA/feeds``); it is read in place, never copied. Every input must
either give a ParsedFeed or raise FeedParseError: anything else is a crash and is listed.
Files under feedparser/ may carry a ``Header: Content-Type: ...`` line in their leading
comment: it is passed as the response content type, as the fetcher would.
"""

from __future__ import annotations

import argparse
import collections
import re
import time
import traceback
from pathlib import Path

from _common import shared_data  # also puts the repository first on sys.path

from worker.feeds import FeedParseError, parse_feed

_HEADER_RE = re.compile(rb"^\s*Header:\s*Content-type:\s*(.+?)\s*$", re.I | re.M)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="folder holding feeds/")
    ap.add_argument("--limit", type=int, default=0, help="stop after N files (0: all)")
    ap.add_argument("--show-errors", action="store_true", help="list every FeedParseError")
    args = ap.parse_args()
    data = args.data or shared_data()
    root = data / "feeds" if data is not None else None
    if root is None or not root.is_dir():
        where = f"at {root}" if root is not None else "(no shared data)"
        print(f"no feed corpus {where}: nothing to measure (STORYWIRE_SHARED_DATA, --data)")
        return 0

    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() != ".md")
    if args.limit:
        files = files[: args.limit]
    outcomes: collections.Counter[str] = collections.Counter()
    by_folder: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    crashes: list[tuple[Path, str]] = []
    errors: list[tuple[Path, str]] = []
    slowest: list[tuple[float, Path]] = []
    entries = 0
    started = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        header = _HEADER_RE.search(data[:2048])
        content_type = header.group(1).decode("latin-1") if header else None
        t0 = time.perf_counter()
        try:
            feed = parse_feed(
                data, url=f"http://example.com/{path.name}", content_type=content_type
            )
        except FeedParseError as err:
            outcome = f"error:{err.error_class}"
            errors.append((path, f"{err.error_class}: {err}"))
        except Exception:  # this is what we are counting
            outcome = "CRASH"
            crashes.append((path, traceback.format_exc(limit=3)))
        else:
            outcome = "bozo-but-usable" if feed.bozo else "ok"
            entries += len(feed.entries)
        slowest.append((time.perf_counter() - t0, path))
        outcomes[outcome] += 1
        by_folder[path.relative_to(root).parts[0]][outcome] += 1
    elapsed = time.perf_counter() - started

    print(f"feed corpus: {root}  files: {len(files)}  entries: {entries}")
    print(f"time: {elapsed:.1f} s  ({1000 * elapsed / max(1, len(files)):.2f} ms/file)")
    for outcome, count in outcomes.most_common():
        print(f"  {outcome:22s} {count:6d}")
    for folder, counter in sorted(by_folder.items()):
        print(f"  [{folder}] " + ", ".join(f"{k} {v}" for k, v in counter.most_common()))
    print("slowest:")
    for seconds, path in sorted(slowest, reverse=True)[:5]:
        print(f"  {seconds * 1000:8.1f} ms  {path.relative_to(root)}")
    if args.show_errors:
        for path, message in errors:
            print(f"  ERROR {path.relative_to(root)}: {message[:160]}")
    print(f"crashes: {len(crashes)}")
    for path, tb in crashes[:20]:
        print(f"  CRASH {path.relative_to(root)}\n{tb}")
    return 1 if crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
