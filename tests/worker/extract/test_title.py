"""worker.extract.title: what is taken off a page's title, and on what evidence."""

from __future__ import annotations

import lxml.html
import pytest

from worker.extract.site import SiteNames
from worker.extract.title import PageHeadings, clean_title, page_headings

URL = "https://www.harbourtimes.example/port/locks-reopen"

# (title, site name, page URL, <h1> texts, expected)
CASES = [
    # The site's name, as the page names it, after or before the headline.
    ("Locks reopen | The Harbour Times", "The Harbour Times", None, [], "Locks reopen"),
    ("The Harbour Times - Locks reopen", "The Harbour Times", None, [], "Locks reopen"),
    ("Locks reopen \u2013 THE HARBOUR-TIMES", "The Harbour Times", None, [], "Locks reopen"),
    ("Locks reopen | Harbour Times", "@HarbourTimes", None, [], "Locks reopen"),
    # The host, whole or as the name inside a short part.
    ("Locks reopen \u203a harbourtimes.example", None, URL, [], "Locks reopen"),
    ("Locks reopen | The Harbour Times", None, URL, [], "Locks reopen"),
    ("Locks reopen - Port - The Harbour Times", None, URL, [], "Locks reopen - Port"),
    # Several parts naming the site, and a part of punctuation only.
    ("Locks reopen | Harbour Times | harbourtimes.example", "Harbour Times", URL, [],
     "Locks reopen"),
    ("Locks reopen | ***", None, None, [], "Locks reopen"),
    ("HARBOUR TIMES|Locks reopen", "Harbour Times", None, [], "Locks reopen"),
    ("Locks reopen \u22c6 The Harbour Times", "The Harbour Times", None, [], "Locks reopen"),
    # A long part is a headline, even one about the site.
    (
        "Harbour Times owners agree to sell the paper to a rival group | Media",
        None,
        URL,
        [],
        "Harbour Times owners agree to sell the paper to a rival group | Media",
    ),
    # The page's own headline picks the run of parts it spells ...
    ("Port | Locks reopen after storm | Evening Post", None, None,
     ["Locks reopen after storm"], "Locks reopen after storm"),
    ("Locks reopen after storm - Evening Post", None, None,
     ["  Locks reopen\n after storm "], "Locks reopen after storm"),
    # A kicker before a colon goes only when the <h1> spells the rest.
    ("Analysis: Locks reopen after the storm", None, None, ["Locks reopen after the storm"],
     "Locks reopen after the storm"),
    ("Analysis: Locks reopen after the storm", None, None, [],
     "Analysis: Locks reopen after the storm"),
    ("Port: Locks reopen at 12:30 | Evening Post", None, None, ["Locks reopen at 12:30"],
     "Locks reopen at 12:30"),
    # A run leaving out a longer part: an <h1> of two words or more, not a kicker. A one-word
    # logo set in <h1> is not the headline; "headline | the site's longer description" is.
    ("Locks reopen after the storm | Harbourpost", None, None, ["Harbourpost"],
     "Locks reopen after the storm | Harbourpost"),
    ("Locks reopen | News and views from the harbour towns", None, None, ["Locks reopen"],
     "Locks reopen"),
    ("Port authority: Locks reopen after the storm", None, None, ["Port authority"],
     "Port authority: Locks reopen after the storm"),
    # The title as the headline spells it: the same letters and words, the page's quotes.
    ("\"Locks reopen\" - Evening Post", None, None, ["\u201eLocks reopen\u201c"],
     "\u201eLocks reopen\u201c"),
    ("Ferry timetable - May to June | Evening Post", None, URL,
     ["Ferry timetable \u2013 May to June"], "Ferry timetable \u2013 May to June"),
    # No evidence, nothing taken off; words with inner hyphens or slashes are not parts.
    ("Locks reopen | Evening Post", "Harbour Times", URL, [], "Locks reopen | Evening Post"),
    ("Coca-Cola opens a 24/7 depot", None, None, [], "Coca-Cola opens a 24/7 depot"),
    ("« Non » à la fermeture du port", None, None, [], "« Non » à la fermeture du port"),
    # Every part names the site: one is kept.
    ("The Harbour Times | harbourtimes.example", "The Harbour Times", URL, [], "The Harbour Times"),
    ("The Harbour Times", "The Harbour Times", URL, [], "The Harbour Times"),
    (None, "The Harbour Times", URL, [], None),
    ("", None, None, [], ""),
]  # fmt: skip


