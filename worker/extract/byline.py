"""Title, authors, description and site name of a page, by trafilatura's own readers.

Usage::

    from worker.extract.byline import read_byline

    byline = read_byline(tree)
    byline.title, byline.author, byline.description, byline.sitename

The same readers, in the same order, as ``trafilatura.extract_metadata`` (meta tags and
OpenGraph, then JSON-LD, then the page's ``<h1>``/``<title>`` and byline markup) without
what that function adds and Storywire does not use: categories, tags, licence and URL
detection, and an htmldate scan of every page (dates are :mod:`worker.extract.dates`'s
job, which scans only the pages nothing else dates). Together those cost about a fifth of
an extraction (``docs/extraction.md``). Only reads the tree: the readers copy what they prune.
"""

from __future__ import annotations

import contextlib
from typing import Any

from lxml.html import HtmlElement
from trafilatura.metadata import (
    examine_meta,
    extract_author,
    extract_meta_json,
    extract_sitename,
    extract_title,
)


def read_byline(tree: HtmlElement) -> Any:
    """A ``trafilatura.settings.Document`` with ``title``, ``author``, ``description`` and
    ``sitename`` filled where the page has them (entities decoded, whitespace trimmed)."""
    document = examine_meta(tree)
    if document.author and " " not in document.author:
        document.author = None  # a single word is a handle or a role, not a name
    # Malformed JSON-LD that trafilatura's reader trips on: what the meta tags said stays.
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError, RecursionError):
        document = extract_meta_json(tree, document)
    document.title = document.title or extract_title(tree)
    document.author = document.author or extract_author(tree)
    document.sitename = (document.sitename or extract_sitename(tree) or "").lstrip("@") or None
    document.clean_and_trim()
    return document
