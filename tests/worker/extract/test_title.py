"""worker.extract.title: what is taken off a page's title, and on what evidence."""

from __future__ import annotations

import lxml.html
import pytest

from worker.extract.site import SiteNames
from worker.extract.title import clean_title, page_headings

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
    # ... unless it would leave out a longer part: a logo set in <h1> is not the headline.
    ("Locks reopen after the storm | Evening Post", None, None, ["Evening Post"],
     "Locks reopen after the storm | Evening Post"),
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
    assert clean_title(title, site=site_names, headings=headings) == expected


def test_the_canonical_link_names_the_site_too() -> None:
    urls = ["https://cdn.example.net/p/123", "https://www.harbourtimes.example/a"]
    site = SiteNames(None, urls)
    assert clean_title("Locks reopen | harbourtimes.example", site=site, headings=[]) == (
        "Locks reopen"
    )


def test_unreadable_urls_are_no_evidence() -> None:
    urls = ["http://[::1", None, ""]
    title = "Locks reopen | Evening Post"
    assert clean_title(title, site=SiteNames(None, urls), headings=[]) == title


def test_page_headings_reads_the_first_h1s() -> None:
    h1s = "".join(f"<h1>Heading <b>{i}</b>\n</h1>" for i in range(8))
    tree = lxml.html.fromstring(f"<html><body><h1> </h1>{h1s}<h2>Not this</h2></body></html>")
    assert page_headings(tree) == [f"Heading {i}" for i in range(5)]


def test_a_title_of_many_parts_is_not_searched_for_its_heading() -> None:
    # Every run of parts is a candidate: a hostile title of hundreds of parts is left whole
    # (searched, it would take seconds), one of a dozen is searched.
    many = " - ".join(["a"] * 600 + ["Locks reopen"])
    assert clean_title(many, site=SiteNames(None, []), headings=["Locks reopen"]) == many
    dozen = " - ".join(["a"] * 11 + ["Locks reopen after the storm"])
    headings = ["Locks reopen after the storm"]
    assert clean_title(dozen, site=SiteNames(None, []), headings=headings) == headings[0]
