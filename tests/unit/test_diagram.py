"""The system diagram drawn from plain snapshot data: nodes, rates, health, paths, both sizes."""

from __future__ import annotations

from typing import Any

import pytest

from workbench.engine.observe.records import RequestRecord
from workbench.engine.snapshot import EngineSnapshot
from workbench.tui.views.overview import record_label
from workbench.tui.widgets.diagram import COMPACT, FULL, LIT, build_diagram, path_of
from workbench.tui.widgets.palette import role

ROUTES = (("api", "/api", "api"), ("site", "/", "web"))


def backend(name: str, weight: int, state: str = "up", rate: float = 1.0) -> dict[str, Any]:
    return {
        "name": name,
        "weight": weight,
        "state": state,
        "expected_share": 0.5,
        "actual_share": 0.25,
        "stats": {"rate_10s": rate},
    }


def snapshot(forward: bool = True, reverse: bool = True) -> dict[str, Any]:
    listeners = {}
    if forward:
        listeners["forward"] = "http://127.0.0.1:8888"
    if reverse:
        listeners["reverse"] = "http://127.0.0.1:8080"
    return {
        "listeners": listeners,
        "stats": {
            "proxies": {
                "reverse": {10: {"rate": 12.5}, 60: {"status_classes": {"5xx": 2}}},
                "forward": {"10": {"rate": 3.0}, "60": {"status_classes": {}}},
            },
            "backends": {
                "web-1": {"requests_60s": 5, "rate_10s": 2.0},
                "127.0.0.1:9001": {"requests_60s": 7, "rate_10s": 1.5},
                "tracker.test:80": {"requests_60s": 0, "rate_10s": 0.0},
            },
        },
        "pools": {
            "web": {
                "algorithm": "weighted_round_robin",
                "backends": [backend("web-1", 3, rate=2.0), backend("web-2", 1, "down")],
            },
            "api": {"algorithm": "least_connections", "backends": [backend("api-1", 1)]},
        }
        if reverse
        else {},
        "cache": {"hit_ratio_60s": 0.42, "entries": 7},
        "proxies": {"reverse": {"cache": True}, "forward": {"cache": False}},
    }


@pytest.mark.parametrize("layout", [FULL, COMPACT])
def test_both_proxies_pools_backends_rates_and_cache(layout):
    content = build_diagram(snapshot(), ROUTES, blocked={"forward": 0.5}, layout=layout)
    text = content.plain
    for word in ("FORWARD :8888", "REVERSE :8080", "api-1", "web-1", "web-2", "/api"):
        assert word in text
    assert "127.0.0.1:9001  1.5/s" in text  # a forward origin with its rate
    assert "tracker.test" not in text  # nothing in the last 60 s
    assert "12.5/s" in text and "3.0/s" in text  # client → proxy edges
    assert "2.0/s" in text  # web pool edge (sum of its backends)
    assert "42% hits" in text
    assert "⊘ 0.5/s stopped here" in text and "⊘ none stopped" in text
    assert "5xx 2" in text and "5xx 0" in text
    width = 80 if layout.compact else 160
    assert max(len(line) for line in text.split("\n")) <= width
    # Health by theme colour: web-2 is down.
    spans = {content.plain[s.start : s.end].strip(): str(s.style) for s in content.spans}
    assert role("bad") in spans["✗ web-2"] and role("ok") in spans["● web-1"]


def test_only_the_running_proxies_are_drawn():
    text = build_diagram(snapshot(forward=False), ROUTES).plain
    assert "FORWARD" not in text and "REVERSE" in text
    text = build_diagram(snapshot(reverse=False), ()).plain
    assert "REVERSE" not in text and "FORWARD" in text
    empty = {"listeners": {}, "stats": {}, "cache": None}
    assert "no proxy is running" in build_diagram(empty).plain


def rec(proxy: str, **kw: Any) -> RequestRecord:
    r = RequestRecord(1, 0.0, "127.0.0.1", proxy, "GET", "u", "h", "/")
    r.status = kw.pop("status", 200)
    for k, v in kw.items():
        setattr(r, k, v)
    return r


@pytest.mark.parametrize(
    ("record", "path"),
    [
        (
            rec(
                "reverse",
                pool="web",
                backend="web-1",
                cache="miss",
                trace=[("route", "site", "prefix /")],
            ),
            {"clients:reverse", "proxy:reverse", "route:site", "pool:web", "backend:web-1"},
        ),
        (rec("reverse", cache="hit"), {"clients:reverse", "proxy:reverse", "cache"}),
        (
            rec("forward", rule="block-tracker", status=403),
            {"clients:forward", "proxy:forward", "blocked:forward"},
        ),
        (
            rec("forward", backend="127.0.0.1:9001"),
            {"clients:forward", "proxy:forward", "origin:127.0.0.1:9001"},
        ),
    ],
)
def test_a_records_path(record, path):
    assert path_of(record) == path


