"""Whether a piece of a page's metadata names the site itself rather than an article's title
or author: the same letters as the page's site name or host, or a short piece holding the
host's name.

Usage::

    site = SiteNames("The Harbour Times", ["https://www.harbourtimes.example/a/1"])
    site.named_by("THE HARBOUR-TIMES")      # True: same letters as the site name
    site.named_by("harbourtimes.example")   # True: the host
    site.named_by("The Harbour Times Ltd")  # True: a short part holding the host's name
    site.without(["The Harbour Times", "Anna Berg"])  # ["Anna Berg"]
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from worker.urls import host_of

DEFAULT_SITE_PART_WORDS = 4
"""A piece longer than this many words is not taken for a site name because it holds the
host's name ("The Japan Times" is; a headline about Japan Times' owners is not)."""

DEFAULT_HOST_LABEL_CHARS = 4
"""Host labels shorter than this ("co", "www", "orf") are not looked for inside a piece."""


class SiteNames:
    """The ways a page names its site: ``site_name`` (``og:site_name``, ``application-name``,
    a ``twitter:site`` handle) and the hosts of ``urls`` (its address, its canonical link)."""

    def __init__(self, site_name: str | None, urls: Iterable[str | None]) -> None:
        self._sites = {letters(site_name.lstrip("@"))} - {""} if site_name else set()
        self._hosts: set[str] = set()
        self._labels: set[str] = set()
        # Shorter labels ("swr", "bbc", "orf") count as an author's first word only ("SWR
        # Sport", "BBC News"): inside a word they are anyone's letters ("Dorfmann").
        self._short_labels: set[str] = set()
        for url in urls:
            # As the rest of Storywire spells a host (lowercase, punycode decoded), "www." off.
            host = host_of(url).removeprefix("www.") if url else ""
            if host:
                self._hosts.add(letters(host))
                for label in host.split(".")[:-1]:
                    if len(label) >= DEFAULT_HOST_LABEL_CHARS:
                        self._labels.add(letters(label))
                    elif len(label) == DEFAULT_HOST_LABEL_CHARS - 1:
                        self._short_labels.add(letters(label))
        for found in (self._hosts, self._labels, self._short_labels):
            found.discard("")

    def named_by(self, piece: str) -> bool:
        """Whether ``piece`` names the site (a piece of punctuation only counts as one)."""
        found = letters(piece)
        if not found or found in self._sites or found in self._hosts:
            return True
        return len(piece.split()) <= DEFAULT_SITE_PART_WORDS and any(
            label in found for label in self._labels
        )

    def without(self, names: list[str]) -> list[str]:
        """``names`` without those naming the site, or led by a short label of its host
        ("SWR Sport" on swr.de), unless that would leave none: a blog's author is often its
        site's name, an article's is a person beside the outlet."""
        kept = [name for name in names if not self.named_by(name) and not self._led_by(name)]
        return kept or names

    def _led_by(self, name: str) -> bool:
        words = name.replace("-", " ").split()
        return bool(words) and letters(words[0]) in self._short_labels


def letters(text: str) -> str:
    """The letters and digits of ``text``, case-folded: "The Japan-Times" -> "thejapantimes"."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if c.isalnum())
