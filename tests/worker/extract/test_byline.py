"""The byline reader finds what trafilatura's author search finds, searching only the elements
it can match; the byline shown under the headline names the authors."""

from __future__ import annotations

import re

import pytest
from lxml.html import HtmlElement
from trafilatura.metadata import extract_author
from trafilatura.xpaths import AUTHOR_XPATHS

import worker.extract.byline as byline
from tests.worker.extract.test_fixtures import html_fixture_texts
from worker.extract.headline import Surroundings, around_headline
from worker.extract.page import _load_tree

BODY = "".join(
    f"<p class='story-body'>Paragraph {i} on the ferry timetable, changed for the winter months "
    f"after the council's vote on the harbour budget.</p>"
    for i in range(4)
)


def _tree(markup: str) -> HtmlElement:
    tree = _load_tree(f"<html><body><div id='main'>{markup}{BODY}</div></body></html>")
    assert tree is not None
    return tree


# Each way trafilatura's expressions name an author, as pages write them.
NAMED = [
    "<span class='author'>Ann Writer</span>",
    "<a rel='author' href='/ann'>Ann Writer</a>",
    "<div class='c-byline__AuthorName'>Ann Writer</div>",
    "<p itemprop='author name'>Ann Writer</p>",
    "<div data-testid='AuthorCard'>Ann Writer</div>",
    "<p class='byline'>Ann Writer</p>",
    "<h4 class='BBL'>Ann Writer</h4>",
    "<span id='zuozhe'>Ann Writer</span>",
    "<span class='posted-by'>Ann Writer</span>",
    "<section data-component='ArticleByline'>Ann Writer</section>",
    "<em class='screenname'>Ann Writer</em>",
    "<author>Ann Writer</author>",
    # a character reference in the attribute: the parsed value is what counts
    "<span class='&#97;uthor'>Ann Writer</span>",
]


@pytest.mark.parametrize("markup", NAMED)
def test_author_markup_is_searched(markup: str) -> None:
    tree = _tree(markup)
    assert byline._author_candidates(tree)
    assert byline._author_from_markup(tree) == extract_author(tree) == "Ann Writer"


@pytest.mark.parametrize(
    "markup",
    [
        "",
        "<p class='dateline'>HARBOUR TOWN</p>",
        # words of the search in text, scripts and other attributes do not count
        "<p>The author of the plan, a writer by trade</p><script>var author = 1;</script>",
        "<a href='/author/ann' title='byline'>Ann Writer</a>",
    ],
)
def test_pages_without_author_markup_are_not_searched(markup: str) -> None:
    tree = _tree(markup)
    assert not byline._author_candidates(tree)
    assert extract_author(tree) is None
    assert byline._author_from_markup(tree) is None


# Where the search on the candidates alone could part from trafilatura's on its pruned copy of
# the whole page: what the pruning deletes around and inside a byline, the order of the
# expressions, the length limit, and a tree that is one element of a larger document.
SAME_AS_TRAFILATURA = {
    "a byline in the comments is pruned with them": (
        "<div id='comments'><span class='author'>Commenter One</span></div>"
        "<span class='byline-name'>Ann Writer</span>"
    ),
    "a byline in a sidebar, then one in the article": (
        "<aside><div class='widget sidebar-box'><p class='author'>Site Owner</p></div></aside>"
        "<p class='author'>Ann Writer</p>"
    ),
    "a date and a figure inside the byline are deleted, their tails joined": (
        "<p class='author'>Ann <time>12 May</time>Wri<figure>x</figure>ter</p>"
    ),
    "the first expression wins over an earlier match of a later one": (
        "<em class='writer'>Early Match</em><span class='author'>Ann Writer</span>"
    ),
    "too long for a byline: the next match": (
        f"<span class='author'>{'Ann Writer wrote this very long text ' * 5}</span>"
        "<div class='byline'>Bo Reporter</div>"
    ),
    "too short: the next match": "<span class='author'>A</span><p class='author'>Bo Reporter</p>",
    "matches of one expression in document order": (
        "<span class='author'>Ann Writer</span><author>Bo Reporter</author>"
    ),
    "a rel child says 'me'": "<div><rel>me</rel>Ann Writer</div>",
    "nested candidates": (
        "<div class='author-box'><span class='author-name'>Ann Writer</span> and more</div>"
    ),
    # names lxml's API refuses for a new element: the element is copied whole instead
    "attribute names of a template language": (
        "<span class='author' @click='open()' :class='x'>Ann Writer</span>"
    ),
    "a prefixed tag name": "<fb:byline class='author'>Ann Writer</fb:byline>",
    "upper case is not what the expressions test": "<span class='AUTHOR'>Ann Writer</span>",
    "a pruned ancestor with a candidate-free byline": (
        "<div class='sidebar'><span class='author'>Ann Writer</span></div>"
    ),
}