@pytest.mark.parametrize(("title", "site", "url", "headings", "expected"), CASES)
def test_clean_title(
    title: str | None, site: str | None, url: str | None, headings: list[str], expected: str | None
) -> None:
    site_names = SiteNames(site, [url])
    assert clean_title(title, site=site_names, headings=PageHeadings(headings)) == expected


def test_a_sidebar_h2_is_not_the_headline_over_a_longer_part() -> None:
    title = "Locks reopen after the storm | Local News | Evening Post"
    headings = PageHeadings(h1=[], h2=["Local News", "Most read"])
    assert clean_title(title, site=SiteNames(None, []), headings=headings) == title
    headings = PageHeadings(h1=[], h2=["Locks reopen after the storm"])
    assert clean_title(title, site=SiteNames(None, []), headings=headings) == headings.h2[0]


def test_the_canonical_link_names_the_site_too() -> None:
    urls = ["https://cdn.example.net/p/123", "https://www.harbourtimes.example/a"]
    site = SiteNames(None, urls)
    assert clean_title(
        "Locks reopen | harbourtimes.example", site=site, headings=PageHeadings([])
    ) == ("Locks reopen")


def test_unreadable_urls_are_no_evidence() -> None:
    urls = ["http://[::1", None, ""]
    title = "Locks reopen | Evening Post"
    assert clean_title(title, site=SiteNames(None, urls), headings=PageHeadings([])) == title


def test_page_headings_reads_the_first_h1s_and_h2s() -> None:
    h1s = "".join(f"<h1>Hea\u00adding <b>{i}</b>\n</h1>" for i in range(8))
    h2s = "<h2>" + "Broken markup " * 200 + "</h2>" + "".join(f"<h2>Sub {i}</h2>" for i in range(7))
    tree = lxml.html.fromstring(f"<html><body><h1> </h1>{h1s}{h2s}<h3>Not this</h3></body></html>")
    found = page_headings(tree)
    assert found.h1 == [f"Heading {i}" for i in range(5)]
    assert found.h2 == [f"Sub {i}" for i in range(5)]


def test_a_title_of_many_parts_is_not_searched_for_its_heading() -> None:
    # Every run of parts is a candidate: a hostile title of hundreds of parts is left whole
    # (searched, it would take seconds), one of a dozen is searched.
    many = " - ".join(["a"] * 600 + ["Locks reopen"])
    headings = PageHeadings(["Locks reopen"])
    assert clean_title(many, site=SiteNames(None, []), headings=headings) == many
    dozen = " - ".join(["a"] * 11 + ["Locks reopen after the storm"])
    headings = PageHeadings(["Locks reopen after the storm"])
    assert clean_title(dozen, site=SiteNames(None, []), headings=headings) == headings.h1[0]


def test_a_title_naming_only_the_site_gives_way_to_the_pages_title() -> None:
    site = SiteNames(None, ["https://seelenradio.example/nummer-zwei"])
    headings = PageHeadings(
        h1=["seelenradio"],
        h2=["Nummer zwei: Leo", "Kommentare"],
        titles=["seelenradio \u00bb Nummer zwei: Leo"],
    )
    assert clean_title("seelenradio", site=site, headings=headings) == "Nummer zwei: Leo"
    # Only on a heading's evidence: a page title that no heading spells is not taken.
    unspelled = headings._replace(h2=["Kommentare"])
    assert clean_title("seelenradio", site=site, headings=unspelled) == "seelenradio"


def test_a_title_no_page_title_holds_gives_way_to_the_pages_title() -> None:
    """trafilatura takes a category's or a menu's <h1> for the title; the page's own
    titles, which a heading spells, name the article."""
    site = SiteNames(None, ["https://blog.example/malaga"])
    headings = PageHeadings(
        h1=["Allgemein"],
        h2=["Malaga, die quirlige Metropole", "Kommentare"],
        titles=["Malaga, die quirlige Metropole \u2013 Reiseblog", "Malaga"],
    )
    assert clean_title("Allgemein", site=site, headings=headings) == (
        "Malaga, die quirlige Metropole"
    )
    # A title the page's titles hold stays, whatever the headings (an SEO <title>).
    held = headings._replace(titles=["Allgemein: Malaga, die quirlige Metropole"])
    assert clean_title("Allgemein", site=site, headings=held) == "Allgemein"
    # Only on a heading's evidence, as for the site's name.
    unspelled = headings._replace(h2=["Kommentare"])
    assert clean_title("Allgemein", site=site, headings=unspelled) == "Allgemein"
    # No page titles at all: nothing to give way to.
    assert clean_title("Allgemein", site=site, headings=headings._replace(titles=())) == (
        "Allgemein"
    )


