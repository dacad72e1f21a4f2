"""The HTTP endpoint of a Storywire process: ``/metrics`` (Prometheus) and ``/healthz``.

Usage::

    server = serve(settings, port=9808)          # a daemon thread; returns at once
    ...
    server.shutdown()

``/metrics`` adds up the counters and histograms of every process of this tree (the prefork
pool's children write theirs to ``PROMETHEUS_MULTIPROC_DIR``) and the deployment gauges read at
scrape time (see ``collector.py``). ``/healthz`` runs ``storywire health``'s checks: 200 and one
``ok`` line per check when all pass, else 503 with the failing ones.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from worker import metrics
from worker.config import Settings
from worker.monitoring.checks import run_checks
from worker.monitoring.collector import DeploymentCollector

log = logging.getLogger(__name__)


def build_registry(settings: Settings) -> CollectorRegistry:
    """The process tree's metrics (when shared through files) and the deployment gauges."""
    registry = CollectorRegistry(auto_describe=False)
    shared = metrics.multiprocess_dir()
    if shared is not None:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=str(shared))  # type: ignore[no-untyped-call]
    registry.register(DeploymentCollector(settings))
    return registry


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A restarted worker must bind again at once, though the old socket is in TIME_WAIT.
    allow_reuse_address = True


def serve(settings: Settings, *, port: int, host: str | None = None) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; raises OSError when the port is taken."""
    registry = build_registry(settings)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                report = run_checks(settings)
                lines = [f"{'ok' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in report.checks]
                body = ("\n".join(lines) + "\n").encode()
                self._send(200 if report.ok else 503, body, "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found: try /metrics or /healthz\n", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a scrape every 15 s is not news

    server = _Server((host or settings.metrics_host, port), Handler)
    thread = threading.Thread(
        target=server.serve_forever, name="storywire-metrics", kwargs={"poll_interval": 0.5}
    )
    thread.daemon = True
    thread.start()
    return server
