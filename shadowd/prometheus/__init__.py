"""What shadowd shows Prometheus: ``exposition`` writes the text format (pure, from plain
values), ``endpoint`` serves it as GET /metrics, and ``figures`` reads those values from
the running daemon for each scrape. Kept empty: each importer takes only the module it
needs.
"""
