"""The commented sample configs in ``sample_configs/``: each one validates, says what its comments
promise, and ``reverse.yaml`` really balances traffic when pointed at live servers.

The samples are teaching material: a file that no longer loads, or whose comments describe
settings it does not have, misleads exactly the people who trust it most.
"""

from __future__ import annotations

import collections
import ipaddress
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from workbench.config.load import load_config
from workbench.config.model import Address, Config
from workbench.demo.classroom import classroom_config
from workbench.engine.observe.records import Headers, RequestRecord
from workbench.engine.rules.ruleset import RuleSet, Verdict

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_configs"
SAMPLE_FILES = sorted(SAMPLES.glob("*.yaml"))


def _verdict(
    rules: RuleSet, url: str, host: str, method: str = "GET", headers: Headers | None = None
) -> Verdict:
    """What the request-phase rules decide for a forward-proxy request to ``url``."""
    rec = RequestRecord(
        1, 0.0, "127.0.0.1", "forward", method, url, host, "/", [("Host", host), *(headers or [])]
    )
    return rules.evaluate("request", rec)


def _blocked_by(rules: RuleSet, url: str, host: str, method: str = "GET") -> str | None:
    v = _verdict(rules, url, host, method)
    return v.rule.config.name if v.action == "block" and v.rule is not None else None


def _classroom(cfg: Config, path: Path) -> None:
    # The file is the built-in classroom written out: identical in every field.
    assert cfg == replace(classroom_config(), source=str(path))


def _reverse(cfg: Config, path: Path) -> None:
    assert cfg.forward is None and cfg.demo is None  # the user's own services, nothing built in
    assert cfg.admin is not None and cfg.admin.listen == Address("127.0.0.1", 8081)
    rev = cfg.reverse
    assert rev is not None and rev.listen == Address("127.0.0.1", 8080)
    assert rev.forwarded_headers and rev.cache
    assert set(rev.hide_backend_headers) == {"Server", "X-Powered-By"}
    # `workbench demo-backends --count 3 --base-port 9001` serves exactly these addresses.
    urls = sorted(b.url for p in rev.pools.values() for b in p.backends)
    assert urls == [f"http://127.0.0.1:{9001 + i}" for i in range(3)]
    routes = {r.name: (r.path_prefix, r.pool, r.strip_prefix) for r in rev.routes}
    assert routes == {
        "api": ("/api", "api", False),
        "app": ("/app", "web", True),
        "site": ("/", "web", False),
    }
    web, api = rev.pools["web"], rev.pools["api"]
    assert web.algorithm == "weighted_round_robin"
    assert [(b.name, b.weight) for b in web.backends] == [("web-1", 2), ("web-2", 1)]
    assert web.health is not None and web.health.expect_status == (200, 399)
    assert (web.health.rise, web.health.fall, web.health.interval) == (2, 3, 2.0)
    assert (web.passive.consecutive_failures, web.passive.eject_for) == (5, 10.0)
    assert web.retries == 1 and web.timeouts.response == 15.0
    assert api.algorithm == "least_connections" and api.retries == 0
    assert api.health is not None and api.passive.consecutive_failures == 3
    assert rev.limits.max_body_size == 10 * 1024 * 1024


def _forward(cfg: Config, path: Path) -> None:
    fwd = cfg.forward
    assert cfg.reverse is None and fwd is not None
    assert fwd.privacy == "elite" and fwd.cache
    assert fwd.connect_ports == (443, 8443)
    assert all(ipaddress.ip_network(c).is_loopback for c in fwd.allow_clients)
    # Auth is shown commented out, with the command that makes a hash.
    assert fwd.auth is None
    text = path.read_text()
    assert "workbench hash-password" in text and "# auth:" in text
    # The rules do what their comments say, for plain HTTP and for CONNECT targets alike.
    rules = RuleSet.compile(cfg.rules)
    tracker = "pixel.tracker.example.test"
    assert _blocked_by(rules, f"http://{tracker}/p.gif", tracker) == "block-trackers"
    assert _blocked_by(rules, f"{tracker}:443", tracker, "CONNECT") == "block-trackers"
    assert _blocked_by(rules, "http://ads.example.com/banner", "ads.example.com") == "block-ads"
    ad = "adserver.example.com"
    assert _blocked_by(rules, f"{ad}:443", ad, "CONNECT") == "block-ads"
    assert _blocked_by(rules, "http://example.com/roads.html", "example.com") is None
    page = "http://example.com/"
    sent = _verdict(rules, page, "example.com", headers=[("Referer", "http://a.test/q=secret")])
    assert sent.action is None and sent.remove_headers == ["Referer"]
    assert _verdict(rules, page, "example.com").remove_headers == []
    assert all(r.status in (None, 403) for r in cfg.rules if r.action == "block")


