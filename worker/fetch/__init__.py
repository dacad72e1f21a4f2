"""Storywire's one HTTP layer: feeds, article pages and robots.txt are all fetched here.

Usage::

    from worker.fetch import Fetcher, FetchError, TransientFetchError, PermanentFetchError

    with Fetcher(settings) as fetcher:                       # one per process, reused
        response = fetcher.fetch(url, etag=etag, last_modified=last_modified)
        response.not_modified, response.content, response.permanent_redirect

Safe by default: only http(s); loopback/private/link-local/... destinations refused on the
address actually connected to; connect/read timeouts and a total deadline; a cap on the
decoded body; a redirect cap; TLS always verified; robots.txt on request; a per-host rate
shared through Redis (or a file in the data dir, in embedded mode). Every failure is a
``FetchError`` with a stable ``error_class``.
"""

from __future__ import annotations

from worker.fetch.client import ACCEPT_FEED, ACCEPT_HTML, Fetcher
from worker.fetch.errors import (
    AntiBotChallenge,
    BlockedDestination,
    FetchError,
    Gone,
    PermanentFetchError,
    ResponseTooLarge,
    RobotsDisallowed,
    TransientFetchError,
)
from worker.fetch.ratelimit import HostBusy, HostRateLimiter
from worker.fetch.response import FetchResponse

__all__ = [
    "ACCEPT_FEED",
    "ACCEPT_HTML",
    "AntiBotChallenge",
    "BlockedDestination",
    "FetchError",
    "FetchResponse",
    "Fetcher",
    "Gone",
    "HostBusy",
    "HostRateLimiter",
    "PermanentFetchError",
    "ResponseTooLarge",
    "RobotsDisallowed",
    "TransientFetchError",
]
