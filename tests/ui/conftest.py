"""UI fixtures: a real engine in front of real origins, and a fixed fake engine for snapshots."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from workbench.config.model import (
    Address,
    BackendConfig,
    Config,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
    RuleConfig,
)
from workbench.engine.observe.records import RecordLog, RequestRecord
from workbench.engine.snapshot import EngineSnapshot

FIXED_START = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: rendered as local time, TZ pinned below


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """Render times in UTC so snapshots do not depend on the machine's time zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def live_config(origins: list[Any]) -> Config:
    """A reverse proxy (no cache) over ``origins``, with one rule that never matches our paths."""
    pool = PoolConfig(
        name="web",
        algorithm="weighted_round_robin",
        backends=tuple(BackendConfig(name=o.name, url=o.url, weight=2) for o in origins),
    )
    return Config(
        reverse=ReverseConfig(
            listen=Address("127.0.0.1", 0),
            routes=(RouteConfig(name="site", pool="web"),),
            pools={"web": pool},
            cache=False,
        ),
        rules=(RuleConfig(name="block-tracker", when="~d tracker.test", action="block"),),
    )


@pytest.fixture
async def live(origins, engine_factory):
    """``(config, engine)``: a started engine in front of two real origins."""
    web = await origins("web-1", "web-2")
    config = live_config(web)
    engine = await engine_factory(config)
    return config, engine


# -- the fake engine for deterministic snapshots ------------------------------------------------


@dataclass
class FakeResult:
    ok: bool = True
    error: str | None = None
    field: str | None = None
    value: Any = None


class FakeControl:
    """Accepts every call and changes nothing (snapshot tests only look)."""

    def __getattr__(self, name: str) -> Callable[..., FakeResult]:
        return lambda *a, **kw: FakeResult()


def _rec(i: int, **kw: Any) -> RequestRecord:
    base: dict[str, Any] = {
        "id": i,
        "start": FIXED_START + i * 1.25,
        "client": "127.0.0.1",
        "proxy": "reverse",
        "method": "GET",
        "url": f"http://shop.test{kw.get('path', '/')}",
        "host": "shop.test",
        "path": "/",
    }
    base.update(kw)
    if "response_body" in kw:
        base.setdefault("body_cap", 1024 * 1024)
        base.setdefault("response_body_size", len(kw["response_body"]))
    rec = RequestRecord(**{k: v for k, v in base.items() if k != "trace"})
    rec.trace = list(kw.get("trace", []))
    return rec


def fixed_records() -> list[RequestRecord]:
    """A small, varied afternoon of traffic: the cases the Traffic view and detail must show."""
    client_headers = [
        ("Host", "shop.test"),
        ("User-Agent", "curl/8.5.0"),
        ("Accept", "*/*"),
    ]
    upstream = client_headers + [
        ("X-Forwarded-For", "127.0.0.1"),
        ("X-Forwarded-Proto", "http"),
        ("Via", "1.1 workbench"),
    ]
    backend_resp = [
        ("Content-Type", "application/json"),
        ("Server", "demo/1.0"),
        ("X-Powered-By", "demo"),
        ("Content-Length", "61"),
    ]
    client_resp = [
        ("Content-Type", "application/json"),
        ("Content-Length", "61"),
        ("Via", "1.1 workbench"),
        ("X-Workbench-Tag", "json"),
    ]
    return [
        _rec(
            1,
            path="/api/items?page=2",
            url="http://shop.test/api/items?page=2",
            status=200,
            bytes_out=61,
            content_type="application/json",
            pool="api",
            backend="api-1",
            cache="miss",
            tags=["json"],
            request_headers=client_headers,
            upstream_headers=upstream,
            backend_response_headers=backend_resp,
            response_headers=client_resp,
            response_body=b'{"items": [{"id": 21, "name": "lamp"}, {"id": 22, "name": "desk"}]}',
            t_queue=0.0004,
            t_connect=0.0011,
            t_first_byte=0.0092,
            t_total=0.0123,
            trace=[
                ("acl", "allow", "127.0.0.1 in 127.0.0.0/8"),
                ("route", "api", "path prefix /api → pool api"),
                ("cache", "MISS", "no entry"),
                ("balancer", "→ api-1", "least connections, 0 in flight"),
                ("upstream", "200", "api-1 answered in 9.2 ms (new connection)"),
                ("rule", "tag-json", "tagged json"),
                ("cache", "STORE", "ttl=60s"),
            ],
        ),
        _rec(
            2,
            path="/api/items?page=2",
            status=200,
            bytes_out=61,
            pool="api",
            cache="hit",
            t_total=0.0003,
            trace=[("cache", "HIT", "age 1s of 60s")],
        ),
        _rec(
            3,
            path="/missing.png",
            status=404,
            bytes_out=9,
            pool="web",
            backend="web-2",
            t_total=0.0042,
        ),
        _rec(
            4,
            path="/checkout",
            method="POST",
            status=503,
            bytes_out=0,
            pool="web",
            backend="web-1",
            error="connection refused",
            t_total=0.0021,
        ),
        _rec(
            5,
            host="tracker.test",
            url="http://tracker.test/pixel.gif",
            path="/pixel.gif",
            proxy="forward",
            status=403,
            rule="block-tracker",
            t_total=0.0002,
            trace=[("rule", "BLOCK", "block-tracker matched ~d tracker.test")],
        ),
        _rec(
            6,
            method="CONNECT",
            url="secure.test:443",
            host="secure.test",
            path="",
            proxy="forward",
            status=200,
            sni="secure.test",
            bytes_in=1840,
            bytes_out=52_310,
            t_total=1.5,
            trace=[("connect", "tunnel", "secure.test:443 opened")],
        ),
        _rec(
            7,
            path="/static/logo.png",
            status=200,
            bytes_out=20_480,
            pool="web",
            backend="web-3",
            cache="stale",
            content_type="image/png",
            t_total=0.0311,
            response_body=bytes(range(256))[:96],
        ),
        _rec(
            8,
            path="/a/very/long/path/that/goes/on/and/on/index.html?utm_source=classroom",
            status=301,
            bytes_out=0,
            pool="web",
            backend="web-1",
            t_total=0.0015,
        ),
    ]


