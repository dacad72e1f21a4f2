"""The result of a successful fetch: a 2xx with its decoded body, or a 304."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FetchResponse:
    """A 2xx (``content`` is the decoded body, never above the cap) or a 304 (empty).

    ``headers`` is case-insensitive (``httpx.Headers``). ``permanent_redirect`` is the
    final URL when every redirect from ``requested_url`` was a 301/308, else ``None``;
    ``redirects`` lists every hop after ``requested_url``, in order.
    """

    url: str
    requested_url: str
    status_code: int
    headers: Mapping[str, str]
    content: bytes
    elapsed_ms: int
    permanent_redirect: str | None = None
    redirects: tuple[str, ...] = field(default=())

    @property
    def not_modified(self) -> bool:
        """True for a 304: the validators matched, there is no body."""
        return self.status_code == 304

    @property
    def content_type(self) -> str | None:
        """Media type without parameters, lowercased (``"application/rss+xml"``)."""
        media_type, _ = _parse_content_type(self.headers.get("content-type"))
        return media_type

    @property
    def charset(self) -> str | None:
        """``charset`` parameter of Content-Type, lowercased, or ``None``."""
        _, params = _parse_content_type(self.headers.get("content-type"))
        return params.get("charset")


def _parse_content_type(value: str | None) -> tuple[str | None, dict[str, str]]:
    if not value:
        return None, {}
    media_type, *raw_params = value.split(";")
    params: dict[str, str] = {}
    for raw in raw_params:
        name, sep, param_value = raw.partition("=")
        if sep:
            params[name.strip().lower()] = param_value.strip().strip("\"'").lower()
    return (media_type.strip().lower() or None), params
