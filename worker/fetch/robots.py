"""robots.txt rules per origin, parsed with protego and cached for a while.

Usage::

    cache = RobotsCache()
    rules = cache.get("https://example.com")            # None: not cached (or expired)
    rules = RobotsRules.parse(body, ttl_s=3600)         # from a fetched robots.txt
    cache.put("https://example.com", rules)
    rules.allows("https://example.com/a", "Storywire")  # -> bool
    rules.crawl_delay("Storywire")                       # -> seconds or None

What the fetch of robots.txt means follows RFC 9309: a 2xx is parsed; a 4xx means "no
rules" (everything allowed); a 5xx, 429 or network failure means the rules are unknown, so
nothing may be fetched for now (``RobotsRules.unreachable``), cached for a short time only.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

#: How long fetched rules are trusted (RFC 9309 asks for no more than 24 hours).
DEFAULT_ROBOTS_TTL_S = 6 * 3600.0
#: How long an unreachable robots.txt blocks a host before it is asked again.
DEFAULT_ROBOTS_ERROR_TTL_S = 300.0
#: Parse at most this much of a robots.txt (RFC 9309: at least 500 KiB).
DEFAULT_ROBOTS_MAX_BYTES = 512 * 1024
#: Origins kept in the cache (least recently used dropped first).
DEFAULT_ROBOTS_CACHE_SIZE = 10_000
#: A Crawl-delay above this is treated as this (a site asking for an hour between requests
#: would otherwise hold a worker's slot forever; the limiter's max wait then applies).
MAX_CRAWL_DELAY_S = 60.0


@dataclass(frozen=True)
class RobotsRules:
    """Rules of one origin. ``parser`` None means everything is allowed."""

    parser: Protego | None
    expires_at: float
    unreachable: bool = False

    @classmethod
    def parse(cls, content: bytes, *, ttl_s: float = DEFAULT_ROBOTS_TTL_S) -> RobotsRules:
        text = content.decode("utf-8", errors="replace")
        return cls(Protego.parse(text), time.monotonic() + ttl_s)

    @classmethod
    def allow_all(cls, *, ttl_s: float = DEFAULT_ROBOTS_TTL_S) -> RobotsRules:
        return cls(None, time.monotonic() + ttl_s)

    @classmethod
    def unknown(cls, *, ttl_s: float = DEFAULT_ROBOTS_ERROR_TTL_S) -> RobotsRules:
        return cls(None, time.monotonic() + ttl_s, unreachable=True)

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.expires_at

    def allows(self, url: str, agent: str) -> bool:
        if self.unreachable:
            return False
        if self.parser is None:
            return True
        return bool(self.parser.can_fetch(url, agent))

    def crawl_delay(self, agent: str) -> float | None:
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(agent)
        if delay is None:
            rate = self.parser.request_rate(agent)
            if rate is not None and rate.requests:
                delay = rate.seconds / rate.requests
        if delay is None or delay <= 0:
            return None
        return min(float(delay), MAX_CRAWL_DELAY_S)


class RobotsCache:
    """Thread-safe LRU of :class:`RobotsRules` by origin (``scheme://host[:port]``)."""

    def __init__(self, max_entries: int = DEFAULT_ROBOTS_CACHE_SIZE) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, RobotsRules] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, origin: str) -> RobotsRules | None:
        with self._lock:
            rules = self._entries.get(origin)
            if rules is None:
                return None
            if rules.expired:
                del self._entries[origin]
                return None
            self._entries.move_to_end(origin)
            return rules

    def put(self, origin: str, rules: RobotsRules) -> None:
        with self._lock:
            self._entries[origin] = rules
            self._entries.move_to_end(origin)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: robots.txt applies per origin."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.rpartition('@')[2].lower()}"


def agent_token(user_agent: str) -> str:
    """The product token robots.txt groups match: ``"Storywire/0.1 (+url)"`` -> ``"Storywire"``."""
    token = user_agent.strip().split("/", 1)[0].split(None, 1)
    return token[0] if token else user_agent