def _cache_lab(cfg: Config, path: Path) -> None:
    rev = cfg.reverse
    assert rev is not None and rev.cache and cfg.forward is None
    # Small enough that a few dozen distinct URLs force evictions.
    assert cfg.cache.max_size <= 16 * 1024
    assert cfg.cache.max_object_size < cfg.cache.max_size
    prefixes = {r.path_prefix for r in rev.routes}
    assert {"/static", "/etag", "/lang", "/private"} <= prefixes
    backends = [b for p in rev.pools.values() for b in p.backends]
    assert backends and all(b.url.startswith("demo://") for b in backends)
    assert cfg.demo is not None and cfg.demo.backends == len(backends)
    assert not cfg.demo.traffic.enabled  # only the learner's own requests fill the cache
    assert cfg.admin is not None  # the purge example uses the admin API


def _lesson_balancing(cfg: Config, path: Path) -> None:
    rev = cfg.reverse
    assert rev is not None and not rev.cache  # every request must reach a backend to count
    (pool,) = rev.pools.values()
    assert pool.algorithm == "round_robin" and pool.hash_key == "path"
    assert [b.url for b in pool.backends] == [f"demo://web-{i}" for i in (1, 2, 3)]
    assert pool.health is not None
    assert cfg.demo is not None and cfg.demo.backends == 3 and cfg.demo.traffic.enabled
    assert cfg.admin is not None  # the PATCH example uses the admin API


def _lesson_privacy(cfg: Config, path: Path) -> None:
    assert cfg.reverse is None
    assert cfg.forward is not None and cfg.forward.privacy == "anonymous"
    assert cfg.forward.listen == Address("127.0.0.1", 8888)
    # The curl commands in the comments use web-1 on this fixed port.
    assert cfg.demo is not None and (cfg.demo.backends, cfg.demo.base_port) == (1, 9101)
    assert "127.0.0.1:9101/echo" in path.read_text()


def _lesson_tls(cfg: Config, path: Path) -> None:
    fwd, rev = cfg.forward, cfg.reverse
    assert fwd is not None and rev is not None
    assert rev.tls is not None and rev.tls.self_signed
    # The local TLS server this file starts must be a port the forward proxy may tunnel to,
    # and so must the openssl example's port.
    assert rev.listen.port in fwd.connect_ports and 4443 in fwd.connect_ports
    assert 443 in fwd.connect_ports and 8080 not in fwd.connect_ports


FACTS: dict[str, Callable[[Config, Path], None]] = {
    "classroom.yaml": _classroom,
    "reverse.yaml": _reverse,
    "forward.yaml": _forward,
    "cache-lab.yaml": _cache_lab,
    "lesson-balancing.yaml": _lesson_balancing,
    "lesson-privacy.yaml": _lesson_privacy,
    "lesson-tls.yaml": _lesson_tls,
}


def test_every_sample_has_its_facts_checked():
    assert sorted(p.name for p in SAMPLE_FILES) == sorted(FACTS)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_workbench_check_accepts(path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "check", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    *before, last = proc.stdout.strip().splitlines()
    assert last == f"{path}: ok"
    # A config that intercepts HTTPS is told which CA signs (or that one will be created).
    assert all(line.startswith(f"{path}: forward.intercept.ca_dir: ") for line in before)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_loaded_config_matches_its_comments(path: Path):
    cfg = load_config(path)
    assert cfg.source == str(path)
    FACTS[path.name](cfg, path)


async def test_reverse_sample_balances_real_origins(origins, engine_factory):
    """reverse.yaml on free ports, its backend URLs pointed at live origins of the same names."""
    cfg = load_config(SAMPLES / "reverse.yaml")
    assert cfg.reverse is not None and cfg.admin is not None
    live = {o.name: o for o in await origins("web-1", "web-2", "web-3")}
    pools = {
        name: replace(pool, backends=tuple(replace(b, url=live[b.name].url) for b in pool.backends))
        for name, pool in cfg.reverse.pools.items()
    }
    cfg = replace(
        cfg,
        admin=replace(cfg.admin, listen=Address("127.0.0.1", 0)),
        reverse=replace(cfg.reverse, listen=Address("127.0.0.1", 0), pools=pools),
    )
    eng = await engine_factory(cfg)
    url = eng.listeners["reverse"]
    seen: collections.Counter[str] = collections.Counter()
    async with aiohttp.ClientSession() as s:
        # Weights 2:1 in the web pool: web-1 answers twice as often as web-2.
        for _ in range(9):
            async with s.get(url + "/") as r:
                assert r.status == 200
                assert await r.text() == f"hello from {r.headers['X-Backend']}\n"
                # The origin's software banners are hidden from the client.
                assert "X-Powered-By" not in r.headers
                assert "origin/1.0" not in r.headers.get("Server", "")
                seen[r.headers["X-Backend"]] += 1
        assert seen == {"web-1": 6, "web-2": 3}

        # /app is cut off before the request reaches the web pool; the origin learns the client.
        async with s.get(url + "/app/echo") as r:
            assert r.status == 200
            echo = json.loads(await r.text())
        assert echo["path"] == "/echo" and echo["backend"] in ("web-1", "web-2")
        received = {k.lower(): v for k, v in echo["headers"]}
        assert received["x-forwarded-for"] == "127.0.0.1"
        assert "forwarded" in received

        # /api keeps its prefix and goes to the api pool's only backend.
        async with s.get(url + "/api/echo") as r:
            assert r.status == 200
            echo = json.loads(await r.text())
        assert (echo["backend"], echo["path"]) == ("web-3", "/api/echo")
