"""Prometheus text exposition (format version 0.0.4) for ``GET /metrics``.

:func:`render_metrics` turns a plain-data state dict into the text format. It never reads live
engine objects, so the engine builds the dict (cheaply, on request) and this module stays a pure
function that tests can feed by hand. Every section is optional; a metric family appears only
when it has at least one sample.

Input shape::

    {
      "proxies": {                              # per proxy name ("reverse", "forward")
        "reverse": {
          "status_classes": {"2xx": 120, "5xx": 3, "err": 1},   # all-time requests per class
          "errors": 4,                                         # all-time failed requests
          "duration": {                                        # all-time latency histogram
            "bounds": [0.0005, ..., inf],     # bucket upper bounds, seconds, ascending, last +Inf
            "counts": [0, 5, ...],            # per bucket, NOT cumulative (one per bound)
            "sum": 1.234,                     # seconds
            "count": 124,                     # optional; defaults to sum(counts)
          },
        },
      },
      "backends": [                             # one row per backend of each pool
        {"pool": "web", "backend": "web-1", "requests": 80, "errors": 1, "inflight": 2,
         "state": "up", "weight": 3},
      ],
      "backend_states": ["up", "down", ...],    # optional; defaults to BACKEND_STATES
      "cache": {"hits": 10, "misses": 4, "stale": 1, "revalidated": 2,
                "bytes": 52311, "entries": 9},  # or None / absent when caching is off
      "rules": {"block-ads": 17},               # rule name → all-time hits
      "records_dropped": 0,                     # records evicted from the ring buffer
    }

``Stats.prometheus_state()`` produces ``proxies`` directly and the per-backend counters the
engine merges with each backend's pool, state and weight.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["BACKEND_STATES", "CONTENT_TYPE", "escape_label_value", "render_metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Content-Type Prometheus expects for this format."""

BACKEND_STATES: tuple[str, ...] = ("up", "down", "ejected", "draining", "disabled")
"""Every state a backend can be in; ``workbench_backend_up`` has one series per state."""

_CACHE_COUNTERS = (
    ("hits", "workbench_cache_hits_total", "Responses served from the cache."),
    ("misses", "workbench_cache_misses_total", "Cacheable requests not found in the cache."),
    ("stale", "workbench_cache_stale_total", "Responses served from a stale cache entry."),
    ("revalidated", "workbench_cache_revalidated_total", "Stale entries confirmed by the origin."),
)
_CACHE_GAUGES = (
    ("bytes", "workbench_cache_bytes", "Bytes held by the cache."),
    ("entries", "workbench_cache_entries", "Entries held by the cache."),
)

Labels = tuple[tuple[str, str], ...]
Sample = tuple[str, Labels, float | int]


