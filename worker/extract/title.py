"""A page's headline out of its ``<title>``: the site's name and other parts taken off.

Usage::

    clean_title("Locks reopen | The Harbour Times", site_name="The Harbour Times",
                urls=["https://harbourtimes.example/a/1"], headings=[])
    # -> "Locks reopen"

Pages title themselves "headline | site", "site - headline", "headline - section - site".
trafilatura keeps the whole ``<title>`` (or ``og:title``) when that is all the page has, and
a stored title with the outlet's name in it is wrong twice: for the consumers that show it,
and for the story step, which weighs title words above the body's (every article of an
outlet would share its name's terms). A part is only taken off on evidence from the page
itself, never because of its position alone:

1. A first or last part that *names the site*: the same letters and digits (case, spacing
   and punctuation aside) as the page's site name (``og:site_name``, ``application-name``)
   or its host ("evang.at"), or a short part holding the host's name ("The Japan Times" on
   japantimes.co.jp).
2. Then, if what is left still has parts, the run of them that the page's ``<h1>`` spells
   (its own headline), provided no part it leaves out is longer: a site logo set in an
   ``<h1>`` must not become the title.

On the trafilatura evaluation pages with a gold title (``bench/extraction_eval.py``), exact
titles went from 0.587 to 0.715 on the half the rules were chosen on and from 0.567 to 0.699
on the other half (docs/extraction.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from lxml.html import HtmlElement

# Separators only between spaces: "Coca-Cola" and "24/7" are words, " - " and " | " are not.
# Dashes (en, em), middle dot, bullet, single and double right-pointing angle quotes.
_SEPARATOR = re.compile(r"(\s+(?:\||-|\u2013|\u2014|\u00b7|\u2022|\u203a|\u00bb|::|/|~|\\)\s+)")

DEFAULT_SITE_PART_WORDS = 4
"""A title part longer than this many words is not taken for a site name because it holds
the host's name ("The Japan Times" is; a headline about Japan Times' owners is not)."""

DEFAULT_HOST_LABEL_CHARS = 4
"""Host labels shorter than this ("co", "www", "orf") are not looked for inside a part."""

DEFAULT_HEADINGS = 5
"""How many of a page's ``<h1>`` elements its headline is looked for among."""


def clean_title(
    title: str | None,
    *,
    site_name: str | None,
    urls: Iterable[str | None],
    headings: Sequence[str],
) -> str | None:
    """``title`` without the parts that name the site (``site_name``, the hosts of ``urls``:
    the page's address and its canonical link), or the run of its parts that one of the
    page's ``headings`` spells. A title with one part, or whose parts all name the site, is
    returned as it is."""
    if not title:
        return title
    pieces = _SEPARATOR.split(title)
    parts, separators = pieces[0::2], pieces[1::2]
    if len(parts) < 2:
        return title
    sites = {_letters(site_name.lstrip("@"))} - {""} if site_name else set()
    hosts = _host_keys(urls)
    while len(parts) > 1 and _names_site(parts[-1], sites, hosts):
        parts.pop()
        separators.pop()
    while len(parts) > 1 and _names_site(parts[0], sites, hosts):
        parts.pop(0)
        separators.pop(0)
    if len(parts) > 1:
        headline = _headline_run(parts, separators, {_letters(h) for h in headings} - {""})
        if headline is not None:
            return headline
    return _join(parts, separators, 0, len(parts))


def page_headings(tree: HtmlElement) -> list[str]:
    """The texts of a parsed page's first ``DEFAULT_HEADINGS`` ``<h1>`` elements."""
    found = []
    for element in tree.iter("h1"):
        text = " ".join(element.text_content().split())
        if text:
            found.append(text)
            if len(found) == DEFAULT_HEADINGS:
                break
    return found


def _headline_run(parts: list[str], separators: list[str], headings: set[str]) -> str | None:
    """The longest run of ``parts`` (not all of them) that a heading spells, and that leaves
    out no part longer than itself."""
    best: str | None = None
    for start in range(len(parts)):
        for end in range(start + 1, len(parts) + 1):
            if end - start == len(parts):
                continue
            run = _join(parts, separators, start, end)
            left_out = parts[:start] + parts[end:]
            if any(len(part) > len(run) for part in left_out):
                continue
            if _letters(run) in headings and (best is None or len(run) > len(best)):
                best = run
    return best


def _join(parts: list[str], separators: list[str], start: int, end: int) -> str:
    """``parts[start:end]`` with the separators that stood between them."""
    joined = parts[start]
    for i in range(start + 1, end):
        joined += separators[i - 1] + parts[i]
    return joined


def _names_site(part: str, sites: set[str], hosts: tuple[set[str], set[str]]) -> bool:
    letters = _letters(part)
    if not letters:  # a part of punctuation only ("Headline | ***")
        return True
    whole_hosts, labels = hosts
    if letters in sites or letters in whole_hosts:
        return True
    return len(part.split()) <= DEFAULT_SITE_PART_WORDS and any(
        label in letters for label in labels
    )


def _host_keys(urls: Iterable[str | None]) -> tuple[set[str], set[str]]:
    """The hosts of ``urls`` as letters ("evangat" for www.evang.at), and the labels of
    each host but its last that are long enough to look for inside a part ("evang")."""
    whole: set[str] = set()
    labels: set[str] = set()
    for url in urls:
        if not url:
            continue
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            continue
        host = host.removeprefix("www.")
        if not host:
            continue
        whole.add(_letters(host))
        labels.update(
            _letters(label)
            for label in host.split(".")[:-1]
            if len(label) >= DEFAULT_HOST_LABEL_CHARS
        )
    return whole - {""}, labels - {""}


def _letters(text: str) -> str:
    """The letters and digits of ``text``, case-folded: "The Japan-Times" -> "thejapantimes"."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if c.isalnum())
