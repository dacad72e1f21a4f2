"""Operating Storywire: metrics, heartbeats, health checks and the status screen.

metrics.py     counters and histograms of the pipeline's stages (prometheus-client)
collector.py   gauges read from the database and the broker at scrape time
server.py      /metrics and /healthz over HTTP
heartbeat.py   worker and beat heartbeats (``runs.heartbeat_at``)
checks.py      ``storywire health``: database, migrations, broker, beat, worker
status.py      ``storywire status``: one screen of what the deployment is doing
queries.py     the cheap reads behind all of them
"""
