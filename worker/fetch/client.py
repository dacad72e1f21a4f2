"""The one HTTP client of Storywire: feeds, article pages and robots.txt all go through it.

Usage::

    with Fetcher(settings) as fetcher:
        response = fetcher.fetch(feed_url, etag=feed.etag, last_modified=feed.last_modified,
                                 accept=ACCEPT_FEED)
        if response.not_modified:
            ...
        page = fetcher.fetch(article_url, accept=ACCEPT_HTML, check_robots=True)

``fetch`` returns a 2xx or a 304 and raises a ``FetchError`` subclass for everything else
(see ``errors.py``). One request, hop by hop:

1. the URL must be http(s); each hop waits for the host's politeness slot
   (:class:`HostRateLimiter`, shared through Redis, else through a file in the data dir);
2. the connection goes to the address the name resolved to, checked against the
   destination policy (``transport.py``), TLS verified against the hostname;
3. redirects are followed here, not by httpx, so each hop goes through 1 and 2, loops and
   the cap are detected, and a chain made only of 301/308 is reported as
   ``permanent_redirect``;
4. the body is decoded piece by piece (``decoding.py``) and stops at
   ``max_response_bytes`` of *decoded* data; the total deadline covers every socket
   operation of every hop;
5. error statuses and anti-bot interstitials become exceptions (``classify.py``).

A Fetcher is thread-safe and holds a connection pool: make one per process (or per worker
thread pool) and reuse it.
"""

from __future__ import annotations

import http.cookiejar
import ssl
import time
from collections.abc import Iterator
from types import TracebackType

import httpx

from models import ErrorClass
from worker import metrics
from worker.config import Settings
from worker.fetch.classify import DEFAULT_ERROR_BODY_BYTES, error_for_exception, error_for_status
from worker.fetch.decoding import ACCEPT_ENCODING, decode_stream, parse_content_encoding
from worker.fetch.errors import (
    BlockedDestination,
    FetchError,
    PermanentFetchError,
    ResponseTooLarge,
    RobotsDisallowed,
    TransientFetchError,
)
from worker.fetch.ratelimit import HostBusy, HostRateLimiter
from worker.fetch.response import FetchResponse
from worker.fetch.robots import (
    DEFAULT_ROBOTS_MAX_BYTES,
    RobotsCache,
    RobotsRules,
    agent_token,
    origin_of,
)
from worker.fetch.transport import Deadline, DestinationRefused, GuardedTransport, deadline
from worker.urls import host_of

#: Accept header for feed requests.
ACCEPT_FEED = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
#: Accept header for article pages.
ACCEPT_HTML = "text/html, application/xhtml+xml;q=0.9, */*;q=0.8"
#: Accept header when the caller gives none.
DEFAULT_ACCEPT = "*/*"
#: Upper bound on a ``Retry-After`` we report (seconds), unless settings say less.
DEFAULT_MAX_RETRY_AFTER_S = 86_400.0

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_PERMANENT_REDIRECTS = frozenset({301, 308})
_ALLOWED_SCHEMES = frozenset({"http", "https"})


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    # A fetcher shared by every feed must not carry one site's cookies into the next
    # request, nor build a tracking profile: accept none.
    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False


