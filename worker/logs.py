"""Structured logging (structlog over the standard library).

Task context (task id, feed id, article id) is bound with ``structlog.contextvars`` by the
base task, so every line a task logs says which work it belongs to.
"""

from __future__ import annotations

import logging
import sys

import structlog

#: Periodic housekeeping tasks: each tick logs three lines (sent, received, succeeded) that
#: say nothing new. They are logged at DEBUG; what such a task did is logged by the task.
ROUTINE_TASKS = (
    "dispatch_due_feeds",
    "dispatch-due-feeds",
    "worker.tasks.sweep",
    "prune_changes",
    "prune_sketches",
    "prune_articles",
)
_CELERY_ROUTINE_LOGGERS = frozenset({"celery.beat", "celery.worker.strategy", "celery.app.trace"})


class RoutineTicksAtDebug(logging.Filter):
    """Demote Celery's INFO lines about the routine periodic tasks to DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.name not in _CELERY_ROUTINE_LOGGERS:
            return True
        message = record.getMessage()
        if not any(task in message for task in ROUTINE_TASKS):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


#: Loggers of libraries whose own messages are noise here, and the level each is held at.
#: httpx logs every request at INFO (too chatty for a crawler); trafilatura and htmldate log
#: every page they give up on at WARNING/ERROR, which the pipeline already records on the
#: article row (ExtractionError), so their lines would only repeat it, once per page.
DEFAULT_QUIET_LOGGERS = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "trafilatura": logging.CRITICAL,
    "htmldate": logging.CRITICAL,
}


def configure_logging(level: str = "INFO", *, json: bool = False) -> None:
    """Route structlog and stdlib logging (Celery's too) through one renderer."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processor=renderer)
    )
    handler.addFilter(RoutineTicksAtDebug())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet_libraries()


def quiet_libraries() -> None:
    """Hold the loggers of :data:`DEFAULT_QUIET_LOGGERS` at their levels.

    Called at start-up (worker processes through :func:`configure_logging`, every CLI
    command before it runs), never at import: importing a module must not change how an
    embedding program's logging behaves."""
    for name, level in DEFAULT_QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