def fixed_snapshot(total: int, capacity: int = 10_000) -> dict[str, Any]:
    window = {"over": 1, "requests": 8, "rate": 42.0, "errors": 1, "error_rate": 0.125}
    return {
        "time": FIXED_START + 20,
        "started_at": FIXED_START,
        "listeners": {"reverse": "http://127.0.0.1:8080", "forward": "http://127.0.0.1:8888"},
        "stats": {"windows": {1: window, 10: window, 60: window}, "total": {}, "proxies": {}},
        "pools": {},
        "rules": [],
        "cache": None,
        "records": {"total": total, "stored": total, "dropped": 0, "capacity": capacity},
        "events": [],
        "errors": {"internal": 0, "bad_requests": 0},
        "proxies": {"reverse": {"cache": True}, "forward": None},
        "demo": None,
    }


class FakeEngine:
    """Just enough of an Engine for the UI: fixed records and a fixed snapshot."""

    def __init__(self, records: list[RequestRecord] | None = None) -> None:
        self.records = RecordLog(capacity=100)
        for rec in records if records is not None else fixed_records():
            self.records.append(rec)
        self.listeners = {"reverse": "http://127.0.0.1:8080", "forward": "http://127.0.0.1:8888"}
        self.control = FakeControl()
        self.config = Config()
        self.pools: dict[str, Any] = {}
        self.rule_configs: list[RuleConfig] = []
        self.ruleset = None
        self.cache = None
        self.reverse = None
        self.forward = None
        self.demo = None

    def records_since(self, cursor: int = 0, limit: int = 1000):
        return self.records.records_since(cursor, limit)

    def snapshot(self) -> EngineSnapshot:
        return EngineSnapshot.from_dict(fixed_snapshot(self.records.total, self.records.capacity))

    def cache_entries(self, limit: int = 200) -> tuple:
        return ()


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


def text_of(widget: Any) -> str:
    """The plain text a Static shows, whatever kind of renderable it holds."""
    import io

    from rich.console import Console

    content = widget.content
    if isinstance(content, str):
        return content
    if hasattr(content, "plain"):
        return content.plain
    console = Console(width=200, file=io.StringIO(), color_system=None, record=True)
    console.print(content)
    return console.export_text()


def classroom_on_free_ports() -> Config:
    """The built-in classroom with both proxies on free ports and no admin listener."""
    from dataclasses import replace

    from workbench.demo.classroom import classroom_config

    cfg = classroom_config()
    return replace(
        cfg,
        admin=None,
        reverse=replace(cfg.reverse, listen=Address("127.0.0.1", 0)),
        forward=replace(cfg.forward, listen=Address("127.0.0.1", 0)),
    )


@pytest.fixture
async def busy_classroom():
    """The classroom with its demo traffic running, as a class sees it: yields its engine."""
    from workbench.runtime import Runtime

    rt = Runtime(classroom_on_free_ports())
    await rt.start()
    try:
        yield rt.engine
    finally:
        await rt.stop(grace=1.0)
