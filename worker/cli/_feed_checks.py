"""What ``storywire feeds add`` checks before it registers anything.

Usage::

    problems = [p for url in urls if (p := syntax_or_destination_problem(url, settings))]
    plan = resolve_feed(fetcher, url, add_all=False)   # discovery: which feeds to add

A URL is refused up front, with the reason and the fix, when it is not http(s), or when every
address its host resolves to is one the fetcher would refuse (loopback, private, link-local,
...): the worker would otherwise accept it and back off silently for hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpcore

from worker.config import Settings
from worker.feeds.discover import NoFeedFound, discover
from worker.fetch import Fetcher, FetchError
from worker.fetch.transport import DestinationRefused, allowed_addresses
from worker.urls import canonicalize

#: HTTP statuses that mean the URL is wrong, not that its server has a bad moment.
_WRONG_URL_STATUSES = frozenset({404, 410})


def syntax_or_destination_problem(url: str, settings: Settings) -> str | None:
    """Why ``url`` cannot be registered, or None. (A name that does not resolve is not a
    problem here: DNS may be down for a moment; polling records what happens.)"""
    try:
        canonical = canonicalize(url)
    except ValueError as exc:
        return f"{url}: {exc}"
    if settings.allow_private_networks:
        return None
    parts = urlsplit(canonical)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        allowed_addresses(parts.hostname or "", port, allow_private_networks=False)
    except DestinationRefused as exc:
        return (
            f"{url}: {exc.host} is {exc.address}, a {exc.reason.replace('_', '-')} address: "
            "refused (set STORYWIRE_ALLOW_PRIVATE_NETWORKS=1 to poll private and loopback "
            "addresses)"
        )
    except (httpcore.ConnectError, OSError, UnicodeError):
        return None
    return None


@dataclass
class FeedPlan:
    """What to register for one URL given on the command line."""

    given: str
    feeds: list[tuple[str, str | None]] = field(default_factory=list)  # (url, title)
    skipped: list[str] = field(default_factory=list)  # found, not added (no --all)
    note: str | None = None  # a warning: added unchecked
    problem: str | None = None  # an error: nothing to add


def resolve_feed(fetcher: Fetcher, url: str, *, add_all: bool) -> FeedPlan:
    """Fetch ``url``: a feed is added as it is; a page's feeds are found (the first, or all
    of them with ``add_all``). A URL that cannot be checked now is added as given."""
    plan = FeedPlan(url)
    try:
        found = discover(fetcher, url, probe_all=add_all)
    except NoFeedFound as exc:
        plan.problem = f"{url}: no feed found ({exc}); add it anyway with --no-check"
        return plan
    except FetchError as exc:
        if exc.status_code in _WRONG_URL_STATUSES:
            plan.problem = f"{url}: HTTP {exc.status_code}; add it anyway with --no-check"
        else:
            plan.feeds = [(url, None)]
            plan.note = f"{url}: not checked now ({exc.error_class}: {exc}); added as given"
        return plan
    chosen = found.feeds if add_all else found.feeds[:1]
    plan.feeds = [(f.url, f.title) for f in chosen]
    plan.skipped = [f.url for f in found.feeds[len(chosen) :]]
    return plan
