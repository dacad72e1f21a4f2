"""What can go wrong with a fetch, as a small exception tree the pipeline maps to actions.

Usage::

    try:
        response = fetcher.fetch(url)
    except TransientFetchError as exc:   # try again later (exc.retry_after seconds, if known)
        ...
    except PermanentFetchError as exc:   # this URL will not work as is: record exc.error_class
        ...

Every error carries ``url`` (the URL that failed, possibly a redirect hop), ``status_code``
(``None`` when no HTTP response was received) and ``error_class``: a short stable name meant
for feed rows, fetch logs and metrics (``timeout``, ``http_404``, ``too_large``, ...).
"""

from __future__ import annotations

from typing import Any, ClassVar

from models import ErrorClass


class FetchError(Exception):
    """Base class: the fetch did not produce a usable 2xx or 304 response."""

    #: ``error_class`` of this exception type when the raiser gives none.
    default_error_class: ClassVar[str] = ErrorClass.ERROR

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status_code: int | None = None,
        error_class: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.status_code = status_code
        self._error_class = error_class

    @property
    def error_class(self) -> str:
        """Short stable name of what happened (``timeout``, ``http_404``, ``robots``, ...)."""
        if self._error_class:
            return self._error_class
        if self.status_code is not None and self.default_error_class == ErrorClass.ERROR:
            return ErrorClass.http(self.status_code)
        return self.default_error_class

    def _init_kwargs(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status_code": self.status_code,
            "error_class": self._error_class,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructor arguments are lost by the default Exception pickling;
        # Celery pickles exceptions (retries, failure reports), so round-trip them.
        return (_rebuild, (type(self), self.message, self._init_kwargs()))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, url={self.url!r}, "
            f"status_code={self.status_code!r}, error_class={self.error_class!r})"
        )


def _rebuild(cls: type[FetchError], message: str, kwargs: dict[str, Any]) -> FetchError:
    return cls(message, **kwargs)


class TransientFetchError(FetchError):
    """Worth retrying later: timeouts, connection errors, 5xx, 429, 408.

    ``retry_after`` is the server's ``Retry-After`` in seconds (clamped), or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status_code: int | None = None,
        error_class: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, url=url, status_code=status_code, error_class=error_class)
        self.retry_after = retry_after

    def _init_kwargs(self) -> dict[str, Any]:
        return {**super()._init_kwargs(), "retry_after": self.retry_after}


class PermanentFetchError(FetchError):
    """Retrying the same request soon will not help: 4xx (not 408/429), bad scheme or URL,
    redirect loop or cap, malformed response, TLS certificate failure, anti-bot challenge."""


class BlockedDestination(PermanentFetchError):
    """The URL (or a redirect hop, or the address its name resolved to) is loopback,
    private, link-local, CGNAT, multicast, unspecified or otherwise not public."""

    default_error_class = ErrorClass.BLOCKED_DESTINATION


class ResponseTooLarge(PermanentFetchError):
    """The body (after decompression) is above the configured cap."""

    default_error_class = ErrorClass.TOO_LARGE


class Gone(PermanentFetchError):
    """HTTP 410: the resource was removed on purpose; stop asking for it."""

    default_error_class = ErrorClass.GONE


class RobotsDisallowed(PermanentFetchError):
    """robots.txt of the host disallows this URL for our User-Agent."""

    default_error_class = ErrorClass.ROBOTS


class AntiBotChallenge(PermanentFetchError):
    """An anti-bot interstitial (Cloudflare-style "Just a moment...", captcha, WAF page)
    was served instead of content. ``status_code`` is the status it came with."""

    default_error_class = ErrorClass.CHALLENGE
