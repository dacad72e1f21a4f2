"""The words of the contract: every value a text column of the consumer tables may hold.

Usage::

    from models import ArticleStatus, ChangeKind, ErrorClass, FetchOutcome

    record_change(session, ChangeKind.ARTICLE_UPDATED, article_id, status=ArticleStatus.OK)
    if error.error_class in NETWORK_ERROR_CLASSES: ...
    ErrorClass.http(404)          # "http_404"

``StrEnum``: a member *is* its stored string (``ArticleStatus.OK == "ok"``), so rows, JSON
payloads, metric labels and log lines read as they always did. The README's consumer section
lists each set with what it means (``tests/docs/test_readme.py`` holds it to this file).
They live here, on the floor every layer may import, because each is written by one layer
and read by others: an HTTP error class is named by ``worker.fetch``, stored by
``worker.pipeline`` and counted by ``worker.runs`` and ``worker.monitoring``.
"""

from __future__ import annotations

from enum import StrEnum


class FeedStatus(StrEnum):
    """``feeds.status``."""

    ACTIVE = "active"  # polled on schedule, last fetch fine
    ERRORING = "erroring"  # polled with back-off; consecutive_errors > 0
    GONE = "gone"  # the server said 410 Gone: never polled again
    DISABLED = "disabled"  # switched off by a person


class ArticleStatus(StrEnum):
    """``articles.status``."""

    PENDING = "pending"  # stub from a feed entry, page not fetched yet
    OK = "ok"  # page fetched and extracted
    FAILED = "failed"  # page could not be fetched or extracted; feed fields kept
    BLOCKED = "blocked"  # robots.txt or policy forbids fetching; feed fields kept


class RunKind(StrEnum):
    """``runs.kind``."""

    WORKER = "worker"  # one per worker process: everything it ingests on schedule
    FETCH = "fetch"  # one-off `storywire fetch`
    BACKFILL = "backfill"  # offline `storywire cluster`
    BEAT = "beat"  # one per beat process: its heartbeat is the scheduler's last tick