def test_page_headings_reads_the_pages_titles() -> None:
    tree = lxml.html.fromstring(
        "<html><head><title> Locks reopen |\n Evening Post</title>"
        "<meta property='og:title' content='Locks reopen'></head>"
        "<body><svg><title>icon</title></svg><h1>Locks reopen</h1></body></html>"
    )
    assert page_headings(tree).titles == ["Locks reopen | Evening Post", "Locks reopen"]


@pytest.mark.parametrize(
    ("title", "h1", "expected"),
    [
        # the title spells the only <h1> and a little more: the <h1> is the headline
        ("Schneewittchen-Kuchen mit Mini-Marshmallows Rezept",
         "Schneewittchen-Kuchen mit Mini-Marshmallows",
         "Schneewittchen-Kuchen mit Mini-Marshmallows"),
        ("Receita de Sequilho com Chocolate Amargo", "Sequilho com Chocolate Amargo",
         "Sequilho com Chocolate Amargo"),
        # not a short one (a section), one word, the site's name, nor one holding more
        ("Locks reopen after the storm at the harbour", "Harbour news",
         "Locks reopen after the storm at the harbour"),
        ("Locks reopen Lockdown", "Locks", "Locks reopen Lockdown"),
        ("Locks reopen Harbour Times", "Harbour Times", "Locks reopen Harbour Times"),
        ("Locks reopen", "Locks reopen after the storm", "Locks reopen"),
    ],
)  # fmt: skip
def test_the_only_h1_inside_the_title(title: str, h1: str, expected: str) -> None:
    site = SiteNames("Harbour Times", [URL])
    assert clean_title(title, site=site, headings=PageHeadings([h1])) == expected
    # among several <h1>, none is known to be the headline
    several = PageHeadings([h1, "Most read"])
    assert clean_title(title, site=site, headings=several) == title


@pytest.mark.parametrize(
    ("title", "h1", "expected"),
    [
        # og:title typed for search or sharing; the <h1> is the headline the reader sees
        ("Brexit: Nervenkrieg geht in nächste Runde",
         "Der Nervenkrieg um den Brexit geht in die nächste Runde",
         "Der Nervenkrieg um den Brexit geht in die nächste Runde"),
        ("Dead Skin Cells Might Actually Be A Good Thing",
         "Wait, are dead skin cells actually a good thing?",
         "Wait, are dead skin cells actually a good thing?"),
        # a blog's name in <h1>: no word of the title in it
        ("Interning of Small Integers in Python", "Four Years Remaining",
         "Interning of Small Integers in Python"),
        # a topic page's heading: a shared word, but under half the title's letters
        ("Election results 2024: live updates from every state", "Election 2024",
         "Election results 2024: live updates from every state"),
        # the site's name leading the <h1>
        ("Kinder und Arbeit", "ProNATs e.V. Verein zur Unterstützung arbeitender Kinder",
         "Kinder und Arbeit"),
        # one word
        ("Schleusen: Verkehr wieder frei", "Schleusen", "Schleusen: Verkehr wieder frei"),
    ],
)  # fmt: skip
def test_the_only_h1_words_the_headline_otherwise(title: str, h1: str, expected: str) -> None:
    site = SiteNames(None, ["https://www.pronats.example/kinder-und-arbeit"])
    assert clean_title(title, site=site, headings=PageHeadings([h1])) == expected
    # the first <h1> among several; a later one may be a related story's headline
    assert clean_title(title, site=site, headings=PageHeadings([h1, "Most read"])) == expected
    assert clean_title(title, site=site, headings=PageHeadings(["Most read", h1])) == title


def test_a_title_cut_at_a_double_quote_is_read_whole() -> None:
    """``content="Senator calls Biden "unfit""``: the attribute ends where the quote opens."""
    headings = PageHeadings(
        [], ['Senator calls Biden "unfit"', "Most read"], titles=["Senator calls Biden "]
    )
    cut = "Senator calls Biden"
    assert clean_title(cut, site=SiteNames(None, [URL]), headings=headings) == (
        'Senator calls Biden "unfit"'
    )
    # The <title> with the site's name after it: taken off as ever.
    titled = PageHeadings([], [], titles=['Senator calls Biden "unfit" | Harbour Times'])
    assert clean_title(cut, site=SiteNames("Harbour Times", [URL]), headings=titled) == (
        'Senator calls Biden "unfit"'
    )
    # A longer heading that goes on otherwise is not the cut title's rest.
    other = PageHeadings([], ["Senator calls Biden unfit to serve"], titles=[cut])
    assert clean_title(cut, site=SiteNames(None, [URL]), headings=other) == cut
