"""Plain data built from a live engine: what the UI's snapshot and the admin API start from.

:func:`state_data` is read once per tick (``EngineSnapshot.from_dict`` types it; ``GET
/api/state`` sends it as JSON); :func:`metrics_data` feeds the Prometheus text.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.engine.engine import Engine


def state_data(engine: Engine) -> dict[str, Any]:
    """Plain-data view of everything the UI and the admin API show (JSON-ready)."""
    stats = engine.stats.snapshot(
        pools={name: list(p.backends) for name, p in engine.pools.items()}
    )
    backend_stats = stats.get("backends", {})
    pools = {}
    for name, pool in engine.pools.items():
        p = pool.to_dict()
        for b in p["backends"]:
            bs = backend_stats.get(b["name"], {})
            b["stats"] = bs
            b["actual_share"] = bs.get("share_60s", 0.0) or 0.0
        pools[name] = p
    rules = [
        {
            "name": r.config.name,
            "when": r.config.when,
            "phase": r.config.phase,
            "action": r.config.action,
            "enabled": r.config.enabled,
            "hits": r.hits,
            "status": r.config.status,
            "location": r.config.location,
            "header": r.config.header,
            "value": r.config.value,
            "delay": r.config.delay,
        }
        for r in engine.ruleset.rules
    ]
    records = engine.records
    recorder = engine.recorder
    reverse = engine.reverse
    forward = engine.forward
    return {
        "time": time.time(),
        "started_at": engine.started_at,
        "listeners": dict(engine.listeners),
        "stats": stats,
        "pools": pools,
        "rules": rules,
        "cache": {**engine.cache.stats(), "collapsed": engine.cache_layer.collapsed},
        "records": {
            "total": records.total,
            "stored": len(records),
            "dropped": records.dropped,
            "capacity": records.capacity,
        },
        "events": [
            {"time": e.time, "kind": e.kind, "message": e.message, "who": e.who}
            for e in engine.events.recent(50)
        ],
        "errors": {"internal": recorder.internal_errors, "bad_requests": recorder.bad_requests},
        "proxies": {
            "reverse": {"cache": reverse.cache_enabled} if reverse else None,
            "forward": (
                {
                    "cache": forward.cache_enabled,
                    "privacy": forward.privacy,
                    "tunnels": len(forward.tunnels),
                    "intercept": forward.intercept.snapshot() if forward.intercept else None,
                }
                if forward
                else None
            ),
        },
        "demo": _demo_data(engine.demo),
        "hold": engine.hold.summary(),
    }


def metrics_data(engine: Engine) -> dict[str, Any]:
    """Input for :func:`workbench.engine.observe.metrics.render_metrics`."""
    prom = engine.stats.prometheus_state()
    counters = prom["backend_counters"]
    backends = []
    for pool in engine.pools.values():
        for b in pool.backends.values():
            c = counters.get(b.name, {})
            backends.append(
                {
                    "pool": pool.name,
                    "backend": b.name,
                    "requests": c.get("requests", 0),
                    "errors": c.get("errors", 0),
                    "inflight": b.inflight,
                    "state": b.state,
                    "weight": b.weight,
                }
            )
    return {
        "proxies": prom["proxies"],
        "backends": backends,
        "cache": engine.cache.stats() if engine.cache is not None else None,
        "rules": {r.config.name: r.hits for r in engine.ruleset.rules},
        "records_dropped": engine.records.dropped,
    }


def _demo_data(demo: Any) -> dict[str, Any] | None:
    if demo is None:
        return None
    traffic = demo.traffic
    return {
        "traffic": traffic.counters() if traffic is not None else None,
        "backends": demo.faults.state(),
        "secure_origin": demo.secure.url if getattr(demo, "secure", None) is not None else None,
    }