class Fetcher:
    """Safe HTTP GET with limits, politeness and robots.txt; see the module docstring.

    ``rate_limiter``: share one :class:`HostRateLimiter` between Fetchers (default: one
    built from ``settings``: shared through Redis when ``settings.redis_url`` is set, else
    through a file in ``settings.data_dir`` by the processes of this machine).
    ``ssl_context``: a verifying context with extra trust roots (intranet CA, tests); a
    context that does not verify certificates and hostnames is refused.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        rate_limiter: HostRateLimiter | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._settings = settings
        self._owns_limiter = rate_limiter is None
        self._limiter = rate_limiter or HostRateLimiter.from_settings(settings)
        self._robots = RobotsCache()
        self._agent = agent_token(settings.user_agent)
        self._robots_ttl_s = settings.robots_ttl_s
        self._max_retry_after = float(min(settings.max_backoff_s, DEFAULT_MAX_RETRY_AFTER_S))
        if ssl_context is None:
            ssl_context = httpx.create_ssl_context(trust_env=False)
        if ssl_context.verify_mode != ssl.CERT_REQUIRED or not ssl_context.check_hostname:
            raise ValueError("TLS verification cannot be turned off (certificate and hostname)")
        self._client = httpx.Client(
            transport=GuardedTransport(
                ssl_context=ssl_context,
                allow_private_networks=settings.allow_private_networks,
                proxy=settings.http_proxy,
            ),
            timeout=httpx.Timeout(
                connect=settings.connect_timeout_s,
                read=settings.read_timeout_s,
                write=settings.read_timeout_s,
                pool=settings.connect_timeout_s,
            ),
            headers={"User-Agent": settings.user_agent_header, "Accept-Encoding": ACCEPT_ENCODING},
            cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
            follow_redirects=False,
            trust_env=False,
        )

    # --- public --------------------------------------------------------------------------

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
        check_robots: bool = False,
        auth: tuple[str, str] | None = None,
    ) -> FetchResponse:
        """GET ``url``: a 2xx or 304 :class:`FetchResponse`, else a ``FetchError``.

        ``etag`` / ``last_modified`` make it a conditional GET (a 304 has no body).
        ``check_robots`` (article pages): refuse with ``RobotsDisallowed`` what the site's
        robots.txt disallows for our User-Agent, on the first URL and on every redirect hop.
        ``auth``: HTTP Basic ``(username, password)``, sent to ``url``'s origin only (not to
        a redirect elsewhere, as curl and browsers do); never part of a URL, so never in a
        log line or an error message.
        """
        headers = {"Accept": accept or DEFAULT_ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        robots = check_robots and self._settings.obey_robots
        return self._get(
            url,
            headers,
            cap=self._settings.max_response_bytes,
            robots=robots,
            truncate=False,
            auth=auth,
        )

    def close(self) -> None:
        self._client.close()
        if self._owns_limiter:
            self._limiter.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- one request, hop by hop ---------------------------------------------------------

    def _get(
        self,
        url: str,
        headers: dict[str, str],
        *,
        cap: int,
        robots: bool,
        truncate: bool,
        auth: tuple[str, str] | None = None,
    ) -> FetchResponse:
        current = _check_url(url, url)
        auth_origin = origin_of(current)
        seen = {current}
        chain: list[str] = []
        only_permanent = True
        started = time.monotonic()
        waited = 0.0
        with deadline(self._settings.total_timeout_s) as budget:
            for _hop in range(self._settings.max_redirects + 1):
                if robots:
                    # robots.txt is fetched under its own deadline; ours is extended by it.
                    waited += self._check_robots(current, budget)
                waited += self._wait_turn(current, budget)
                same_origin = auth is not None and origin_of(current) == auth_origin
                response = self._send(current, headers, auth if same_origin else None)
                try:
                    location = _redirect_target(response)
                    if location is None:
                        content = self._final_body(current, response, cap=cap, truncate=truncate)
                        return FetchResponse(
                            url=current,
                            requested_url=url,
                            status_code=response.status_code,
                            headers=response.headers,
                            content=content,
                            elapsed_ms=round((time.monotonic() - started - waited) * 1000),
                            permanent_redirect=current if chain and only_permanent else None,
                            redirects=tuple(chain),
                        )
                finally:
                    response.close()
                target = _check_url(location, current)
                if target in seen:
                    raise PermanentFetchError(
                        f"redirect loop: {current} -> {target}",
                        url=current,
                        status_code=response.status_code,
                        error_class=ErrorClass.REDIRECT_LOOP,
                    )
                only_permanent = only_permanent and response.status_code in _PERMANENT_REDIRECTS
                chain.append(target)
                seen.add(target)
                current = target
        raise PermanentFetchError(
            f"more than {self._settings.max_redirects} redirects",
            url=current,
            error_class=ErrorClass.TOO_MANY_REDIRECTS,
        )

    def _send(
        self, url: str, headers: dict[str, str], auth: tuple[str, str] | None = None
    ) -> httpx.Response:
        try:
            request = self._client.build_request("GET", url, headers=headers)
            if auth is not None:
                return self._client.send(request, stream=True, auth=httpx.BasicAuth(*auth))
            return self._client.send(request, stream=True)
        except DestinationRefused as exc:
            raise BlockedDestination(str(exc), url=url) from None
        except Exception as exc:
            raise _as_fetch_error(url, exc) from exc

    def _final_body(self, url: str, response: httpx.Response, *, cap: int, truncate: bool) -> bytes:
        status = response.status_code
        if 200 <= status < 300 or status == 304:
            body = b"" if status == 304 else self._read(url, response, cap, truncate=truncate)
            error = error_for_status(
                url, status, response.headers, body, max_retry_after_s=self._max_retry_after
            )
            if error is None:
                return body
            raise error
        # An error status: read a little of the body, only to recognise challenge pages.
        try:
            head = self._read(url, response, DEFAULT_ERROR_BODY_BYTES, truncate=True)
        except FetchError:
            head = b""
        error = error_for_status(
            url, status, response.headers, head, max_retry_after_s=self._max_retry_after
        )
        assert error is not None
        raise error

    def _read(self, url: str, response: httpx.Response, cap: int, *, truncate: bool) -> bytes:
        codings = parse_content_encoding(response.headers.get("content-encoding"))
        declared = response.headers.get("content-length", "").strip()
        if not truncate and not codings and declared.isdigit() and int(declared) > cap:
            raise ResponseTooLarge(
                f"Content-Length {declared} is above the {cap}-byte cap",
                url=url,
                status_code=response.status_code,
            )
        body = bytearray()
        try:
            for piece in decode_stream(_capped_raw(response, cap, url, truncate=truncate), codings):
                room = cap - len(body)
                if len(piece) > room:
                    if truncate:
                        body += piece[:room]
                        break
                    raise ResponseTooLarge(
                        f"body above the {cap}-byte cap (decoded)",
                        url=url,
                        status_code=response.status_code,
                    )
                body += piece
        except FetchError:
            raise
        except Exception as exc:
            raise _as_fetch_error(url, exc) from exc
        return bytes(body)

    # --- politeness ----------------------------------------------------------------------

    def _wait_turn(self, url: str, budget: Deadline, *, robots_delay: bool = True) -> float:
        host = host_of(url)
        rules = self._robots.get(origin_of(url)) if robots_delay else None
        delay = rules.crawl_delay(self._agent) if rules is not None else None
        try:
            waited = self._limiter.acquire(host, min_interval_s=delay)
        except HostBusy as exc:
            metrics.count_rate_deferral()
            raise TransientFetchError(
                str(exc), url=url, error_class=ErrorClass.RATE_LIMITED, retry_after=exc.wait_s
            ) from None
        budget.extend(waited)  # waiting our turn is not the server being slow
        if waited > 0:
            metrics.observe_rate_wait(waited)
        return waited

    def _check_robots(self, url: str, budget: Deadline) -> float:
        origin = origin_of(url)
        started = time.monotonic()
        rules = self._robots.get(origin)
        if rules is None:
            rules = self._load_robots(origin)
            self._robots.put(origin, rules)
        spent = time.monotonic() - started
        budget.extend(spent)
        if rules.unreachable:
            raise TransientFetchError(
                f"robots.txt of {origin} unreachable: not fetching for now",
                url=url,
                error_class=ErrorClass.ROBOTS_UNAVAILABLE,
                retry_after=max(0.0, rules.expires_at - time.monotonic()),
            )
        if not rules.allows(url, self._agent):
            raise RobotsDisallowed(f"disallowed by {origin}/robots.txt", url=url)
        return spent

    def _load_robots(self, origin: str) -> RobotsRules:
        try:
            response = self._get(
                origin + "/robots.txt",
                {"Accept": "text/plain, */*;q=0.5"},
                cap=DEFAULT_ROBOTS_MAX_BYTES,
                robots=False,
                truncate=True,
            )
        except TransientFetchError as exc:
            if exc.status_code is None:
                # The host did not answer at all: say so with the network error itself, so
                # the caller can tell a dead host (or our own outage) from a robots problem.
                raise
            return RobotsRules.unknown()  # 5xx, 429: rules unknown, fetch nothing for now
        except PermanentFetchError:
            return RobotsRules.allow_all(ttl_s=self._robots_ttl_s)  # 4xx: there are no rules
        return RobotsRules.parse(response.content, ttl_s=self._robots_ttl_s)


def _check_url(url: str, referrer: str) -> str:
    """``url`` as an absolute http(s) URL string, or a PermanentFetchError."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise PermanentFetchError(
            f"invalid URL {url!r}: {exc}", url=referrer, error_class=ErrorClass.BAD_URL
        ) from None
    if parsed.scheme not in _ALLOWED_SCHEMES:
        raise PermanentFetchError(
            f"only http and https are fetched, not {url!r}",
            url=referrer,
            error_class=ErrorClass.BAD_SCHEME,
        )
    if not parsed.host:
        raise PermanentFetchError(
            f"URL without host: {url!r}", url=referrer, error_class=ErrorClass.BAD_URL
        )
    return str(parsed.copy_with(fragment=None))


