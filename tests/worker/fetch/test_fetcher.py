"""Fetcher basics against the real local server: content, validators, redirects, statuses."""

from __future__ import annotations

import pickle
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tests.support.httpserver import LocalHTTPServer
from tests.worker.fetch import handlers
from worker.config import Settings
from worker.fetch import (
    ACCEPT_FEED,
    AntiBotChallenge,
    Fetcher,
    FetchError,
    FetchResponse,
    Gone,
    PermanentFetchError,
    ResponseTooLarge,
    TransientFetchError,
)

LAST_MODIFIED = "Mon, 06 May 2024 10:00:00 GMT"


def test_get_returns_content_and_metadata(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/page", "<p>hello</p>", content_type="text/html; charset=ISO-8859-1")
    started = time.monotonic()
    response = fetcher.fetch(server.url("/page"))
    outside_ms = (time.monotonic() - started) * 1000
    assert response.status_code == 200
    assert response.content == b"<p>hello</p>"
    assert response.url == response.requested_url == server.url("/page")
    assert response.content_type == "text/html"
    assert response.charset == "iso-8859-1"
    assert response.headers["CONTENT-TYPE"].startswith("text/html")
    assert response.permanent_redirect is None
    assert not response.not_modified
    # The fetch's own time: within the call's, however long a busy machine made that.
    assert 0 <= response.elapsed_ms <= round(outside_ms) + 1


def test_sends_user_agent_accept_and_encodings(server: LocalHTTPServer, settings: Settings) -> None:
    server.add("/feed", "<rss/>")
    with Fetcher(
        settings.model_copy(
            update={"user_agent": "Storywire/9", "contact_url": "https://x.test/bot"}
        )
    ) as f:
        f.fetch(server.url("/feed"), accept=ACCEPT_FEED)
        f.fetch(server.url("/feed"))
    first, second = server.requests_to("/feed")
    assert first.headers["user-agent"] == "Storywire/9 (+https://x.test/bot)"
    assert first.headers["accept"] == ACCEPT_FEED
    assert second.headers["accept"] == "*/*"
    assert set(first.headers["accept-encoding"].replace(" ", "").split(",")) == {
        "gzip",
        "deflate",
        "br",
    }
    assert "if-none-match" not in first.headers


@pytest.mark.parametrize(
    ("user_agent", "contact_url", "sent"),
    [
        ("Storywire/0.1", None, "Storywire/0.1"),
        ("Storywire/0.1", "", "Storywire/0.1"),
        ("Storywire/0.1", "mailto:ops@news.test", "Storywire/0.1 (+mailto:ops@news.test)"),
        # A User-Agent that already names the contact does not get it twice.
        (
            "Acme/2 (+https://acme.test/bot)",
            "https://acme.test/bot",
            "Acme/2 (+https://acme.test/bot)",
        ),
    ],
)
def test_contact_url_goes_into_the_user_agent(
    server: LocalHTTPServer,
    settings: Settings,
    user_agent: str,
    contact_url: str | None,
    sent: str,
) -> None:
    server.add("/feed", "<rss/>")
    update = {"user_agent": user_agent, "contact_url": contact_url}
    with Fetcher(settings.model_copy(update=update)) as f:
        f.fetch(server.url("/feed"))
    assert server.requests_to("/feed")[0].headers["user-agent"] == sent


def test_default_user_agent_has_a_contact_url() -> None:
    assert Settings().user_agent_header == (
        "Storywire/0.1 (+https://github.com/storywire/storywire)"
    )


def test_conditional_get_etag_304(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add_handler("/feed", handlers.conditional('"v1"', LAST_MODIFIED, b"<rss/>"))
    first = fetcher.fetch(server.url("/feed"))
    assert first.status_code == 200
    assert first.content == b"<rss/>"
    assert first.headers["etag"] == '"v1"'

    second = fetcher.fetch(server.url("/feed"), etag=first.headers["etag"])
    assert second.not_modified
    assert second.status_code == 304
    assert second.content == b""
    assert server.requests_to("/feed")[1].headers["if-none-match"] == '"v1"'


def test_conditional_get_last_modified_304(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add_handler("/feed", handlers.conditional('"v1"', LAST_MODIFIED, b"<rss/>"))
    response = fetcher.fetch(server.url("/feed"), last_modified=LAST_MODIFIED)
    assert response.not_modified
    assert server.requests_to("/feed")[0].headers["if-modified-since"] == LAST_MODIFIED


def test_gzip_and_brotli_bodies_are_decoded(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    import gzip

    import brotli

    body = b"<p>" + b"news " * 5000 + b"</p>"
    server.add("/gz", gzip.compress(body), headers={"Content-Encoding": "gzip"})
    server.add("/br", brotli.compress(body), headers={"Content-Encoding": "br"})
    assert fetcher.fetch(server.url("/gz")).content == body
    assert fetcher.fetch(server.url("/br")).content == body


def test_empty_body(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/empty", b"", content_type="application/rss+xml")
    response = fetcher.fetch(server.url("/empty"))
    assert response.status_code == 200
    assert response.content == b""


# --- redirects -----------------------------------------------------------------------------


def test_permanent_redirect_chain_is_reported(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/old", status=301, headers={"Location": "/older"})
    server.add("/older", status=308, headers={"Location": server.url("/new")})
    server.add("/new", "moved here")
    response = fetcher.fetch(server.url("/old"))
    assert response.content == b"moved here"
    assert response.url == server.url("/new")
    assert response.requested_url == server.url("/old")
    assert response.permanent_redirect == server.url("/new")
    assert response.redirects == (server.url("/older"), server.url("/new"))


def test_temporary_hop_makes_redirect_not_permanent(
    server: LocalHTTPServer, fetcher: Fetcher
) -> None:
    server.add("/a", status=301, headers={"Location": "/b"})
    server.add("/b", status=302, headers={"Location": "/c"})
    server.add("/c", "here")
    response = fetcher.fetch(server.url("/a"))
    assert response.url == server.url("/c")
    assert response.permanent_redirect is None


def test_redirect_loop(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/ping", status=302, headers={"Location": "/pong"})
    server.add("/pong", status=302, headers={"Location": "/ping"})
    with pytest.raises(PermanentFetchError) as info:
        fetcher.fetch(server.url("/ping"))
    assert info.value.error_class == "redirect_loop"
    assert len(server.requests) == 2


def test_redirect_cap(server: LocalHTTPServer, settings: Settings) -> None:
    for i in range(10):
        server.add(f"/r{i}", status=307, headers={"Location": f"/r{i + 1}"})
    server.add("/r10", "end")
    with (
        Fetcher(settings.model_copy(update={"max_redirects": 3})) as fetcher,
        pytest.raises(PermanentFetchError) as info,
    ):
        fetcher.fetch(server.url("/r0"))
    assert info.value.error_class == "too_many_redirects"
    assert len(server.requests) == 4  # the first request and three redirects


def test_redirect_to_non_http_scheme(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/evil", status=302, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(PermanentFetchError) as info:
        fetcher.fetch(server.url("/evil"))
    assert info.value.error_class == "bad_scheme"


def test_redirect_without_location(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/nowhere", status=302)
    with pytest.raises(PermanentFetchError) as info:
        fetcher.fetch(server.url("/nowhere"))
    assert info.value.error_class == "bad_redirect"
    assert info.value.status_code == 302


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/feed", "file:///etc/passwd", "gopher://x/", "not a url", "http:///nohost"],
)
def test_only_http_and_https(fetcher: Fetcher, url: str) -> None:
    with pytest.raises(PermanentFetchError) as info:
        fetcher.fetch(url)
    assert info.value.error_class in {"bad_scheme", "bad_url"}


# --- statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 451])
def test_client_errors_are_permanent(
    server: LocalHTTPServer, fetcher: Fetcher, status: int
) -> None:
    server.add("/x", "<h1>nope</h1>", status=status)
    with pytest.raises(PermanentFetchError) as info:
        fetcher.fetch(server.url("/x"))
    assert type(info.value) is PermanentFetchError
    assert info.value.error_class == f"http_{status}"
    assert info.value.status_code == status


def test_410_is_gone(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/feed", "removed", status=410)
    with pytest.raises(Gone) as info:
        fetcher.fetch(server.url("/feed"))
    assert info.value.error_class == "gone"
    assert isinstance(info.value, PermanentFetchError)


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_server_errors_are_transient(
    server: LocalHTTPServer, fetcher: Fetcher, status: int
) -> None:
    server.add("/x", "oops", status=status)
    with pytest.raises(TransientFetchError) as info:
        fetcher.fetch(server.url("/x"))
    assert info.value.error_class == f"http_{status}"
    assert info.value.retry_after is None


def test_429_retry_after_seconds(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/x", "slow down", status=429, headers={"Retry-After": "120"})
    with pytest.raises(TransientFetchError) as info:
        fetcher.fetch(server.url("/x"))
    assert info.value.error_class == "http_429"
    assert info.value.retry_after == 120.0


def test_503_retry_after_http_date(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    when = datetime.now(UTC) + timedelta(minutes=10)
    server.add(
        "/x", "maintenance", status=503, headers={"Retry-After": format_datetime(when, usegmt=True)}
    )
    with pytest.raises(TransientFetchError) as info:
        fetcher.fetch(server.url("/x"))
    assert info.value.retry_after is not None
    # Less the time between writing the date and reading the answer: minutes on a busy box.
    assert 480 <= info.value.retry_after <= 600


def test_retry_after_is_clamped(server: LocalHTTPServer, settings: Settings) -> None:
    server.add("/far", status=429, headers={"Retry-After": "99999999"})
    server.add("/past", status=503, headers={"Retry-After": "Wed, 01 Jan 2020 00:00:00 GMT"})
    server.add("/junk", status=503, headers={"Retry-After": "soon-ish"})
    with Fetcher(settings.model_copy(update={"max_backoff_s": 3600})) as fetcher:
        retry = {}
        for path in ("/far", "/past", "/junk"):
            with pytest.raises(TransientFetchError) as info:
                fetcher.fetch(server.url(path))
            retry[path] = info.value.retry_after
    assert retry == {"/far": 3600.0, "/past": 0.0, "/junk": None}


def test_cloudflare_style_challenge_403(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
        b"<script>window._cf_chl_opt={cvId:'3'};</script></body></html>"
    )
    server.add(
        "/article", page, status=403, headers={"cf-mitigated": "challenge", "Server": "cloudflare"}
    )
    with pytest.raises(AntiBotChallenge) as info:
        fetcher.fetch(server.url("/article"))
    assert info.value.error_class == "challenge"
    assert info.value.status_code == 403


def test_challenge_503_recognised_by_body_only(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    page = (
        b"<html><head><title>Just a moment...</title></head><body>Checking your browser "
        b"before accessing example.com.</body></html>"
    )
    server.add("/article", page, status=503)
    with pytest.raises(AntiBotChallenge):
        fetcher.fetch(server.url("/article"))


def test_challenge_interstitial_with_200(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    page = b"<html><script src='/cdn-cgi/challenge-platform/h/b/orchestrate/jsch/v1'></script>"
    server.add("/article", page)
    with pytest.raises(AntiBotChallenge) as info:
        fetcher.fetch(server.url("/article"))
    assert info.value.status_code == 200


def test_plain_403_is_not_a_challenge(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add("/article", "<title>403 Forbidden</title>", status=403)
    with pytest.raises(PermanentFetchError) as info:
        fetcher.fetch(server.url("/article"))
    assert info.value.error_class == "http_403"


# --- network failures ----------------------------------------------------------------------


def test_connection_refused_is_transient(fetcher: Fetcher, dead_port: int) -> None:
    with pytest.raises(TransientFetchError) as info:
        fetcher.fetch(f"http://127.0.0.1:{dead_port}/")
    assert info.value.error_class == "connect"
    assert info.value.status_code is None


def test_unresolvable_host_is_transient(fetcher: Fetcher) -> None:
    with pytest.raises(TransientFetchError) as info:
        fetcher.fetch("http://no-such-host.invalid/feed")
    assert info.value.error_class == "dns"


def test_read_timeout(server: LocalHTTPServer, settings: Settings) -> None:
    server.add_handler("/slow", handlers.sleep_then(3.0))
    with (
        Fetcher(settings.model_copy(update={"read_timeout_s": 0.5})) as fetcher,
        pytest.raises(TransientFetchError) as info,
    ):
        fetcher.fetch(server.url("/slow"))
    assert info.value.error_class == "timeout"


def test_connection_closed_mid_body_is_transient(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    server.add_handler("/cut", handlers.stream([b"only part"], headers={"Content-Length": "1000"}))
    with pytest.raises(TransientFetchError) as info:
        fetcher.fetch(server.url("/cut"))
    assert info.value.error_class == "incomplete"


def test_server_sending_no_headers(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    # HTTP/0.9 style: the document straight away, no status line, no headers.
    body = b'<?xml version="1.0"?>\n<rss>\n\n<channel><title>t</title></channel>\n</rss>\n'
    server.add_handler("/bare", handlers.raw(body))
    with pytest.raises(PermanentFetchError) as info:
        fetcher.fetch(server.url("/bare"))
    assert info.value.error_class == "protocol"


# --- size cap ------------------------------------------------------------------------------


def test_declared_length_above_cap_is_refused_before_reading(
    server: LocalHTTPServer, fetcher: Fetcher
) -> None:
    server.add_handler(
        "/huge",
        handlers.stream([b"x" * 1024] * 4, headers={"Content-Length": str(10 * 1024**3)}),
    )
    with pytest.raises(ResponseTooLarge) as info:
        fetcher.fetch(server.url("/huge"))
    assert info.value.error_class == "too_large"


def test_body_without_length_stops_at_cap(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    # Close-delimited, 64 MiB: must stop at the 1 MiB test cap.
    server.add_handler("/endless", handlers.stream(b"y" * 65536 for _ in range(1024)))
    with pytest.raises(ResponseTooLarge):
        fetcher.fetch(server.url("/endless"))


def test_body_exactly_at_cap_is_accepted(server: LocalHTTPServer, settings: Settings) -> None:
    server.add("/exact", b"z" * 4096)
    with Fetcher(settings.model_copy(update={"max_response_bytes": 4096})) as fetcher:
        assert len(fetcher.fetch(server.url("/exact")).content) == 4096
    with (
        Fetcher(settings.model_copy(update={"max_response_bytes": 4095})) as fetcher,
        pytest.raises(ResponseTooLarge),
    ):
        fetcher.fetch(server.url("/exact"))


# --- API details ---------------------------------------------------------------------------


def test_errors_pickle_round_trip() -> None:
    errors: list[FetchError] = [
        TransientFetchError("HTTP 429", url="http://a.test/", status_code=429, retry_after=3.0),
        Gone("gone", url="http://a.test/", status_code=410),
        PermanentFetchError("loop", url="http://a.test/", error_class="redirect_loop"),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert (copy.url, copy.status_code, copy.error_class, str(copy)) == (
            error.url,
            error.status_code,
            error.error_class,
            str(error),
        )
    assert pickle.loads(pickle.dumps(errors[0])).retry_after == 3.0


def test_response_properties_without_content_type() -> None:
    response = FetchResponse(
        url="http://a.test/",
        requested_url="http://a.test/",
        status_code=200,
        headers={},
        content=b"",
        elapsed_ms=1,
        permanent_redirect=None,
    )
    assert response.content_type is None
    assert response.charset is None


def test_tls_verification_cannot_be_disabled(settings: Settings) -> None:
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with pytest.raises(ValueError, match="TLS verification"):
        Fetcher(settings, ssl_context=context)


def test_basic_auth_goes_to_the_feed_origin_only(server: LocalHTTPServer, fetcher: Fetcher) -> None:
    # Same server, two origins: 127.0.0.1 (the feed's) and localhost (somewhere else).
    other = server.url("/elsewhere").replace("127.0.0.1", "localhost")
    server.add("/private", status=302, headers={"Location": "/moved"})
    server.add("/moved", status=302, headers={"Location": other})
    server.add("/elsewhere", "<rss/>")
    response = fetcher.fetch(server.url("/private"), auth=("reader", "p@ss"))
    assert response.content == b"<rss/>"
    sent = [server.requests_to(path)[0].headers.get("authorization") for path in
            ("/private", "/moved", "/elsewhere")]  # fmt: skip
    assert sent == ["Basic cmVhZGVyOnBAc3M=", "Basic cmVhZGVyOnBAc3M=", None]
    assert "p@ss" not in repr(response)
