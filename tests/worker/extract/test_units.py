"""Focused tests for the parts of page extraction: charset, metadata, dates, boilerplate."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import lxml.html
import pytest
import trafilatura
from trafilatura.utils import repair_faulty_html

import worker.extract.page as page_module
from tests.support.httpserver import ConnectionTrap
from tests.worker.extract.test_fixtures import html_fixture_texts
from worker.extract import ExtractionError, extract_page
from worker.extract.boilerplate import drop_boilerplate, is_boilerplate
from worker.extract.decode import decode_html
from worker.extract.metadata import DateText, read_page_metadata
from worker.extract.page import DEFAULT_FULL_CASCADE_BELOW_CHARS
from worker.text.normalize import strip_control_chars

BODY = "".join(
    f"<p>Paragraph {i} of a plain test article about the canal locks, which reopened after a "
    f"winter of repairs to the gates, the pumps and the towpath along the eastern bank.</p>"
    for i in range(5)
)


def _page(head: str = "", body: str = BODY, lang: str = "en") -> bytes:
    html = f'<html lang="{lang}"><head>{head}</head><body><article>{body}</article></body></html>'
    return html.encode()


@pytest.mark.parametrize(
    ("data", "content_type", "expected"),
    [
        ("Grüße".encode(), None, "Grüße"),
        ("Grüße".encode("cp1252"), "text/html; charset=ISO-8859-1", "Grüße"),
        # declared UTF-8 but the bytes are not: the <meta> charset is tried next
        (b'<meta charset="windows-1252">' + "Grüße".encode("cp1252"), "text/html; charset=utf-8",
         '<meta charset="windows-1252">Grüße'),
        ("\ufeffGrüße".encode("utf-16-le"), None, "Grüße"),
        (
            (
                "<html><body><p>Городской совет утвердил новый маршрут трамвая до паромного "
                "вокзала. Строительство начнётся весной и займёт около трёх лет, сообщили в "
                "транспортном управлении города.</p></body></html>"
            ).encode("koi8-r"),
            None,
            None,
        ),
    ],
)  # fmt: skip
def test_decode_html(data: bytes, content_type: str | None, expected: str | None) -> None:
    text, _ = decode_html(data, content_type)
    if expected is not None:
        assert text == expected
    else:  # detection: readable Cyrillic whatever codec label was picked
        assert "Городской совет утвердил" in text


def test_jsonld_prefers_article_object_and_reads_graph() -> None:
    head = """<script type="application/ld+json">
      [{"@type": "Organization", "datePublished": "1999-01-01"},
      {"@type": ["NewsArticle"], "datePublished": "2024-01-02T03:04:05Z",
       "author": {"@type": "Person", "name": "By Lee Chan"}}]</script>
      <script type="application/ld+json">{ broken json </script>"""
    meta = read_page_metadata(lxml.html.fromstring(_page(head)), url="https://x.example.com/a")
    assert meta.published[0] == DateText("jsonld", "datePublished", "2024-01-02T03:04:05Z")
    assert "1999-01-01" in meta.other_dates  # kept only to learn the publisher's offset
    assert meta.jsonld_authors == ("Lee Chan",)


@pytest.mark.parametrize(
    ("href", "page_url", "expected"),
    [
        ("/story/1", "https://n.example.com/story/1?utm_source=x", "https://n.example.com/story/1"),
        ("https://n.example.com/", "https://n.example.com/story/1", None),  # homepage
        ("https://wire.example.org/story/9", "https://n.example.com/s/1", "https://wire.example.org/story/9"),
        ("javascript:void(0)", "https://n.example.com/s/1", None),
        ("http://127.0.0.1/story", "https://n.example.com/s/1", None),
    ],
)  # fmt: skip
def test_canonical_sanity(href: str, page_url: str, expected: str | None) -> None:
    tree = lxml.html.fromstring(_page(f'<link rel="canonical" href="{href}">'))
    assert read_page_metadata(tree, url=page_url).canonical_url == expected


def test_boilerplate_rules_are_short_and_precise() -> None:
    for line in (
        "You have 3 free articles left this month.",
        "Already a subscriber? Log in",
        "Subscribe to our newsletter",
        "Advertisement",
        "Share this article",
        "We use cookies to improve your experience.",
        "Subscribe Now Choose a package that suits your preferences.",
        "Read more: Harbour bridge closes for repairs",
    ):
        assert is_boilerplate(line), line
    for line in (
        "The newsletter, founded in 1990, has become the most widely read source on the topic "
        "in the region, and its editors say subscriptions doubled last year alone after the "
        "paper closed. Readers are asked to sign up on the website.",
        "Advertisement revenue fell by a third.",
        "He shared the prize with two colleagues.",
    ):
        assert not is_boilerplate(line), line
    assert drop_boilerplate(["Text.", "Advertisement", "More text."]) == ["Text.", "More text."]


def test_extract_page_never_touches_the_network() -> None:
    # htmldate downloads any *string* that looks like a URL; extract_page must not let it.
    with ConnectionTrap() as trap:
        for body in (
            f"http://127.0.0.1:{trap.port}/".encode(),
            f"<p>http://127.0.0.1:{trap.port}/x</p>".encode(),
        ):
            with contextlib.suppress(ExtractionError):
                extract_page(body, url=f"http://127.0.0.1:{trap.port}/page")
        assert trap.connections() == 0


def test_extraction_error_classes() -> None:
    with pytest.raises(ExtractionError) as caught:
        extract_page(b"just some words, no markup at all", url="https://x.example.com/")
    assert caught.value.error_class == "not_html"
    with pytest.raises(ExtractionError) as caught:
        extract_page(_page(), url="https://x.example.com/", content_type="image/png")
    assert caught.value.error_class == "not_html"
    with pytest.raises(ExtractionError) as caught:
        extract_page(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, url="https://x.example.com/")
    assert caught.value.error_class == "not_html"


def test_control_characters_do_not_break_extraction() -> None:
    page = extract_page(
        _page(body=BODY.replace("canal", "ca\x00n\x07al")), url="https://x.example.com/s"
    )
    assert page.text is not None
    assert "\x00" not in page.text
    assert "canal locks" in page.text


def _spy_on_passes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The ``fast`` argument of each trafilatura pass extract_page runs (the real ones)."""
    passes: list[bool] = []
    real = trafilatura.bare_extraction

    def spy(*args: Any, **kwargs: Any) -> Any:
        passes.append(kwargs["fast"])
        return real(*args, **kwargs)

    monkeypatch.setattr(trafilatura, "bare_extraction", spy)
    return passes


def test_fast_pass_decides_article_length_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    passes = _spy_on_passes(monkeypatch)
    body = BODY * 2
    page = extract_page(_page(body=body), url="https://x.example.com/long")
    assert page.text is not None
    assert len(page.text) >= DEFAULT_FULL_CASCADE_BELOW_CHARS
    assert passes == [True]


def test_short_fast_result_gets_the_full_cascade(monkeypatch: pytest.MonkeyPatch) -> None:
    # Text in bare <div>s: trafilatura's main extractor finds nothing here, its readability
    # fallback finds the article. Only the full cascade runs the fallback.
    sentence = (
        "The harbour board voted on Tuesday to rebuild the northern breakwater after the "
        "storms of last winter damaged it beyond repair, officials said."
    )
    divs = "".join(f"<div>{sentence} Part {i}.</div>" for i in range(12))
    html = f"<html><body><div class='x'>{divs}</div></body></html>".encode()
    passes = _spy_on_passes(monkeypatch)
    page = extract_page(html, url="https://x.example.com/divs")
    assert passes == [True, False]
    assert page.text is not None
    assert "Part 0." in page.text and "Part 11." in page.text


def test_threads_take_turns_at_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each extraction, once inside, waits (up to a bound) for another thread to come in too:
    # with the turns kept, none ever does, and they run one after the other.
    inside: list[int] = []
    most = 0
    second_in = threading.Event()
    real = page_module._extract_page

    def watched(*args: Any, **kwargs: Any) -> Any:
        nonlocal most
        inside.append(1)
        most = max(most, len(inside))
        if len(inside) > 1:
            second_in.set()
        second_in.wait(timeout=0.5)
        try:
            return real(*args, **kwargs)
        finally:
            inside.pop()

    monkeypatch.setattr(page_module, "_extract_page", watched)
    pages: list[str | None] = []
    threads = [
        threading.Thread(
            target=lambda: pages.append(extract_page(_page(), url="https://x.example.com/").text)
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1
    assert len(pages) == 2 and all(pages)


@pytest.mark.parametrize(
    "text",
    [
        *html_fixture_texts(),
        _page().decode(),
        # lxml refuses a str that declares its encoding: parsed again as UTF-8 bytes
        '<?xml version="1.0" encoding="utf-8"?><html><body><p>Grüße</p></body></html>',
        # a doctype libxml2 trips on, and a self-closed <html/> on the first lines: repaired
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN">\n'
        "<html><body><p>x</p></body></html>",
        '<html lang="en" />\n<body><p>Self-closed root, then the page.</p></body>',
        # starts like something else and parses to one element: not a page
        "{json: true}",
        "<p>one fragment</p>",
        "",
    ],
)
def test_page_tree_is_trafilaturas_with_classes_looked_up_in_c(text: str) -> None:
    """``_load_tree`` parses as ``trafilatura.load_html`` does (same tree, same refusals), on a
    parser that gives every element lxml.html's element class without a Python lookup."""
    ours = page_module._load_tree(text)
    theirs = trafilatura.load_html(text) if text else None
    if theirs is None:
        assert ours is None
        return
    assert ours is not None
    assert lxml.html.tostring(ours) == lxml.html.tostring(theirs)
    # lxml.html's own parsers make a <form> a FormElement (a Python lookup per element)
    assert isinstance(theirs.makeelement("form"), lxml.html.FormElement)
    assert type(ours.makeelement("form")) is lxml.html.HtmlElement


_LINES = "".join(f"<!-- line {i} -->\n" for i in range(8))


@pytest.mark.parametrize(
    "text",
    [
        *html_fixture_texts(),
        _page().decode(),
        # a doctype libxml2 trips on, on the first line (of a page of many lines, and alone)
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "x.dtd" />\n' + _LINES,
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "x.dtd" />',
        # a self-closed <html/> on the fourth line, and on the fifth (which is not repaired)
        "\n\n\n<html lang='en' />\n" + _LINES,
        "\n\n\n\n<html lang='en' />\n" + _LINES,
        # ... and one whose "/>" follows on a later line
        "\n\n\n<html lang='en'  \n\n  />\n" + _LINES,
        # a minified page: one line
        "<!doctype html><html><body><p>One line.</p></body></html>",
        # what the repair deletes from the whole page, after the first lines
        _LINES + "<p>a\x00b\x0bc\ufffed\uffffe\x1ff</p>" * 300,
    ],
)
def test_repair_of_a_stripped_page_is_trafilaturas(text: str) -> None:
    """On a page that has been through ``strip_control_chars`` (as every page extracted has),
    repairing its first lines only gives what trafilatura's repair of the whole page gives."""
    text = strip_control_chars(text)
    beginning = text[:50].lower()
    assert page_module._repaired(text, beginning) == repair_faulty_html(text, beginning)
    ours = page_module._load_tree(text, stripped=True)
    theirs = trafilatura.load_html(text) if text else None
    assert (ours is None) == (theirs is None)
    if ours is not None and theirs is not None:
        assert lxml.html.tostring(ours) == lxml.html.tostring(theirs)


def test_warm_up_loads_what_first_pages_would_wait_for() -> None:
    """In a fresh interpreter (as a worker's main process before it forks): after
    ``warm_up()`` the date parser's languages, jusText's stop lists and the public suffix
    list are loaded, so the pool's children inherit them instead of each loading them."""
    probe = (
        "import dateparser.languages.loader as dl, tld.utils as tu, trafilatura.external as te\n"
        "def loaded(): return (len(dl.default_loader._loaded_languages) > 10,\n"
        "                      te.JT_STOPLIST is not None, any(tu.tld_names.values()))\n"
        "print(loaded())\n"
        "from worker.extract import warm_up\n"
        "warm_up()\n"
        "print(loaded())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).parents[3],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split("\n")
    assert out[:2] == ["(False, False, False)", "(True, True, True)"]
