"""worker.extract.site: what names a page's site, and the authors that are only the site."""

from __future__ import annotations

import pytest

from worker.extract.site import SiteNames, letters

URLS = ["https://www.harbourtimes.example/port/1", "https://amp.harbour-news.example/p/1"]


@pytest.mark.parametrize(
    ("piece", "named"),
    [
        ("The Harbour Times", True),  # the site name, same letters
        ("the harbour-times", True),
        ("harbourtimes.example", True),  # a host, www. aside
        ("amp.harbour-news.example", True),
        ("Harbour News Online", True),  # a short piece holding a host's label
        ("***", True),  # punctuation only
        ("Harbour News owners sell the paper to a rival", False),  # too long for a name
        ("Anna Berg", False),
        ("Port", False),
    ],
)
def test_named_by(piece: str, named: bool) -> None:
    assert SiteNames("The Harbour Times", URLS).named_by(piece) is named


def test_handles_and_short_labels() -> None:
    site = SiteNames("@HarbourTimes", ["https://orf.example/a", None, "http://[::1"])
    assert site.named_by("Harbour Times")
    assert site.named_by("orf.example")  # the whole host, however short
    assert not site.named_by("ORF Wien")  # a label under four letters is not looked for


def test_without_keeps_people_and_never_empties() -> None:
    site = SiteNames("The Harbour Times", URLS)
    assert site.without(["The Harbour Times", "Anna Berg"]) == ["Anna Berg"]
    assert site.without(["Anna Berg", "Harbour News"]) == ["Anna Berg"]
    # A blog's author is often its own name: then it stays.
    assert site.without(["The Harbour Times"]) == ["The Harbour Times"]
    assert site.without([]) == []


def test_an_author_led_by_a_short_label_is_the_outlet() -> None:
    """ "SWR Sport" beside a person on swr.example: a label under four letters names the site
    as a byline's first word (never inside a word: "Dorfmann"), among authors only."""
    site = SiteNames(None, ["https://www.swr.example/sport/a", "https://orf.example/b"])
    assert site.without(["SWR Sport", "Julius Richter"]) == ["Julius Richter"]
    assert site.without(["ORF-Wien", "Dorfmann Anna"]) == ["Dorfmann Anna"]
    assert site.without(["Anna Swr"]) == ["Anna Swr"]
    assert site.without(["SWR Sport"]) == ["SWR Sport"]  # never empties
    assert not site.named_by("SWR Sport")  # a title's part is not judged by it


def test_letters() -> None:
    full_width_tokyo = "\uff34\uff4f\uff4b\uff59\uff4f"
    assert letters(f"The Japan-Times, {full_width_tokyo}") == "thejapantimestokyo"


def test_hosts_are_spelled_as_storywire_spells_them() -> None:
    # worker.urls.host_of: lowercase, punycode decoded, so the page's own spelling matches.
    site = SiteNames(None, ["https://WWW.xn--mnchner-zeitung-zvb.example/a"])
    assert site.named_by("münchner-zeitung.example")
    assert site.named_by("Münchner Zeitung Online")  # a short piece holding the label