def _redirect_target(response: httpx.Response) -> str | None:
    if response.status_code not in _REDIRECT_STATUSES:
        return None
    location = response.headers.get("location", "").strip()
    if not location:
        return None  # classified as bad_redirect with the other statuses
    try:
        return str(response.url.join(location))
    except (httpx.InvalidURL, ValueError) as exc:
        raise PermanentFetchError(
            f"invalid redirect Location {location!r}: {exc}",
            url=str(response.url),
            status_code=response.status_code,
            error_class=ErrorClass.BAD_REDIRECT,
        ) from None


def _capped_raw(response: httpx.Response, cap: int, url: str, *, truncate: bool) -> Iterator[bytes]:
    # Compressed bytes are capped too: a body whose *compressed* size is above the cap is
    # useless even if it would decode to little (an endless stream of empty gzip members).
    received = 0
    for chunk in response.iter_raw():
        room = cap - received
        received += len(chunk)
        if received > cap:
            if truncate:
                yield chunk[:room]
                return
            raise ResponseTooLarge(
                f"body above the {cap}-byte cap (raw)", url=url, status_code=response.status_code
            )
        yield chunk


def _as_fetch_error(url: str, exc: Exception) -> FetchError:
    error = error_for_exception(url, exc)
    if error is None:
        raise exc
    return error