def test_the_followed_path_lights_up():
    lit = path_of(
        rec("reverse", pool="web", backend="web-1", trace=[("route", "site", "prefix /")])
    )
    content = build_diagram(snapshot(), ROUTES, lit=lit)
    lit_text = " ".join(
        content.plain[s.start : s.end].strip() for s in content.spans if str(s.style) == LIT
    )
    assert "REVERSE :8080" in lit_text and "web-1" in lit_text and "site /" in lit_text
    assert "api-1" not in lit_text and "FORWARD" not in lit_text


def _pool_of(algorithm: str) -> dict[str, Any]:
    return {
        "listeners": {"reverse": "http://127.0.0.1:8080"},
        "stats": {},
        "pools": {
            "web": {
                "algorithm": algorithm,
                "backends": [
                    # A stale share in the plain data must not leak through: the typed view decides.
                    dict(backend("web-1", 3), expected_share=0.99),
                    dict(backend("web-2", 1), expected_share=0.99),
                    dict(backend("web-3", 2, "down"), expected_share=0.99),
                ],
            }
        },
        "cache": None,
    }


@pytest.mark.parametrize("layout", [FULL, COMPACT])
@pytest.mark.parametrize(
    ("algorithm", "web1", "web2"),
    [
        ("round_robin", "exp 50%", "exp 50%"),
        ("weighted_round_robin", "exp 75%", "exp 25%"),
        ("least_connections", "by traffic", "by traffic"),
        ("random_two", "by traffic", "by traffic"),
        ("ip_hash", "by traffic", "by traffic"),
        ("consistent_hash", "by traffic", "by traffic"),
    ],
)
def test_expected_share_follows_the_algorithm_as_in_the_backends_view(
    algorithm, web1, web2, layout
):
    snap = _pool_of(algorithm)
    lines = build_diagram(snap, (("site", "/", "web"),), layout=layout).plain.split("\n")
    line_of = {name: next(x for x in lines if name in x) for name in ("web-1", "web-2", "web-3")}
    assert web1 in line_of["web-1"] and web2 in line_of["web-2"]
    assert "99%" not in "\n".join(lines)
    # The same promise the Backends view reads (the typed snapshot's field).
    pool = EngineSnapshot.from_dict(snap).pool("web")
    assert pool is not None
    shares = {b.name: b.expected_share for b in pool.backends}
    for name, label in (("web-1", web1), ("web-2", web2)):
        share = shares[name]
        assert label == ("by traffic" if share is None else f"exp {share:.0%}")
    # A backend that is down is promised nothing and says so by its state.
    assert "down" in line_of["web-3"]
    if algorithm in ("round_robin", "weighted_round_robin") and not layout.compact:
        assert "exp 0%" in line_of["web-3"]


@pytest.mark.parametrize(
    ("algorithm", "shares"),
    [
        ("round_robin", {"web-1": 0.5, "web-2": 0.0, "web-3": 0.5}),
        ("weighted_round_robin", {"web-1": 0.75, "web-2": 0.0, "web-3": 0.25}),
    ],
)
def test_a_weight_of_zero_is_promised_nothing(algorithm, shares):
    """Weight 0 takes a backend out of rotation for every algorithm (round robin ignores the
    weight's size, not a zero): the others share its part."""
    snap = _pool_of(algorithm)
    snap["pools"]["web"]["backends"] = [
        backend("web-1", 3),
        backend("web-2", 0),
        backend("web-3", 1),
    ]
    pool = EngineSnapshot.from_dict(snap).pool("web")
    assert pool is not None
    assert {b.name: b.expected_share for b in pool.backends} == pytest.approx(shares)


@pytest.mark.parametrize(("extra", "said"), [(1, "… 1 more origin"), (3, "… 3 more origins")])
def test_origins_past_the_limit_are_counted(extra, said):
    snap = snapshot(reverse=False)
    snap["stats"]["backends"] = {
        f"10.0.0.{i}:80": {"requests_60s": 1, "rate_10s": 1.0} for i in range(4 + extra)
    }
    lines = build_diagram(snap, ()).plain.split("\n")
    assert any(line.rstrip().endswith(said) for line in lines)


@pytest.mark.parametrize(("proxy", "short"), [("forward", "fwd "), ("reverse", "rev ")])
def test_the_follow_list_names_proxies_as_traffic_does(proxy, short):
    assert short in record_label(rec(proxy)).plain
