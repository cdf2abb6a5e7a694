"""The proxy engine: listeners, pipeline, balancing, health, cache, rules and records.

Nothing in this package imports Textual or Rich; the UI reads snapshots and calls ``control``.
"""
