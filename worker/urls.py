"""URL canonicalization: one spelling per resource, so the same article is stored once.

Usage::

    from worker.urls import canonicalize, host_of

    canonicalize("HTTPS://Example.com:443/a/?utm_source=x&b=2&a=1#top")
    # -> "https://example.com/a/?a=1&b=2"
    host_of("https://News.Example.com:8443/x")   # -> "news.example.com"

The heavy lifting (tracking-parameter list, query sorting, default-port and path clean-up,
punycode) is courlan's ``normalize_url``; this module adds what a storage key needs on top:
http(s) only, a clear ``ValueError`` for anything unusable, no fragment, and ``/`` for an
empty path so ``http://a.example`` and ``http://a.example/`` are one key.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from courlan.clean import decode_punycode, normalize_url

#: Schemes a canonical URL may have: everything Storywire fetches is http(s).
ALLOWED_SCHEMES = frozenset({"http", "https"})
#: Longest URL accepted; anything longer is junk or an attack on the index, not an article.
DEFAULT_MAX_URL_CHARS = 4096
#: Longest canonical URL in UTF-8 bytes: it is a unique key, and a PostgreSQL b-tree entry
#: holds at most 2,704 bytes (percent-encoding can triple a URL's length on the way).
DEFAULT_MAX_KEY_BYTES = 2048

_DEFAULT_PORTS = {"http": 80, "https": 443}
# "scheme://user:password@" anywhere in a text (an error message, a log line).
_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s'\"<>]*@")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_TABS_NEWLINES = re.compile("[\t\n\r]")


def canonicalize(url: str) -> str:
    """The canonical form of ``url``, used as the natural key of an article.

    Lowercases scheme and host, drops the fragment, the default port and tracking
    parameters (``utm_*``, ``fbclid``, ``gclid``, ...), and sorts the query.
    Raises ``ValueError`` for a non-http(s) or unparseable URL, or one too long to be a key.
    """
    parts = _split_http_url(url)
    # The fragment never reaches the server: drop it before courlan, which would keep it.
    normalized = normalize_url(parts._replace(fragment=""), strict=False, trailing_slash=True)
    out = urlsplit(normalized)
    # The authority is rebuilt here rather than taken from courlan, which lowercases the
    # password too and keeps ":80" after an IPv6 literal.
    canonical = urlunsplit((out.scheme, _netloc(parts), out.path or "/", out.query, ""))
    if len(canonical.encode("utf-8", "surrogatepass")) > DEFAULT_MAX_KEY_BYTES:
        raise ValueError(f"URL longer than {DEFAULT_MAX_KEY_BYTES} bytes once canonical")
    return canonical


def host_of(url: str) -> str:
    """Lowercase hostname of ``url`` without port (punycode decoded), ``''`` if none.

    The same spelling ``canonicalize`` produces, so ``host_of(u) == host_of(canonicalize(u))``.
    """
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return ""
    if not host:
        return ""
    return decode_punycode(host.lower()).rstrip(".")


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without its ``user:password@``, and the username and password (decoded).

    Usage::

        split_credentials("https://me:p%40ss@news.example/feed")
        # ("https://news.example/feed", "me", "p@ss")
    """
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None, None
    username, colon, password = userinfo.partition(":")
    plain = urlunsplit(parts._replace(netloc=hostport))
    return plain, unquote(username) or None, unquote(password) if colon else None


def redact_credentials(text: str) -> str:
    """``text`` with the ``user:password@`` of every URL in it removed (for logs, errors)."""
    return _USERINFO_RE.sub(r"\1", text)


def _netloc(parts: SplitResult) -> str:
    host = host_of(urlunsplit(parts))
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and _DEFAULT_PORTS[parts.scheme] != port:
        host = f"{host}:{port}"
    userinfo, at, _ = parts.netloc.rpartition("@")
    return f"{userinfo}{at}{host}"


def _split_http_url(url: str) -> SplitResult:
    if not isinstance(url, str):
        raise ValueError(f"URL must be a string, not {type(url).__name__}")
    # As browsers do (WHATWG URL): trim spaces and control characters around the URL and
    # drop tabs and newlines inside it; feeds wrap links across lines.
    candidate = _TABS_NEWLINES.sub("", url.strip(_C0_AND_SPACE))
    if not candidate:
        raise ValueError("empty URL")
    if len(candidate) > DEFAULT_MAX_URL_CHARS:
        raise ValueError(f"URL longer than {DEFAULT_MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(candidate)
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError as exc:
        raise ValueError(f"unparseable URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if not parts.hostname:
        raise ValueError(f"URL has no host: {url!r}")
    if port == 0:
        raise ValueError(f"URL has port 0: {url!r}")
    return parts._replace(scheme=scheme)
