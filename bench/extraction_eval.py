"""Score ``extract_page`` on the shared extraction corpora, next to plain trafilatura/htmldate.

Usage::

    .venv/bin/python bench/extraction_eval.py [--limit N] [--data DIR] [--skip-dates] [--rules]

Reads ``../shared/data/extraction`` (or ``$STORYWIRE_SHARED_DATA/extraction``) in place and
prints, for the trafilatura evaluation set: share of ``with`` snippets found, share of
``without`` snippets absent, precision/recall/accuracy/F1 over all snippets (the upstream
scoring), title and author accuracy, date accuracy, and speed (pages/s, ms/page) -- for
Storywire's extract_page and, measured in the same run on the same bytes, for plain
``trafilatura.extract`` with default settings. ``--rules`` adds what each boilerplate rule
changes (``without`` snippets it removes, ``with`` snippets it wrongly removes). For the
htmldate sets it prints the accuracy of our ``published_at`` -- exact day in the page's own
offset (the gold is the publisher's day), in UTC, and within one day -- per subset, per half
of a fixed URL-hash split (rules were tuned on ``tune`` only) and per date source, next to
plain ``htmldate.find_date`` in fast and extensive mode.
When the data folder is absent it says so and exits 0.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import lxml.html
import trafilatura
from _common import shared_data  # also puts the repository first on sys.path
from htmldate import find_date

import worker.extract.page as page_module
from worker.extract import ExtractionError, extract_page, warm_up
from worker.extract.boilerplate import _PATTERNS
from worker.logs import quiet_libraries

_SPACE_RE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACE_RE.sub(" ", text).strip()


def _read_gz(path: Path) -> bytes:
    with gzip.open(path) as fh:
        return fh.read()


@dataclass
class Segments:
    tp: int = 0
    fn: int = 0
    tn: int = 0
    fp: int = 0

    def add(self, text: str | None, with_: Iterable[str], without: Iterable[str]) -> None:
        body = _norm(text or "")
        for seg in with_:
            if _norm(seg) in body:
                self.tp += 1
            else:
                self.fn += 1
        for seg in without:
            if _norm(seg) in body:
                self.fp += 1
            else:
                self.tn += 1

    def line(self) -> str:
        p = self.tp / max(1, self.tp + self.fp)
        r = self.tp / max(1, self.tp + self.fn)
        acc = (self.tp + self.tn) / max(1, self.tp + self.tn + self.fp + self.fn)
        f1 = 2 * p * r / max(1e-9, p + r)
        with_found = self.tp / max(1, self.tp + self.fn)
        without_absent = self.tn / max(1, self.tn + self.fp)
        return (
            f"with found {with_found:.3f}  without absent {without_absent:.3f}  "
            f"P {p:.3f} R {r:.3f} Acc {acc:.3f} F1 {f1:.3f}"
        )


@dataclass
class Meta:
    titles: list[bool] = field(default_factory=list)
    authors_exact: list[bool] = field(default_factory=list)
    authors_names: list[bool] = field(default_factory=list)
    dates: list[bool] = field(default_factory=list)
    dates_near: list[bool] = field(default_factory=list)


def _gold_author(value: Any) -> str | None:
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _name_set(value: str) -> set[str]:
    parts = re.split(r"\s*(?:;|,|\band\b|&|\bund\b)\s*", value)
    return {_norm(p).casefold() for p in parts if _norm(p)}


def _score_meta(
    meta: Meta, gold: dict[str, Any], title: str | None, authors: list[str], day: date | None
) -> None:
    if gold.get("title"):
        meta.titles.append(_norm(title or "") == _norm(gold["title"]))
    author = _gold_author(gold.get("author"))
    if author:
        joined = "; ".join(authors)
        meta.authors_exact.append(joined == author)
        meta.authors_names.append(bool(authors) and _name_set(joined) == _name_set(author))
    if gold.get("date"):
        meta.dates.append(day is not None and day.isoformat() == gold["date"])
        try:
            gold_day: date | None = date.fromisoformat(gold["date"])
        except ValueError:  # a few gold dates are malformed ("2022-01.26")
            gold_day = None
        meta.dates_near.append(
            day is not None and gold_day is not None and abs(day - gold_day) <= timedelta(days=1)
        )


def _share(values: list[bool]) -> str:
    return f"{sum(values) / max(1, len(values)):.3f} (n={len(values)})"


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    try:
        out = fn()
    except ExtractionError:
        out = None
    return out, time.perf_counter() - t0


def _trafilatura_eval(root: Path, limit: int, show_rules: bool) -> None:
    folder = root / "trafilatura-eval"
    gold_all: dict[str, dict[str, Any]] = json.loads(
        (folder / "evaldata.json").read_text(encoding="utf-8")
    )
    items = list(gold_all.items())[: limit or None]

    # Record the paragraphs before the boilerplate filter, to score the filter itself.
    seen: list[list[str]] = []
    original_filter = page_module.drop_boilerplate

    def recording_filter(paragraphs: Iterable[str]) -> list[str]:
        kept = list(paragraphs)
        seen.append(kept)
        return original_filter(kept)

    page_module.drop_boilerplate = recording_filter  # type: ignore[assignment]

    ours, unfiltered, reference = Segments(), Segments(), Segments()
    ours_meta, ref_meta = Meta(), Meta()
    rule_gain: collections.Counter[int] = collections.Counter()
    rule_loss: collections.Counter[int] = collections.Counter()
    t_ours = t_ref = t_ref_meta = 0.0
    errors: collections.Counter[str] = collections.Counter()
    date_sources: dict[str, list[bool]] = collections.defaultdict(list)
    halves: dict[str, Meta] = collections.defaultdict(Meta)
    compiled = [re.compile(p, re.I) for p in _PATTERNS]
    for url, gold in items:
        html = _read_gz(folder / "html" / (gold["file"] + ".gz"))
        with_, without = gold.get("with") or [], gold.get("without") or []
        seen.clear()
        error_dates = None
        try:
            t0 = time.perf_counter()
            page = extract_page(html, url=url)
            t_ours += time.perf_counter() - t0
        except ExtractionError as err:
            t_ours += time.perf_counter() - t0
            errors[err.error_class] += 1
            page, error_dates = None, err.dates
        text = page.text if page else None
        ours.add(text, with_, without)
        raw_paragraphs = seen[0] if seen else []
        unfiltered.add("\n".join(raw_paragraphs) if seen else text, with_, without)
        if show_rules and raw_paragraphs:
            for paragraph in raw_paragraphs:
                hits = [i for i, rx in enumerate(compiled) if len(paragraph) <= 200
                        and rx.search(paragraph)]  # fmt: skip
                if not hits:
                    continue
                norm_p = _norm(paragraph)
                rule_gain[hits[0]] += sum(1 for s in without if _norm(s) and _norm(s) in norm_p)
                rule_loss[hits[0]] += sum(1 for s in with_ if _norm(s) and _norm(s) in norm_p)
        dated = page or error_dates
        published = dated.published_at if dated else None
        for meta in (ours_meta, halves[_tuning_half(url)]):
            _score_meta(
                meta,
                gold,
                page.title if page else None,
                page.authors if page else [],
                published.date() if published else None,
            )
        if gold.get("date"):
            source = _source_label(dated, page is None)
            date_sources[source].append(
                published is not None and published.date().isoformat() == gold["date"]
            )

        t0 = time.perf_counter()
        ref_text = trafilatura.extract(html, url=url)
        t_ref += time.perf_counter() - t0
        reference.add(ref_text, with_, without)
        t0 = time.perf_counter()
        # the same mode as extract_page (precision), the ceiling bench/pipeline.py uses
        ref = trafilatura.bare_extraction(html, url=url, with_metadata=True, favor_precision=True)
        t_ref_meta += time.perf_counter() - t0
        ref_authors = [a.strip() for a in (ref.author or "").split(";") if a.strip()] if ref else []
        ref_day = date.fromisoformat(ref.date) if ref is not None and ref.date else None
        _score_meta(ref_meta, gold, ref.title if ref else None, ref_authors, ref_day)
    page_module.drop_boilerplate = original_filter  # type: ignore[assignment]

    n = len(items)
    print(f"\n== trafilatura-eval: {n} pages ==")
    print(f"storywire extract_page        {ours.line()}")
    print(f"  same, boilerplate filter off {unfiltered.line()}")
    print(f"trafilatura.extract (ref)     {reference.line()}")
    print(f"extraction errors: {dict(errors) or 'none'}")
    for label, meta in (("storywire", ours_meta), ("trafilatura", ref_meta)):
        print(
            f"{label:12s} title exact {_share(meta.titles)}"
            f"  authors exact {_share(meta.authors_exact)}"
            f"  authors same names {_share(meta.authors_names)}  date {_share(meta.dates)}"
            f" (within 1 day {_share(meta.dates_near)})"
        )
    print(
        f"speed: storywire {n / max(t_ours, 1e-9):.1f} pages/s"
        f" ({1000 * t_ours / max(1, n):.1f} ms/page)"
        f"  trafilatura.extract {n / max(t_ref, 1e-9):.1f} pages/s"
        f" ({1000 * t_ref / max(1, n):.1f} ms/page)"
        f"  trafilatura with metadata {n / max(t_ref_meta, 1e-9):.1f} pages/s"
        f" ({1000 * t_ref_meta / max(1, n):.1f} ms/page)"
    )
    print(f"extract_page / trafilatura with metadata: {t_ours / max(t_ref_meta, 1e-9):.2f}")
    for half in ("tune", "held-out"):
        print(
            f"storywire {half} half (SHA-1 of the URL, as the dates'):"
            f" title exact {_share(halves[half].titles)}"
            f"  authors exact {_share(halves[half].authors_exact)}"
            f"  authors same names {_share(halves[half].authors_names)}"
        )
    print("storywire dates by published_source (exact day, pages with a gold date):")
    _print_sources({source: {"all": hits} for source, hits in date_sources.items()}, ("all",))
    if show_rules:
        print("boilerplate rules: without-snippets removed / with-snippets lost")
        for i, pattern in enumerate(_PATTERNS):
            print(f"  {rule_gain[i]:4d} / {rule_loss[i]:3d}  {pattern[:90]}")


def _tuning_half(url: str) -> str:
    """``tune`` or ``held-out``: a fixed split by URL hash, so rules are tuned on one half and
    the other tells whether they hold on pages never looked at."""
    return "tune" if hashlib.sha1(url.encode()).digest()[-1] % 2 == 0 else "held-out"


@dataclass
class DateScores:
    exact: list[bool] = field(default_factory=list)  # day in the page's own offset
    exact_utc: list[bool] = field(default_factory=list)  # day of the UTC value
    near: list[bool] = field(default_factory=list)  # within one day

    def add(self, got: datetime | None, want: date) -> None:
        self.exact.append(got is not None and got.date() == want)
        self.exact_utc.append(got is not None and got.astimezone(UTC).date() == want)
        self.near.append(got is not None and abs(got.date() - want) <= timedelta(days=1))

    def line(self) -> str:
        utc = sum(self.exact_utc) / max(1, len(self.exact_utc))
        near = sum(self.near) / max(1, len(self.near))
        return f"exact day {_share(self.exact)}  (UTC day {utc:.3f}, within 1 day {near:.3f})"


def _htmldate_eval(root: Path, limit: int) -> None:
    """Publication dates on the htmldate sets: ours per subset, half and source, and plain
    htmldate (extensive and fast; with its default ``original_date=False`` and with True)."""
    folder = root / "htmldate"
    ours: dict[str, DateScores] = collections.defaultdict(DateScores)
    by_source: dict[str, dict[str, list[bool]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    refs: dict[str, dict[str, list[bool]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    t_ours = t_ref = t_traf = 0.0
    n = 0
    for name in ("eval_default.json", "eval_mediacloud_2020.json"):
        subset = name.removeprefix("eval_").removesuffix(".json")
        gold_all: dict[str, dict[str, str]] = json.loads((folder / name).read_text("utf-8"))
        for url, gold in list(gold_all.items())[: limit or None]:
            path = next(
                (p for p in (folder / "html").glob(f"*/{gold['file']}.gz") if p.is_file()), None
            )
            if path is None or not isinstance(gold.get("date"), str):
                continue
            n += 1
            html = _read_gz(path)
            want = date.fromisoformat(gold["date"])
            t0 = time.perf_counter()
            try:
                page = extract_page(html, url=url)
                got, source = page.published_at, _source_label(page, False)
            except ExtractionError as err:
                # A page without main text is still dated (the pipeline keeps these dates).
                got = err.dates.published_at if err.dates else None
                source = _source_label(err.dates, True)
            t_ours += time.perf_counter() - t0
            t0 = time.perf_counter()
            trafilatura.bare_extraction(html, url=url, with_metadata=True, favor_precision=True)
            t_traf += time.perf_counter() - t0
            for key in (subset, _tuning_half(url), "all"):
                ours[key].add(got, want)
            for key in (_tuning_half(url), "all"):
                by_source[source][key].append(got is not None and got.date() == want)
            for mode, kwargs in _HTMLDATE_MODES.items():
                t0 = time.perf_counter()
                found = find_date(lxml.html.fromstring(html), url=url, **kwargs)
                t_ref += time.perf_counter() - t0
                for key in (subset, "all"):
                    refs[mode][key].append(found == gold["date"])
    print(f"\n== htmldate sets: {n} pages (gold: the publisher's day) ==")
    for key in ("default", "mediacloud_2020", "tune", "held-out", "all"):
        print(f"storywire {key:16s} n={len(ours[key].exact):4d}  {ours[key].line()}")
    ratio = t_ours / max(t_traf, 1e-9)
    print(
        f"  speed: extract_page {1000 * t_ours / max(1, n):.1f} ms/page, trafilatura with"
        f" metadata {1000 * t_traf / max(1, n):.1f} ms/page (ratio {ratio:.2f});"
        f" plain htmldate {1000 * t_ref / max(1, n * len(_HTMLDATE_MODES)):.1f} ms/page"
    )
    for mode in _HTMLDATE_MODES:
        print(
            f"htmldate {mode:26s}"
            + "  ".join(
                f"{key} {_share(refs[mode][key])}" for key in ("default", "mediacloud_2020", "all")
            )
        )
    print("storywire by published_source (exact day):")
    _print_sources(by_source, ("all", "tune", "held-out"))


def _source_label(dated: Any, no_text: bool) -> str:
    """``published_source`` of a page (``none`` when undated), ``+no_text`` for a page without
    main text (its dates come with the error)."""
    source = (dated.published_source if dated is not None else None) or "none"
    return f"{source}+no_text" if no_text else source


def _print_sources(by_source: dict[str, dict[str, list[bool]]], keys: tuple[str, ...]) -> None:
    print(f"  {'source':16s}" + "".join(f"{key:>22s}" for key in keys))
    for source, hits in sorted(by_source.items(), key=lambda kv: -len(kv[1]["all"])):
        cells = (hits.get(key, []) for key in keys)
        print(
            f"  {source:16s}"
            + "".join(f"{sum(h) / max(1, len(h)):>15.3f} n={len(h):4d}" for h in cells)
        )


_HTMLDATE_MODES: dict[str, dict[str, bool]] = {
    "extensive": {"extensive_search": True},
    "fast": {"extensive_search": False},
    "extensive original_date": {"extensive_search": True, "original_date": True},
    "fast original_date": {"extensive_search": False, "original_date": True},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="folder holding extraction/")
    ap.add_argument("--limit", type=int, default=0, help="pages per set (0: all)")
    ap.add_argument("--skip-dates", action="store_true", help="skip the htmldate sets")
    ap.add_argument("--skip-text", action="store_true", help="skip the trafilatura set")
    ap.add_argument("--rules", action="store_true", help="per-rule boilerplate figures")
    ap.add_argument(
        "--balanced", action="store_true", help="run trafilatura in balanced, not precision, mode"
    )
    ap.add_argument(
        "--cold", action="store_true", help="no warm_up() first (the worker warms at start-up)"
    )
    args = ap.parse_args()
    quiet_libraries()
    if not args.cold:
        t0 = time.perf_counter()
        warm_up()
        print(f"warm_up() (once per worker, before the fork): {time.perf_counter() - t0:.1f} s")
    if args.balanced:
        page_module.DEFAULT_FAVOR_PRECISION = False
    data = args.data or shared_data()
    root = data / "extraction" if data is not None else None
    if root is None or not root.is_dir():
        where = f"at {root}" if root is not None else "(no shared data)"
        print(f"no extraction corpus {where}: nothing to measure (STORYWIRE_SHARED_DATA, --data)")
        return 0
    if not args.skip_text and (root / "trafilatura-eval").is_dir():
        _trafilatura_eval(root, args.limit, args.rules)
    if not args.skip_dates and (root / "htmldate").is_dir():
        _htmldate_eval(root, args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
