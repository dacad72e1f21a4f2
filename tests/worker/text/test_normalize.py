from __future__ import annotations

import pytest

from worker.text.normalize import (
    clean_authors,
    html_to_lines,
    html_to_text,
    plain_text,
    strip_control_chars,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("By Jane Doe and John Roe", ["Jane Doe", "John Roe"]),
        (["Jane Doe; John Roe", "jane doe"], ["Jane Doe", "John Roe"]),
        ("Jane Doe, Staff Writer", ["Jane Doe"]),
        # an outlet's desk: the author where no person signed, a role beside one
        ("Staff", ["Staff"]),
        ("Redaktion; Anna Berg", ["Anna Berg"]),
        ("admin", []),
        ("desk@example.com", []),
        ("editor@example.com (Maria Lopez)", ["Maria Lopez"]),
        ("Von Hans Müller und Eva Schmidt", ["Hans Müller", "Eva Schmidt"]),
        ("https://example.com/authors/jane", []),
        ("BY: Ana Lima | Rui Costa", ["Ana Lima", "Rui Costa"]),
        # labels in other languages; a degree the comma split off is not a name
        ("Vom Krimiblogger", ["Krimiblogger"]),
        ("Por Isabel Caro y Rocío Latorre", ["Isabel Caro", "Rocío Latorre"]),
        ("Malcolm Y. Lee", ["Malcolm Y. Lee"]),
        ("Autorin: Eva Schmidt", ["Eva Schmidt"]),
        ("\u8d23\u4efb\u7f16\u8f91\uff1a\u5b54\u5fb7\u660e", ["\u5b54\u5fb7\u660e"]),
        ("Grant Tinsley, PhD", ["Grant Tinsley"]),
        # a blog theme's link to the author's archive, in its translations
        ("View all posts by Ann Lee", ["Ann Lee"]),
        ("Zeige alle Beiträge von Eva Schmidt", ["Eva Schmidt"]),
        ("Alle Beiträge von Eva Schmidt anzeigen", ["Eva Schmidt"]),
        ("Voir tous les articles de Marie Roux", ["Marie Roux"]),
        ("Ver todas las entradas de Ana Caro", ["Ana Caro"]),
        ("Posts by the harbour", ["Posts by the harbour"]),
        # a magazine's labels, and labels or buttons read without a name
        ("Text: Eva Schmidt, Fotos: Max Muster", ["Eva Schmidt"]),
        ("Photo: Ann Lee", []),
        ("Fotostudio Lee", ["Fotostudio Lee"]),
        ("Interview Julia Lauter", ["Julia Lauter"]),
        ("Text; Interview Harald Willenbrock", ["Harald Willenbrock"]),
        ("Name", []),
        ("Follow", []),
        ("Textor Baumann", ["Textor Baumann"]),
        # a date's label after the name, its date gone; not a surname that spells one
        ("Sara Zinnecker Stand", ["Sara Zinnecker"]),
        ("Jane Doe Updated:", ["Jane Doe"]),
        ("Kurt Stand", ["Kurt Stand"]),
        # a label is a whole word: names that start like one keep their letters
        (
            "Byron Smith; Authorine Vega; Parker Jones",
            ["Byron Smith", "Authorine Vega", "Parker Jones"],
        ),
        (None, []),
        ("x" * 300, []),
    ],
)
def test_clean_authors(raw: object, expected: list[str]) -> None:
    assert clean_authors(raw) == expected  # type: ignore[arg-type]


def test_html_to_text_blocks_entities_and_scripts() -> None:
    assert html_to_text("<p>Fish &amp; <b>chips</b></p><p>Second<script>x()</script></p>") == (
        "Fish & chips\n\nSecond"
    )
    assert html_to_text("<h1>Big</h1>\n  <i>title</i>", single_line=True) == "Big title"
    assert html_to_text("  ") is None
    assert html_to_text("<script>only()</script>") is None
    assert html_to_text("bad\x00 control\x07") == "bad control"


def test_html_to_lines_one_line_per_block() -> None:
    html = "<p>Fish &amp;  <b>chips</b></p><ul><li>one</li><li>two</li></ul>tail<br>end"
    assert html_to_lines(html) == "Fish & chips\none\ntwo\ntail\nend"
    assert html_to_lines("<p> </p><div></div>") is None


def test_plain_text_keeps_angle_brackets() -> None:
    assert (
        plain_text("<script> tags &amp;amp; more", single_line=True) == "<script> tags &amp; more"
    )
    assert plain_text("a\n\n\n b  c") == "a\n\nb c"


def test_strip_control_chars_keeps_whitespace() -> None:
    assert strip_control_chars("a\tb\nc\rd\x00e\x1ff\ud800\uffff") == "a\tb\nc\rdef"


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("", ""),  # nothing to strip
        ("\x00", ""),
        ("\x0b\x7f", ""),
        ("\ud83d", ""),  # a lone surrogate: the text cannot even be encoded
        ("\ufffe\uffff", ""),  # noncharacters: encodable, but XML refuses them
        ("\t\r\n\u00a0\u2028\U0001f600", "\t\r\n\u00a0\u2028\U0001f600"),
    ],
)
def test_strip_control_chars_of_a_page(tail: str, expected: str) -> None:
    """A page-sized text (tested whole before the expression runs) loses the same
    characters as a short one, wherever they are."""
    body = "Grüße, Προσφυγικό — 東京 " * 400
    assert strip_control_chars(tail + body + tail) == expected + body + expected
