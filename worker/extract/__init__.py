"""Article pages into clean text and metadata (trafilatura + htmldate, offline).

Usage::

    from worker.extract import ExtractionError, extract_page

    page = extract_page(body, url="https://example.com/news/1", content_type="text/html")
    page.text                  # paragraphs separated by blank lines, boilerplate removed
    page.published_at, page.published_source    # aware UTC, "jsonld" | "meta" | "url" | "text"
    page.authors, page.canonical_url, page.language

No network, no file access: only the bytes given are read.
"""

from __future__ import annotations

from worker.extract.page import ExtractedPage, ExtractionError, extract_page

__all__ = ["ExtractedPage", "ExtractionError", "extract_page"]
