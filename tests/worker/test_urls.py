from __future__ import annotations

import pytest

from worker.urls import canonicalize, host_of, redact_credentials, split_credentials


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Example.COM/a", "https://example.com/a"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com/a#section-2", "http://example.com/a"),
        ("http://example.com/a?b=2&a=1", "http://example.com/a?a=1&b=2"),
        ("http://example.com/a?utm_source=rss&utm_medium=feed&id=7", "http://example.com/a?id=7"),
        ("http://example.com/a?fbclid=abc&gclid=def", "http://example.com/a"),
        ("http://example.com/a/?x=1", "http://example.com/a/?x=1"),
        ("  http://example.com/a\n", "http://example.com/a"),
        ("http://example.com/a\n/b", "http://example.com/a/b"),
        ("http://example.com/a b", "http://example.com/a%20b"),
        ("http://example.com./a", "http://example.com/a"),
        ("http://User:Secret@Example.com/", "http://User:Secret@example.com/"),
        ("http://[2001:DB8::1]:80/a", "http://[2001:db8::1]/a"),
        ("http://xn--bcher-kva.example/", "http://bücher.example/"),
    ],
)
def test_canonicalize(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


def test_canonicalize_is_idempotent() -> None:
    once = canonicalize("HTTP://WWW.Example.com:80/News/?utm_campaign=x&z=1&a=2#top")
    assert canonicalize(once) == once


def test_same_article_different_spellings_one_key() -> None:
    spellings = [
        "https://news.example.com/2024/story?utm_source=twitter",
        "https://NEWS.example.com:443/2024/story#comments",
        "https://news.example.com/2024/story?fbclid=123",
    ]
    assert len({canonicalize(u) for u in spellings}) == 1


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "ftp://example.com/a",
        "javascript:alert(1)",
        "mailto:a@example.com",
        "file:///etc/passwd",
        "//example.com/a",
        "/relative/path",
        "http:///nohost",
        "http://example.com:99999/",
        "http://[::1",
        "http://example.com:0/",
        "http://example.com/" + "a" * 5000,
    ],
)
def test_canonicalize_rejects(url: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by cause
        canonicalize(url)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://News.Example.com:8443/x", "news.example.com"),
        ("http://example.com./", "example.com"),
        ("http://[::1]:8080/", "::1"),
        ("http://xn--bcher-kva.example/", "bücher.example"),
        ("/relative", ""),
        ("not a url", ""),
        ("http://[::1", ""),
    ],
)
def test_host_of(url: str, host: str) -> None:
    assert host_of(url) == host


def test_host_of_matches_canonical_form() -> None:
    url = "HTTP://XN--BCHER-KVA.Example:80/a?utm_source=x"
    assert host_of(url) == host_of(canonicalize(url))


def test_credentials_are_split_from_a_url_and_redacted_from_text() -> None:
    assert split_credentials("https://me:p%40ss@news.example/feed") == (
        "https://news.example/feed",
        "me",
        "p@ss",
    )
    assert split_credentials("https://tok@news.example/f") == (
        "https://news.example/f",
        "tok",
        None,
    )
    assert split_credentials("https://news.example/f?mail=a@b") == (
        "https://news.example/f?mail=a@b",
        None,
        None,
    )
    text = "invalid URL 'https://me:pw@news.example/x' (from http://a@b.example/) mailto:x@y"
    assert redact_credentials(text) == (
        "invalid URL 'https://news.example/x' (from http://b.example/) mailto:x@y"
    )
