"""Article pages into clean text and metadata (trafilatura + htmldate, offline).

Usage::

    from worker.extract import ExtractionError, extract_page

    page = extract_page(body, url="https://example.com/news/1", content_type="text/html")
    page.text                  # paragraphs separated by blank lines, boilerplate removed
    page.published_at, page.published_source    # aware, "jsonld" | "meta" | "url" | "shown" | ...
    page.authors, page.canonical_url, page.language

No network, no file access: only the bytes given are read. A long-running process calls
``warm_up()`` once at start-up (the worker does, before it forks its pool): it loads the
date parser's language data, jusText's stop lists and the public suffix list that the first
pages would otherwise wait for.
"""

from __future__ import annotations

from worker.extract.page import ExtractedPage, ExtractionError, extract_page, warm_up

__all__ = ["ExtractedPage", "ExtractionError", "extract_page", "warm_up"]