class RunStatus(StrEnum):
    """``runs.status``: every run ends, finished, failed or lost."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"  # stopped on an error
    LOST = "lost"  # its process stopped beating (killed, host gone): set by the sweeper


class FetchOutcome(StrEnum):
    """``feed_fetches.outcome``: what one poll of a feed came to."""

    OK = "ok"
    BOZO = "bozo"  # malformed but usable: entries stored, the fetch log says what was wrong
    NOT_MODIFIED = "not_modified"
    ERROR = "error"  # counted against the feed: back-off
    GONE = "gone"  # HTTP 410: the feed is never polled again
    DEFERRED = "deferred"  # our own per-host rate limit said wait: nothing counted
    OFFLINE = "offline"  # our own network looked down: nothing counted
    SKIPPED = "skipped"  # never stored: the feed was removed, gone or disabled, not fetched


class ChangeKind(StrEnum):
    """``changes.kind``: one fact each (their payloads: the README's change feed section)."""

    FEED_CREATED = "feed.created"
    FEED_REMOVED = "feed.removed"
    FEED_GONE = "feed.gone"
    FEED_DISABLED = "feed.disabled"
    FEED_ENABLED = "feed.enabled"
    ARTICLE_CREATED = "article.created"
    ARTICLE_SOURCE_ADDED = "article.source_added"
    ARTICLE_UPDATED = "article.updated"
    ARTICLE_DUPLICATE = "article.duplicate"
    ARTICLE_DELETED = "article.deleted"
    STORY_CREATED = "story.created"
    STORY_UPDATED = "story.updated"
    STORY_MERGED = "story.merged"
    STORY_SPLIT = "story.split"


class DateSource(StrEnum):
    """``articles.published_source`` and ``modified_source``: where the date came from (the
    order of trust is ``worker.pipeline.dates``'s)."""

    JSONLD = "jsonld"  # the page's schema.org JSON-LD
    META = "meta"  # the page's <meta> tags (Open Graph, Dublin Core, ...)
    FEED = "feed"  # the feed entry
    URL = "url"  # a date in the page's URL
    SHOWN = "shown"  # the date shown beside the headline, or labelled as the publication
    TEXT = "text"  # the page's text, read by htmldate
    INPUT = "input"  # a line of `storywire cluster`'s input


class StoryMethod(StrEnum):
    """The ``method`` of an ``article.updated`` or ``story.updated`` change: how the article
    came to its story."""

    EXACT = "exact"  # a copy of an article's text, to the byte
    NEAR = "near"  # a syndicated copy (near-duplicate text)
    SIMILAR = "similar"  # another report of the same event
    NEW = "new"  # the first report: it opened the story
    MERGE = "merge"  # its story was merged into another
    REFINE = "refine"  # a periodic refinement moved it, or corrected the story


class ErrorClass(StrEnum):
    """``articles.error_class``, ``feeds.last_error_class``, ``feed_fetches.error_class`` and
    ``host_health.last_failure_class``: a short stable name of what went wrong.

    Besides these members, an HTTP status without a name of its own is ``http_<status>``
    (:meth:`http`) and an unexpected exception met by a feed ``internal:<type>``
    (:meth:`internal`)."""

    # No answer at all: the only ones that can mean our own network is down.
    CONNECT = "connect"
    DNS = "dns"
    TIMEOUT = "timeout"
    # The connection broke or the answer could not be used.
    TLS = "tls"
    INCOMPLETE = "incomplete"  # the peer hung up before the end of the answer
    PROTOCOL = "protocol"  # a malformed HTTP answer
    BAD_REQUEST = "bad_request"  # the request could not be sent as asked
    DECODE_ERROR = "decode_error"  # a body that does not decode (compression, charset)
    BAD_STATUS = "bad_status"  # a status outside 100-599
    BAD_REDIRECT = "bad_redirect"
    REDIRECT_LOOP = "redirect_loop"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    TOO_LARGE = "too_large"  # above STORYWIRE_MAX_RESPONSE_BYTES
    GONE = "gone"  # HTTP 410
    CHALLENGE = "challenge"  # an anti-bot page instead of content
    ERROR = "error"  # a fetch error with no better name
    # Refused on our side, before or instead of a request.
    BAD_URL = "bad_url"
    BAD_SCHEME = "bad_scheme"
    BLOCKED_DESTINATION = "blocked_destination"  # loopback, private, ...: never fetched
    ROBOTS = "robots"  # robots.txt disallows the page
    ROBOTS_UNAVAILABLE = "robots_unavailable"  # robots.txt could not be read: retried
    RATE_LIMITED = "rate_limited"  # our per-host rate limit: deferred, nothing counted
    # What the body was.
    EMPTY = "empty"  # no bytes, or only white space
    NOT_A_FEED = "not_a_feed"
    MALFORMED = "malformed"  # looks like a feed, broken beyond use
    NOT_HTML = "not_html"
    NO_TEXT = "no_text"  # HTML without main text
    TOO_COMPLEX = "too_complex"  # more elements than an article page has: refused unparsed
    # What the tries of a page came to.
    WORKER_LOST = "worker_lost"  # its tries kept killing their worker (out of memory)
    TIME_LIMIT = "time_limit"  # its try ran past the task's time limit

    @staticmethod
    def http(status: int) -> str:
        """The error class of an HTTP status without a name of its own: ``http_404``."""
        return f"http_{status}"

    @staticmethod
    def internal(exc: BaseException) -> str:
        """The error class of an unexpected exception met by a feed: ``internal:KeyError``."""
        return f"internal:{type(exc).__name__}"


#: Failures before any answer: only these may mean that our own network is down (a TLS or
#: protocol error needed a peer to talk to).
NETWORK_ERROR_CLASSES = frozenset({ErrorClass.CONNECT, ErrorClass.DNS, ErrorClass.TIMEOUT})
