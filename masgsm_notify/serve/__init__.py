"""serve: pipelines as a durable webhook receiver (Alertmanager, Grafana, any JSON sender).

server.py puts the parts together: app.py (the WSGI application behind waitress), intake.py
(group commit into queue.py, the SQLite queue), keys.py (idempotency keys), workers.py (one
ordered worker per pipeline), reports.py (reports read in the background, runs concluded),
metrics.py (/metrics), served.py (the pipelines and the journals held for them).
"""
