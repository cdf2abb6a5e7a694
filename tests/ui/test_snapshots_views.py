"""SVG snapshots of every view of the real app at 80×24 and 160×45.

The app is fed fixed snapshots (no sockets, no clock; its timer is slowed so only the ticks the
test makes count): what is rendered depends only on the data below, so the baselines are stable
across machines and runs.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from conftest import FakeEngine

import workbench.tui.app as app_module
from workbench.engine.snapshot import EngineSnapshot, cache_entries
from workbench.tui.app import make_app

SIZES = {"small": (80, 24), "large": (160, 45)}
NOW = 1_800_000_000.0


def classes(c2=0, c3=0, c4=0, c5=0, err=0) -> dict[str, int]:
    return {"1xx": 0, "2xx": c2, "3xx": c3, "4xx": c4, "5xx": c5, "err": err}


def window(over: int, rate: float, p50: float, p95: float, mix: dict[str, int]) -> dict[str, Any]:
    requests = sum(mix.values())
    return {
        "over": over,
        "requests": requests,
        "rate": rate,
        "errors": mix["err"],
        "error_rate": 0.0,
        "status_classes": mix,
        "p50": p50,
        "p95": p95,
        "p99": p95,
        "bytes_out": requests * 800,
    }


def backend(name, weight, state, expected, actual, rate, p50, p95, check_ok=True, **kw):
    return {
        "name": name,
        "url": f"http://{name}.internal:80",
        "weight": weight,
        "state": state,
        "state_since": NOW - 100,
        "state_reason": "configured",
        "enabled": state != "disabled",
        "draining": state == "draining",
        "inflight": kw.get("inflight", 0),
        "ejected_until": None,
        "consecutive_failures": 0,
        "last_check": {
            "time": NOW - 1.2,
            "ok": check_ok,
            "detail": "200 in 1 ms" if check_ok else "503 Service Unavailable",
        },
        "connections": 1,
        "expected_share": expected,
        "actual_share": actual,
        "stats": {
            "requests": 1000,
            "errors": kw.get("errors", 0),
            "inflight": kw.get("inflight", 0),
            "requests_60s": 600,
            "errors_60s": kw.get("errors", 0),
            "rate_10s": rate,
            "p50": p50,
            "p95": p95,
            "p99": p95,
            "share_60s": actual,
            # The last 10 s carry the actual share (the view's window).
            "series_60s": [0] * 50 + [round(actual * 40)] * 10,
        },
    }


def snapshot(rate: float = 42.0, p50: float = 0.0021, p95: float = 0.0120) -> dict[str, Any]:
    """A classroom-like engine state: one pool of four backends, rules, a warm cache, events."""
    return {
        "time": NOW,
        "started_at": NOW - 600,
        "listeners": {
            "reverse": "http://127.0.0.1:8080",
            "forward": "http://127.0.0.1:8888",
            "admin": "http://127.0.0.1:8081",
        },
        "stats": {
            "windows": {
                "10": window(10, rate, p50, p95, classes(380, 12, 20, 8)),
                "60": window(60, rate * 0.9, p50, p95, classes(2210, 60, 95, 31, 2)),
            }
        },
        "pools": {
            "web": {
                "name": "web",
                "algorithm": "weighted_round_robin",
                "retries": 1,
                "health": True,
                "backends": [
                    backend("web-1", 3, "up", 0.6, 0.58, 24.1, 0.0018, 0.0094, inflight=2),
                    backend("web-2", 1, "up", 0.2, 0.23, 9.5, 0.0021, 0.0110),
                    backend("web-3", 1, "up", 0.2, 0.19, 8.0, 0.3021, 0.3400, errors=14),
                    backend("web-4", 2, "down", 0.0, 0.0, 0.0, 0.0, 0.0, check_ok=False),
                ],
            }
        },
        "rules": [
            {
                "name": "block-tracker",
                "when": "~d tracker.example.test",
                "phase": "request",
                "action": "block",
                "enabled": True,
                "hits": 118,
                "status": None,
                "location": None,
                "header": None,
                "value": None,
                "delay": None,
            },
            {
                "name": "slow-api",
                "when": "~u /api/slow & ~m GET",
                "phase": "request",
                "action": "delay",
                "enabled": True,
                "hits": 7,
                "status": None,
                "location": None,
                "header": None,
                "value": None,
                "delay": 0.5,
            },
            {
                "name": "old-home",
                "when": "~u /old-home",
                "phase": "request",
                "action": "redirect",
                "enabled": False,
                "hits": 0,
                "status": 301,
                "location": "/home",
                "header": None,
                "value": None,
                "delay": None,
            },
            {
                "name": "tag-json",
                "when": "~t application/json",
                "phase": "response",
                "action": "set_header",
                "enabled": True,
                "hits": 512,
                "status": None,
                "location": None,
                "header": "X-Workbench-Tag",
                "value": "json",
                "delay": None,
            },
        ],
        "cache": {
            "hits": 740,
            "misses": 210,
            "stale": 12,
            "revalidated": 38,
            "bypass": 40,
            "uncacheable": 55,
            "stores": 230,
            "evictions": 3,
            "invalidations": 1,
            "bytes_served": 3_407_872,
            "entries": 96,
            "bytes": 5_452_595,
            "max_size": 64 * 1024 * 1024,
            "max_object_size": 8 * 1024 * 1024,
            "hit_ratio_10s": 0.82,
            "hit_ratio_60s": 0.77,
            "hit_ratio": 0.79,
        },
        "events": [
            {
                "time": NOW - 300,
                "kind": "info",
                "message": "reverse proxy listening on http://127.0.0.1:8080",
                "who": "engine",
            },
            {"time": NOW - 95, "kind": "edit", "message": "web/web-1: weight 1 → 3", "who": "user"},
            {
                "time": NOW - 40,
                "kind": "health",
                "message": "web/web-4: up → down (3 failed checks)",
                "who": "engine",
            },
            {"time": NOW - 12, "kind": "edit", "message": "rules: added 'slow-api'", "who": "api"},
            {
                "time": NOW - 3,
                "kind": "error",
                "message": "web-3: connect refused",
                "who": "engine",
            },
        ],
        "proxies": {
            "reverse": {"cache": True},
            "forward": {"cache": False, "privacy": "anonymous", "tunnels": 0},
        },
        "demo": {
            "traffic": None,
            "backends": {
                "web-1": {
                    "killed": False,
                    "extra_latency": 0.0,
                    "error_rate": 0.0,
                    "health_fail": False,
                    "flap": False,
                },
                "web-3": {
                    "killed": False,
                    "extra_latency": 0.3,
                    "error_rate": 0.5,
                    "health_fail": False,
                    "flap": False,
                },
                "web-4": {
                    "killed": True,
                    "extra_latency": 0.0,
                    "error_rate": 0.0,
                    "health_fail": False,
                    "flap": False,
                },
            },
        },
    }


ENTRIES = [
    {
        "key": f"GET http://shop.test/static/{name}",
        "url": f"http://shop.test/static/{name}",
        "status": 200,
        "size": size,
        "age": age,
        "ttl": ttl,
        "hits": hits,
    }
    for name, size, age, ttl, hits in [
        ("app.js", 182_000, 40, 3560, 311),
        ("style.css", 24_576, 40, 3560, 298),
        ("logo.png", 9_800, 118, -2, 97),
        ("fonts/inter.woff2", 48_200, 310, 86090, 64),
    ]
] + [
    {
        "key": "GET http://shop.test/api/items",
        "url": "http://shop.test/api/items",
        "status": 200,
        "size": 1_320,
        "age": 4,
        "ttl": 6,
        "hits": 22,
    }
]


class FixedEngine(FakeEngine):
    """Hands out the given snapshots in order (then the last one again) and fixed entries."""

    def __init__(self, snapshots: list[dict[str, Any]]) -> None:
        super().__init__()
        self.listeners = dict(snapshots[-1]["listeners"])
        self.snaps = [EngineSnapshot.from_dict(copy.deepcopy(s)) for s in snapshots]
        self.taken = 0
        self.demo = object() if snapshots[-1].get("demo") is not None else None

    def snapshot(self) -> EngineSnapshot:
        snap = self.snaps[min(self.taken, len(self.snaps) - 1)]
        self.taken += 1
        return snap

    def cache_entries(self, limit: int = 200) -> tuple:
        return cache_entries(copy.deepcopy(ENTRIES[:limit]))


@pytest.fixture(autouse=True)
def no_timer(monkeypatch):
    """Only the ticks a test makes: the app's own timer would add a nondeterministic number."""
    monkeypatch.setattr(app_module, "TICK_SECONDS", 3600.0)


