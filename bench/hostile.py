"""Time and peak memory of each hostile case, beside a plain feed and page in the same run.

    .venv/bin/python bench/hostile.py [--repeat 3] [--only NAME]

The cases are the tests' own: the parser bombs of tests/hostile/payloads.py through
``parse_feed``, the feeds of tests/hostile/test_feeds.py through ``refresh_feed`` and the
pages of tests/hostile/test_articles.py through ``process_article`` (with the hostile suite's
limits: 8 MiB cap, a 3 s deadline for the trickles). The tests assert what happened and how
much memory it took; how long it took depends on how busy the machine is, so it is printed
here: the best of ``--repeat`` runs, and that as a multiple of the reference case measured
alongside. A regression that makes a case slow (a bomb expanded, a body read whole, a
deadline not enforced) shows as seconds or minutes where the reference takes milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path

from _common import REPO_ROOT  # noqa: F401 - puts the repository on sys.path

from tests.hostile import payloads
from tests.hostile.conftest import hostile_resources_for, measure, refresh_and_record
from tests.hostile.test_articles import PAGE_CASES, PageCase, _stub
from tests.hostile.test_feeds import FEED_CASES, RSS, FeedCase, _route
from tests.support.httpserver import LocalHTTPServer
from tests.support.services import migrate
from worker.feeds import FeedParseError, parse_feed
from worker.pipeline import RetryLater, process_article
from worker.resources import Resources

Setup = Callable[[], Callable[[], None]]  # prepares one run, returns the part that is timed

PARSER_CASES = {
    "plain feed (reference)": payloads.plain_feed("https://hostile.example.com"),
    "billion-laughs": payloads.billion_laughs(),
    "quadratic-blowup": payloads.quadratic_blowup(),
    "fifty-thousand-entries": payloads.fifty_thousand_entries(),
    "five-mb-description": payloads.huge_description(),
}
PLAIN_FEED = FeedCase(
    "plain feed (reference)",
    _route("/plain.xml", payloads.plain_feed("https://x.example"), content_type=RSS),
    "ok",
)


def _resources(workdir: Path, limits: dict[str, object]) -> Resources:
    path = Path(tempfile.mkdtemp(dir=workdir))
    url = f"sqlite:///{path / 'bench.db'}"
    migrate(url)
    return hostile_resources_for(path, url, **limits)


def parse_setup(document: str | bytes) -> Setup:
    data = document.encode() if isinstance(document, str) else document

    def run() -> None:
        with contextlib.suppress(FeedParseError):
            parse_feed(data, url="https://hostile.example.com/feed")

    return lambda: run


def feed_setup(workdir: Path, case: FeedCase) -> Setup:
    def setup() -> Callable[[], None]:
        rt, server = _resources(workdir, case.limits), LocalHTTPServer().start()
        url = server.url(case.serve(server))

        def run() -> None:
            try:
                refresh_and_record(rt, url)
            finally:
                server.stop()
                rt.close()

        return run

    return setup


def page_setup(workdir: Path, case: PageCase) -> Setup:
    def setup() -> Callable[[], None]:
        rt, server = _resources(workdir, case.limits), LocalHTTPServer().start()
        case.serve(server)
        article_id = _stub(rt, server, server.url("/page.html"))

        def run() -> None:
            try:
                with contextlib.suppress(RetryLater):
                    process_article(rt.sessions, rt.fetcher, rt.settings, article_id)
            finally:
                server.stop()
                rt.close()

        return run

    return setup


def best_of(setup: Setup, repeat: int) -> tuple[float, float]:
    """Best time (s) and highest peak memory growth (MB) of ``repeat`` runs."""
    times, peaks = [], []
    for _ in range(repeat):
        run = setup()
        with measure() as usage:
            run()
        times.append(usage.seconds)
        peaks.append(usage.peak_mb)
    return min(times), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="only the cases whose name contains this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="storywire-bench-") as tmp:
        workdir = Path(tmp)
        groups: dict[str, list[tuple[str, Setup]]] = {
            "parse_feed": [(name, parse_setup(doc)) for name, doc in PARSER_CASES.items()],
            "refresh_feed": [(c.name, feed_setup(workdir, c)) for c in [PLAIN_FEED, *FEED_CASES]],
            "process_article": [
                (c.name + (" (reference)" if i == 0 else ""), page_setup(workdir, c))
                for i, c in enumerate(PAGE_CASES)  # the first is the ordinary page
            ],
        }
        for title, cases in groups.items():
            print(f"\n{title}: best of {args.repeat}; x = multiple of the reference's time")
            reference = 0.0
            cases[0][1]()()  # once untimed: imports, caches and first connections warmed
            for i, (name, setup) in enumerate(cases):
                if i and args.only not in name:
                    continue
                seconds, peak = best_of(setup, args.repeat)
                reference = reference or seconds
                ratio = seconds / reference
                print(f"  {name:<28} {seconds:>8.3f} s {ratio:>9.1f} x  {peak:>6.1f} MB")


if __name__ == "__main__":
    main()
