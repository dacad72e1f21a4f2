"""Operating Storywire: health checks, the status screen and the metrics server.

collector.py   gauges read from the database and the broker at scrape time
server.py      /metrics and /healthz over HTTP
checks.py      ``storywire health``: database, migrations, broker, beat, worker
status.py      ``storywire status``: one screen of what the deployment is doing
queries.py     the cheap reads behind all of them

The stage counters themselves are :mod:`worker.metrics` and the heartbeats
:mod:`worker.heartbeat`, lower down: the pipeline and the processes write them, this
package only reads.
"""
