"""Turn what the server (or the network) did into one of the ``FetchError`` types.

Usage::

    error = error_for_status(url, 503, headers, body_head, max_retry_after_s=86_400)
    error = error_for_exception(url, exc)        # httpx/httpcore/socket/TLS exceptions
    parse_retry_after("120") / parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT")
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpcore
import httpx

from models import ErrorClass
from worker.fetch.decoding import DecodingError
from worker.fetch.errors import (
    AntiBotChallenge,
    FetchError,
    Gone,
    PermanentFetchError,
    TransientFetchError,
)

#: Statuses a challenge page comes with (Cloudflare uses 403 and 503, some WAFs 429).
CHALLENGE_STATUSES = frozenset({403, 429, 503})
#: How much of an error body is read to look for challenge markers.
DEFAULT_ERROR_BODY_BYTES = 64 * 1024
#: A 2xx body bigger than this is never taken for a challenge interstitial.
MAX_CHALLENGE_PAGE_BYTES = 32 * 1024

# Headers set by anti-bot services on their interstitials (name, value pattern).
_CHALLENGE_HEADERS = (
    ("cf-mitigated", re.compile(r"challenge", re.I)),
    ("x-amzn-waf-action", re.compile(r"challenge|captcha", re.I)),
)
# Strings that only appear on interstitial pages, never on a publisher's article. Exact,
# case-sensitive tokens: plain substring tests, cheap enough for every small 2xx page.
_STRONG_MARKERS = (
    b"cf_chl_opt",
    b"/cdn-cgi/challenge-platform/",
    b"sucuri_cloudproxy_js",
    b"_Incapsula_Resource",
    b"geo.captcha-delivery.com",
    b'id="px-captcha"',
    b"ddos-guard.net/",
)
# Weaker markers, trusted only together with an error status.
_WEAK_MARKERS = re.compile(
    rb"<title>\s*(?:just a moment\.\.\.|attention required! \| cloudflare"
    rb"|ddos-guard|checking your browser)"
    rb"|checking your browser before accessing|enable javascript and cookies to continue"
    rb"|incapsula incident id|request unsuccessful\. incapsula",
    re.I,
)


def is_challenge(status: int, headers: Mapping[str, str], body_head: bytes) -> bool:
    """True when the response is an anti-bot interstitial rather than the resource."""
    for name, pattern in _CHALLENGE_HEADERS:
        value = headers.get(name)
        if value and pattern.search(value):
            return True
    if status in CHALLENGE_STATUSES:
        return _has_strong_marker(body_head) or bool(_WEAK_MARKERS.search(body_head))
    if 200 <= status < 300 and len(body_head) <= MAX_CHALLENGE_PAGE_BYTES:
        return _has_strong_marker(body_head)
    return False


def _has_strong_marker(body: bytes) -> bool:
    return any(marker in body for marker in _STRONG_MARKERS)


def parse_retry_after(
    value: str | None, *, max_s: float, now: datetime | None = None
) -> float | None:
    """``Retry-After`` as seconds from now, clamped to ``[0, max_s]``; ``None`` if absent
    or unreadable. Accepts delta-seconds and an HTTP-date."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # HTTP-dates are GMT; "-0000" parses as naive
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), max_s)


def error_for_status(
    url: str,
    status: int,
    headers: Mapping[str, str],
    body_head: bytes,
    *,
    max_retry_after_s: float,
) -> FetchError | None:
    """The error a final (non-redirect) response stands for, or ``None`` if it is content."""
    if is_challenge(status, headers, body_head):
        return AntiBotChallenge(
            f"anti-bot challenge page (HTTP {status})", url=url, status_code=status
        )
    if 200 <= status < 300 or status == 304:
        return None
    if status == 410:
        return Gone("HTTP 410 Gone", url=url, status_code=status)
    if status in (408, 425, 429) or 500 <= status < 600:
        retry_after = parse_retry_after(headers.get("retry-after"), max_s=max_retry_after_s)
        return TransientFetchError(
            f"HTTP {status}", url=url, status_code=status, retry_after=retry_after
        )
    if 300 <= status < 400:
        return PermanentFetchError(
            f"HTTP {status} without a usable Location",
            url=url,
            status_code=status,
            error_class=ErrorClass.BAD_REDIRECT,
        )
    if 400 <= status < 500:
        return PermanentFetchError(f"HTTP {status}", url=url, status_code=status)
    return PermanentFetchError(
        f"unexpected HTTP status {status}",
        url=url,
        status_code=status,
        error_class=ErrorClass.BAD_STATUS,
    )


def error_for_exception(url: str, exc: BaseException) -> FetchError | None:
    """The ``FetchError`` for an exception raised while requesting or reading, or ``None``
    when it is not a network/protocol problem (a bug: let it propagate)."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException | httpcore.TimeoutException | TimeoutError):
        return TransientFetchError(f"timeout: {message}", url=url, error_class=ErrorClass.TIMEOUT)
    if isinstance(exc, DecodingError):
        return PermanentFetchError(message, url=url, error_class=ErrorClass.DECODE_ERROR)
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol | httpcore.UnsupportedProtocol):
        return PermanentFetchError(
            f"invalid URL: {message}", url=url, error_class=ErrorClass.BAD_URL
        )
    if _caused_by(exc, ssl.SSLCertVerificationError):
        # A certificate that does not verify will not start verifying in a minute.
        return PermanentFetchError(
            f"TLS certificate: {message}", url=url, error_class=ErrorClass.TLS
        )
    if _caused_by(exc, ssl.SSLError):
        return TransientFetchError(f"TLS: {message}", url=url, error_class=ErrorClass.TLS)
    if isinstance(exc, httpx.RemoteProtocolError | httpcore.RemoteProtocolError):
        if _INCOMPLETE.search(message):
            return TransientFetchError(message, url=url, error_class=ErrorClass.INCOMPLETE)
        return PermanentFetchError(
            f"malformed response: {message}", url=url, error_class=ErrorClass.PROTOCOL
        )
    if isinstance(exc, httpx.LocalProtocolError | httpcore.LocalProtocolError):
        return PermanentFetchError(message, url=url, error_class=ErrorClass.BAD_REQUEST)
    if isinstance(exc, httpx.ConnectError | httpcore.ConnectError) and _RESOLVE.search(message):
        return TransientFetchError(message, url=url, error_class=ErrorClass.DNS)
    if isinstance(
        exc,
        httpx.ConnectError
        | httpcore.ConnectError
        | httpx.TransportError
        | httpcore.NetworkError
        | OSError,
    ):
        return TransientFetchError(message, url=url, error_class=ErrorClass.CONNECT)
    return None


# httpcore/h11 wording for a peer that hung up early (as opposed to one that spoke garbage).
_INCOMPLETE = re.compile(r"disconnected|incomplete|peer closed|without sending", re.I)
_RESOLVE = re.compile(r"cannot resolve|has no address|name or service|nodename", re.I)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