def escape_label_value(value: str) -> str:
    """Escape a label value: backslash, double quote and newline, as the format requires."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _bound(value: float) -> str:
    # ``le`` values are label strings; keep them in the float form ("1.0", "0.005", "+Inf") so a
    # query for le="1.0" matches whatever produced the integer and float bounds alike.
    if math.isinf(value):
        return "+Inf"
    return repr(float(value))


class _Writer:
    __slots__ = ("lines",)

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_: str, samples: Iterable[Sample]) -> None:
        rows = list(samples)
        if not rows:
            return
        lines = self.lines
        lines.append(f"# HELP {name} {_escape_help(help_)}")
        lines.append(f"# TYPE {name} {kind}")
        for sample_name, labels, value in rows:
            if labels:
                inner = ",".join(f'{k}="{escape_label_value(str(v))}"' for k, v in labels)
                lines.append(f"{sample_name}{{{inner}}} {_number(value)}")
            else:
                lines.append(f"{sample_name} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n" if self.lines else ""


def render_metrics(state: Mapping[str, Any]) -> str:
    """Render ``state`` (see the module docstring) as Prometheus text format 0.0.4."""
    out = _Writer()
    proxies: Mapping[str, Mapping[str, Any]] = state.get("proxies") or {}
    _proxy_families(out, proxies)
    backends: list[Mapping[str, Any]] = list(state.get("backends") or ())
    _backend_families(out, backends, tuple(state.get("backend_states") or BACKEND_STATES))
    cache = state.get("cache")
    if cache:
        for key, name, help_ in _CACHE_COUNTERS:
            if key in cache:
                out.family(name, "counter", help_, [(name, (), cache[key] or 0)])
        for key, name, help_ in _CACHE_GAUGES:
            if key in cache:
                out.family(name, "gauge", help_, [(name, (), cache[key] or 0)])
    rules: Mapping[str, int] = state.get("rules") or {}
    out.family(
        "workbench_rule_hits_total",
        "counter",
        "Requests a rule matched.",
        [("workbench_rule_hits_total", (("rule", name),), hits) for name, hits in rules.items()],
    )
    if "records_dropped" in state:
        out.family(
            "workbench_records_dropped_total",
            "counter",
            "Request records evicted from the ring buffer to bound memory.",
            [("workbench_records_dropped_total", (), state["records_dropped"] or 0)],
        )
    return out.text()


def _proxy_families(out: _Writer, proxies: Mapping[str, Mapping[str, Any]]) -> None:
    out.family(
        "workbench_requests_total",
        "counter",
        "Requests finished, by proxy and status class (err: no status was sent).",
        [
            ("workbench_requests_total", (("proxy", proxy), ("status_class", cls)), n)
            for proxy, p in proxies.items()
            for cls, n in (p.get("status_classes") or {}).items()
        ],
    )
    out.family(
        "workbench_request_errors_total",
        "counter",
        "Requests that failed (5xx, upstream error or no response).",
        [
            ("workbench_request_errors_total", (("proxy", proxy),), p.get("errors", 0))
            for proxy, p in proxies.items()
        ],
    )
    name = "workbench_request_duration_seconds"
    samples: list[Sample] = []
    for proxy, p in proxies.items():
        d = p.get("duration")
        if not d:
            continue
        bounds = list(d["bounds"])
        counts = list(d["counts"])
        if len(bounds) != len(counts):
            raise ValueError(f"{proxy}: {len(bounds)} bucket bounds but {len(counts)} counts")
        cumulative = 0
        for le, c in zip(bounds, counts, strict=True):
            cumulative += c
            samples.append((f"{name}_bucket", (("proxy", proxy), ("le", _bound(le))), cumulative))
        count = d.get("count", cumulative)
        if not bounds or not math.isinf(bounds[-1]):
            # The format requires a +Inf bucket, equal to _count.
            samples.append((f"{name}_bucket", (("proxy", proxy), ("le", "+Inf")), count))
        samples.append((f"{name}_sum", (("proxy", proxy),), float(d.get("sum", 0.0))))
        samples.append((f"{name}_count", (("proxy", proxy),), count))
    out.family(name, "histogram", "Time from request start to the last response byte.", samples)


def _backend_families(
    out: _Writer, backends: list[Mapping[str, Any]], states: tuple[str, ...]
) -> None:
    def labels(b: Mapping[str, Any]) -> Labels:
        return (("pool", str(b.get("pool", ""))), ("backend", str(b["backend"])))

    for key, name, kind, help_ in (
        ("requests", "workbench_backend_requests_total", "counter", "Requests sent to a backend."),
        ("errors", "workbench_backend_errors_total", "counter", "Failed requests to a backend."),
        ("inflight", "workbench_backend_inflight", "gauge", "Requests in flight to a backend."),
        ("weight", "workbench_backend_weight", "gauge", "Current balancing weight."),
    ):
        out.family(name, kind, help_, [(name, labels(b), b[key]) for b in backends if key in b])
    name = "workbench_backend_up"
    samples: list[Sample] = []
    for b in backends:
        current = b.get("state")
        if current is None:
            continue
        # A state outside the known list still gets its series, so nothing is silently lost.
        for st in states if current in states else (*states, current):
            samples.append((name, (*labels(b), ("state", st)), 1 if st == current else 0))
    out.family(
        name, "gauge", "1 for the state a backend is in now, 0 for the other states.", samples
    )