@pytest.mark.parametrize("markup", SAME_AS_TRAFILATURA.values(), ids=SAME_AS_TRAFILATURA.keys())
def test_same_author_as_trafilatura(markup: str) -> None:
    tree = _tree(markup)
    assert byline._author_from_markup(tree) == extract_author(tree)


@pytest.mark.parametrize(
    "markup",
    [
        # more candidates than the search on candidates takes
        "<span class='author'></span>" * 500 + "<p class='byline'>Ann Writer</p>",
        # nested candidates, each copy holding the rest: more copying than it takes
        "<div class='author'>x " * 200 + "</div>" * 200 + "<p class='byline'>Ann Writer</p>",
    ],
    ids=["many", "nested"],
)
def test_hostile_candidates_go_to_trafilaturas_one_pass(
    markup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its bounds, the search hands the page to trafilatura's own search, whose cost is
    one pass over the page (the candidates' would grow with their number, or its square)."""
    calls: list[HtmlElement] = []

    def counted(tree: HtmlElement) -> str | None:
        calls.append(tree)
        return extract_author(tree)

    monkeypatch.setattr(byline, "extract_author", counted)
    tree = _tree(markup)
    assert byline._author_from_markup(tree) == extract_author(tree)
    assert calls == [tree]


def test_only_the_given_tree_is_searched() -> None:
    """lxml can hand a page over as one element of a larger document (a fragment's single
    element); trafilatura's search copies that element, so a byline outside it is not seen."""
    document = _tree("<article><p class='author'>Ann Writer</p></article>")
    inner = document.find(".//div[@id='main']")
    assert inner is not None
    body = document.find(".//body")
    assert body is not None
    sibling = _load_tree("<html><body><p class='author'>Outside Name</p></body></html>")
    assert sibling is not None
    body.insert(0, sibling.find(".//p"))
    assert extract_author(inner) == byline._author_from_markup(inner) == "Ann Writer"
    assert extract_author(document) == byline._author_from_markup(document) == "Outside Name"


def _fixture_trees() -> list[HtmlElement]:
    return [tree for tree in map(_load_tree, html_fixture_texts()) if tree is not None]


@pytest.mark.parametrize("tree", _fixture_trees())
def test_same_author_as_trafilatura_on_the_fixtures(tree: HtmlElement) -> None:
    assert byline._author_from_markup(tree) == extract_author(tree)


def test_the_words_cover_trafilaturas_expressions() -> None:
    """Every attribute, literal and element name in ``AUTHOR_XPATHS`` is one the pre-check
    looks at: this fails when a trafilatura release searches for something new."""
    for expression in AUTHOR_XPATHS:
        path = expression.path
        assert set(re.findall(r"@([\w-]+)", path)) <= set(byline._AUTHOR_ATTRIBUTE_NAMES)
        for literal in re.findall(r"'([^']*)'", path):
            for alternative in literal.split("|"):
                plain = re.sub(r"\[(\w)\w*\]", r"\1", alternative).lower()  # [Aa]uthor
                covered = any(word in plain for word in byline._AUTHOR_WORDS)
                assert covered or (literal == "me" and "rel='me'" in path), alternative
        # names left once attributes, literals, the candidates' own tags and XPath's words
        # are taken out: elements tested by name, which the pre-check looks for
        bare = re.sub(r"'[^']*'|@[\w-]+|self::\w+|re:test|contains|\b(?:or|and)\b", " ", path)
        assert set(re.findall(r"[A-Za-z][\w-]*", bare)) <= {"author", "rel"}


@pytest.mark.parametrize(
    ("names", "page", "expected"),
    [
        # trafilatura's normalization took the dots out; the page has them.
        (["Leah C Stokes"], '<meta name="author" content="Leah C. Stokes">', ["Leah C. Stokes"]),
        (["R C Baker"], "<span>By R.C. BAKER</span>", ["R. C. Baker"]),  # trafilatura's case
        (
            ["T V Raman", "Anna Berg"],
            "<p>T. V. Raman and Anna Berg</p>",
            ["T. V. Raman", "Anna Berg"],
        ),
        (["Perry Bacon Jr"], "by Perry Bacon Jr.</a>", ["Perry Bacon Jr."]),
        (["Joe S"], '"author": "Joe S."', ["Joe S."]),
        # A full word's dot ends a sentence; no initial, nothing looked for.
        (["Leah C Stokes"], "<p>Written by Leah C Stokes.</p>", ["Leah C Stokes"]),
        (["Anna Berg"], "Anna. Berg", ["Anna Berg"]),
        # Only the same words in the same order, standing alone.
        (["Leah C Stokes"], "Leah C. Stokesberry, Leah D. Stokes", ["Leah C Stokes"]),
        (["C Stokes"], "XC. Stokes", ["C Stokes"]),
        (["Leah C Stokes"], "", ["Leah C Stokes"]),
    ],
)
def test_with_initials(names: list[str], page: str, expected: list[str]) -> None:
    assert byline.with_initials(names, page) == expected


HEADLINE = "Night trains return to the coast line"


def _around(below: str, above: str = "") -> Surroundings:
    tree = _load_tree(
        f"<html><head><title>{HEADLINE} | Riverside Notes</title></head><body>"
        f"<nav><a href='/'>Home</a></nav>{above}<h1>{HEADLINE}</h1>{below}{BODY}</body></html>"
    )
    assert tree is not None
    return around_headline(tree)


@pytest.mark.parametrize(
    ("below", "above", "expected"),
    [
        ("<p>By Ann Writer | 3 June 2024</p>", "", ["Ann Writer"]),
        ("<p>Von Justus von Daniels, 03.06.2024</p>", "", ["Justus von Daniels"]),
        ("<p>Par Matthieu Hy le 7 mai 2020</p>", "", ["Matthieu Hy"]),
        # the label and the name in texts of their own: a linked name, a blog's handle
        (
            "<p><time>3 June 2024</time> · by <a href='/u/tim'>Tim Anderson</a></p>",
            "",
            ["Tim Anderson"],
        ),
        ("<p>Posted on <time>2015-04-05</time> by <a href='/u/marc'>marc</a></p>", "", ["marc"]),
        ("<p>Autor: <a href='/u/g'>gnaddrig</a></p>", "", ["gnaddrig"]),
        # a press office's "Redaktion:", plural labels
        (
            "<p>3. Juni 2024 - Redaktion: Eva Fuhr (Pressesprecherin)</p>",
            "",
            ["Eva Fuhr"],
        ),
        ("<p>Autoren: Jan Djuren und Eva Klaukien</p>", "", ["Jan Djuren", "Eva Klaukien"]),
        ("<p>Authors: Ann Writer, Tim Anderson</p>", "", ["Ann Writer", "Tim Anderson"]),
        ("<p>Redaktionsschluss ist Montag</p>", "", []),
        # a caption over the name, no colon: a person's name of two words or more only
        ("<p>Autor</p><p>Mark Newton:</p>", "", ["Mark Newton"]),
        ("<p>Autor</p><p>Suche</p>", "", []),
        ("<p>Author</p><p>newsletter signup form here</p>", "", []),
        ("<p>Autor</p><p>" + "Ann Writer, " * 30 + "Tim Anderson</p>", "", []),
        # several names
        (
            "<p>Von Volkmar Kabisch, Jan Lukas Strozyk und Benedikt Strunz, NDR</p>",
            "",
            ["Volkmar Kabisch", "Jan Lukas Strozyk", "Benedikt Strunz", "NDR"],
        ),
        # above the headline when nothing below names anyone
        ("<p>The operator said on Tuesday.</p>", "<p>By Ann Writer</p>", ["Ann Writer"]),
        # prose, a photo credit: no byline
        ("<p>Von Berlin nach Hamburg fahren die Züge wieder.</p>", "", []),
        ("<p>By Tuesday, the trains will run again.</p>", "", []),
        ("<p>Di Jakarta, kereta malam kembali.</p>", "", []),
        ("<p>Von Thilo, 6. November 2023</p>", "", ["Thilo"]),
        # a date, then the label in the same text
        ("<p>Posted on September 21, 2020 by Adi Tzlil</p>", "", ["Adi Tzlil"]),
        ("<p>06.11.2023 13:30 von Olga</p>", "", ["Olga"]),
        ("<p>10-in-1 Trockenshampoos von Wellaflex</p>", "", []),
        ("<p>By the time the trains return, the line will be electrified.</p>", "", []),
        ("<p>Photo by Ann Writer on Unsplash</p>", "", []),
        ("<p>by <a href='/u/x'>6 years ago</a></p>", "", []),
        # an outlet's desk is the byline where no person signed
        ("<p>Von Redaktion, 3. Juni 2024</p>", "", ["Redaktion"]),
        ("<p>by <a href='/u/x'>se</a></p>", "", []),
        # "y" joins two names; it is not read as a particle inside one
        ("<p>Por Isabel Caro y Rocío Latorre</p>", "", ["Isabel Caro", "Rocío Latorre"]),
        # a paragraph is not a byline, however it starts (nor read: it bounds the expressions)
        ("<p>By " + "Ann Writer, " * 30 + "and others</p>", "", []),
        ("<p>by</p><p>" + "Ann Writer, " * 30 + "and others</p>", "", []),
    ],
)
def test_shown_authors(below: str, above: str, expected: list[str]) -> None:
    assert byline.shown_authors(_around(below, above)) == expected


def test_no_headline_no_shown_byline() -> None:
    assert byline.shown_authors(Surroundings()) == []


@pytest.mark.parametrize(
    ("found", "shown", "expected"),
    [
        # the markup named a commenter, the outlet, a CMS account: the byline wins
        (["Art Edwards says"], ["Tim Anderson"], ["Tim Anderson"]),
        (["Tagesschau De"], ["Volkmar Kabisch", "NDR"], ["Volkmar Kabisch", "NDR"]),
        # the same person: the markup's list stands, spelt as the page shows the name
        (
            ["Lars Fischer", "Alina Schadwinkel"],
            ["Lars Fischer"],
            ["Lars Fischer", "Alina Schadwinkel"],
        ),
        (["Zahlenzauberin"], ["zahlenzauberin"], ["zahlenzauberin"]),
        (["Pamela Anderson"], ["Pamela"], ["Pamela Anderson"]),
        (["Todd", "Ann Writer"], ["Todd Bates"], ["Todd Bates", "Ann Writer"]),
        (["Jim Heintz"], ["JIM HEINTZ Associated Press"], ["Jim Heintz"]),
        # either side empty
        ([], ["Ann Writer"], ["Ann Writer"]),
        (["Ann Writer"], [], ["Ann Writer"]),
    ],
)
def test_prefer_shown(found: list[str], shown: list[str], expected: list[str]) -> None:
    assert byline.prefer_shown(found, shown) == expected


@pytest.mark.parametrize(
    ("names", "page", "expected"),
    [
        # trafilatura capitalised a handle the page writes in lowercase
        (["Karstenruppert"], "<span>von karstenruppert</span>", ["karstenruppert"]),
        (["Der Michel"], "<a>der\n Michel</a>", ["der Michel"]),
        # the page writes the name as it is (too): nothing changes
        (["Ann Writer"], "<meta content='ANN WRITER'><p>By Ann Writer</p>", ["Ann Writer"]),
        # two other spellings: no way to tell which one
        (["Ann Writer"], "<p>ANN WRITER</p><p>ann writer</p>", ["Ann Writer"]),
        # only whole words, and never another letter
        (["Ann"], "<p>Annabel</p>", ["Ann"]),
        # a person's name written all in lowercase is a slug's or an index's, not the byline
        (["Ann Writer"], "<script>{'author': 'ann writer'}</script>", ["Ann Writer"]),
        (["Gabor Munier"], "<p>Gàbor Muniér</p>", ["Gabor Munier"]),
    ],
)
def test_with_page_case(names: list[str], page: str, expected: list[str]) -> None:
    assert byline.with_page_case(names, page) == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Locks reopen - zeit.de", "zeit.de"),
        ("Historischer Markt - Wehranlage Horka e.V.", "Wehranlage Horka e.V."),
        # a person's initials and a closing full stop are not a host's dots
        ("Love is War - Sehnsucht von R. K. Lilley", None),
        ("Locks reopen - The harbour is open again.", None),
    ],
)
def test_the_site_name_in_the_title_holds_a_host_or_an_abbreviation(
    title: str, expected: str | None
) -> None:
    tree = _load_tree(f"<html><head><title>{title}</title></head><body><p>Text</p></body></html>")
    assert tree is not None
    assert byline.read_byline(tree).sitename == expected