def shown(key: str, snapshots: list[dict[str, Any]]):
    """``(app, run_before)``: the real app showing view ``key`` after every snapshot."""
    engine = FixedEngine(snapshots)
    app = make_app(engine.config, engine=engine)

    async def run_before(pilot) -> None:
        await pilot.pause()
        await pilot.press(key)  # switching ticks once
        while engine.taken < len(engine.snaps):
            app.tick()
        await pilot.pause()
        await pilot.pause()

    return app, run_before


def series() -> list[dict[str, Any]]:
    """A minute of made-up history so the sparklines have a shape."""
    rates = [20, 24, 30, 28, 35, 42, 40, 38, 45, 50, 44, 42]
    out = []
    for i, r in enumerate(rates):
        snap = snapshot(rate=r, p50=0.001 + r / 20000, p95=0.004 + r / 4000)
        # A cold cache warming up: the hit ratio climbs towards its steady state.
        snap["cache"]["hit_ratio_10s"] = min(0.82, 0.2 + i * 0.07)
        out.append(snap)
    return out


@pytest.mark.parametrize("size", SIZES)
def test_backends_view(snap_compare, size):
    app, run_before = shown("2", [snapshot()])
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_cache_view(snap_compare, size):
    app, run_before = shown("3", series())
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


def test_cache_view_not_configured(snap_compare):
    snap = snapshot()
    snap["cache"] = None
    app, run_before = shown("3", [snap])
    assert snap_compare(app, terminal_size=SIZES["small"], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_rules_view(snap_compare, size):
    app, run_before = shown("4", [snapshot()])
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_overview_view(snap_compare, size):
    app, run_before = shown("5", series())
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_backends_view_in_the_projector_theme(snap_compare, size):
    app, show = shown("2", [snapshot()])

    async def run_before(pilot) -> None:
        await show(pilot)
        await pilot.press("ctrl+t")
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_lessons_view(snap_compare, size):
    app, run_before = shown("6", [snapshot()])
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


class FixedHistory:
    """Five minutes of per-second samples made from smooth curves (no clock, no randomness)."""

    SECONDS = 300

    def to_dict(self) -> dict[str, Any]:
        import math

        ts = range(self.SECONDS)

        def wave(base: float, swing: float, period: float, phase: float = 0.0) -> list[float]:
            return [round(base + swing * math.sin(t / period + phase), 3) for t in ts]

        def series(rate: list[float], errors: float, p95: float) -> dict[str, list]:
            return {
                "rate": rate,
                "error_rate": [errors if r else None for r in rate],
                "p95": [p95 + r / 1000 if r else None for r in rate],
            }

        web1 = wave(8, 2, 25)
        return {
            "time": [NOW - self.SECONDS + 1 + t for t in ts],
            "proxies": {
                "forward": series(wave(3, 1, 15), 0.0, 0.012),
                "reverse": series(wave(16, 4, 30), 0.02, 0.030),
            },
            "backends": {
                "web-1": series(web1, 0.0, 0.02),
                "web-2": series(wave(3, 1, 25, 1.0), 0.0, 0.02),
                # web-4 was killed two minutes ago: nothing measured since.
                "web-4": series([3.0] * 180 + [0.0] * 120, 0.0, 0.02),
            },
            "hit_ratio": [min(0.8, 0.1 + t / 200) for t in ts],
        }


@pytest.mark.parametrize("size", SIZES)
def test_charts_view(snap_compare, size):
    app, run_before = shown("7", [snapshot()])
    app.engine.history = FixedHistory()
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)
