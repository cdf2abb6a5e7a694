"""Process-wide settings that keep the proxy's latency tail short."""

from __future__ import annotations

import gc

GC_THRESHOLDS = (20_000, 20, 10)
"""Young collections every 20k allocations instead of 700.

With the default, a busy proxy runs hundreds of young collections a second, and each one walks
objects that the record ring keeps alive: measured here, they cost ~15% of throughput and were
the p99 latency (30–45 ms pauses). Full collections still run, just less often.
"""


def tune_gc() -> None:
    """Move everything allocated so far out of the collector's way, then widen its thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
