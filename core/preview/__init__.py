"""``obs preview``: the Datadog dashboards defined in Python, drawn locally with live data.

A scraper reads Prometheus text endpoints (the agent's ``/metrics`` and services started
with ``OTEL_METRICS_EXPORTER=prometheus``) into a bounded in-memory store
(:mod:`obs.preview.store`); the typed queries of each dashboard are evaluated against it
(:mod:`obs.preview.evaluate`, :mod:`obs.preview.formulas`) and drawn by a page served from
the package (:mod:`obs.preview.server`), with no CDN and no Datadog account. ``--png``
snapshots a dashboard through headless Chromium (:mod:`obs.preview.snapshot`).

Embedding it (``obs demo`` does):

    from obs.dashboards.shipped import DASHBOARDS
    from obs.preview.app import Preview

    preview = Preview(DASHBOARDS, ["http://127.0.0.1:9464/metrics"]).start()
    print(preview.url)
    ...
    preview.stop()
"""
