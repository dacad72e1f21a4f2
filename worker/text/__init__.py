"""Text helpers one floor below feeds and extract: both read untrusted markup and dates.

Usage::

    from worker.text.dates import read_date, to_utc
    from worker.text.normalize import clean_authors, html_to_text
    from worker.text.sanitize import absolute_http_url, sanitize_html

This package imports neither :mod:`worker.feeds` nor :mod:`worker.extract` (a test enforces
it), so either may use it without a loop between the two.
"""
