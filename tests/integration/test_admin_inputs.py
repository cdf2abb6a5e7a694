"""Every admin edit endpoint against the real listener: an empty body, a body that is not an
object, an unknown field or a wrong type is a 4xx JSON error naming the field (an empty body: no
field given, listing the editable ones), and the live state is exactly as before."""

from __future__ import annotations

import json

import aiohttp
import pytest
from adminapi import admin_config, assert_json_error

from workbench.config.model import RuleConfig

RULES = (
    RuleConfig(name="r1", when="~u /blocked", action="block"),
    RuleConfig(name="r2", when="~m POST", action="tag", value="post"),
)
RULE_FIELDS = "name, when, action, phase, enabled, status, location, header, value, delay"

# (method, path, body, field the error names, words the error must contain)
CASES = [
    ("PATCH", "/api/rules/r1", {}, "body", ["no field given", RULE_FIELDS + ", move"]),
    ("PATCH", "/api/rules/r1", [], "body", ["JSON object", RULE_FIELDS]),
    ("PATCH", "/api/rules/r1", {"colour": "red"}, "colour", ["unknown field", RULE_FIELDS]),
    ("PATCH", "/api/rules/r1", {"enabled": "yes"}, "enabled", ["true or false"]),
    ("PATCH", "/api/rules/r1", {"move": "1"}, "move", ["integer"]),
    ("PATCH", "/api/rules/r1", {"move": 1, "enabled": False}, "move", ["alone"]),
    ("PATCH", "/api/rules/r1", {"status": "x"}, "status", ["integer"]),
    ("PATCH", "/api/rules/r1", {"when": "~q ("}, "when", ["col"]),
    ("POST", "/api/rules", {}, "body", ["no field given", RULE_FIELDS + ", index"]),
    ("POST", "/api/rules", "rule", "body", ["JSON object"]),
    ("POST", "/api/rules", {"name": "n", "when": "~all"}, "action", ["required"]),
    ("POST", "/api/rules", {"name": 3, "when": "~all", "action": "block"}, "name", ["string"]),
    (
        "POST",
        "/api/rules",
        {"name": "n", "when": "~all", "action": "block", "colour": 1},
        "colour",
        ["unknown field"],
    ),
    (
        "POST",
        "/api/rules",
        {"name": "n", "when": "~all", "action": "block", "index": "0"},
        "index",
        ["integer"],
    ),
    ("PATCH", "/api/pools/web", {}, "body", ["no field given", "algorithm"]),
    ("PATCH", "/api/pools/web", {"colour": 1}, "colour", ["unknown field", "algorithm"]),
    ("PATCH", "/api/pools/web", {"algorithm": 3}, "algorithm", ["round_robin"]),
    (
        "PATCH",
        "/api/pools/web",
        {"algorithm": "random_two", "colour": 1},
        "colour",
        ["unknown field"],
    ),
    ("PATCH", "/api/pools/web/backends/web-1", {}, "body", ["no field given", "weight"]),
    ("PATCH", "/api/pools/web/backends/web-1", [1], "body", ["JSON object", "weight"]),
    ("PATCH", "/api/pools/web/backends/web-1", {"weight": "3"}, "weight", ["integer"]),
    ("PATCH", "/api/pools/web/backends/web-1", {"drain": 1}, "drain", ["true or false"]),
    ("PATCH", "/api/pools/web/backends/web-1", {"weight": 2, "x": 1}, "x", ["unknown field"]),
    ("POST", "/api/cache/purge", [], "body", ["JSON object", "prefix"]),
    ("POST", "/api/cache/purge", {"prefix": 3}, "prefix", ["string"]),
    ("POST", "/api/cache/purge", {"colour": 1}, "colour", ["unknown field", "prefix"]),
    ("PATCH", "/api/forward", {}, "body", ["no field given", "privacy"]),
    ("PATCH", "/api/forward", {"privacy": 3}, "privacy", ["transparent"]),
    ("PATCH", "/api/forward", {"colour": 1}, "colour", ["unknown field", "privacy"]),
    ("PATCH", "/api/hold", {}, "body", ["no field given", "filter, phase, timeout"]),
    ("PATCH", "/api/hold", {"phase": 3}, "phase", ["request or response"]),
    ("PATCH", "/api/hold", {"timeout": "x"}, "timeout", ["seconds"]),
    ("PATCH", "/api/hold", {"timeout": float("nan")}, "timeout", ["seconds > 0, got nan"]),
    ("PATCH", "/api/hold", {"timeout": float("inf")}, "timeout", ["seconds > 0, got inf"]),
    ("PATCH", "/api/hold", {"colour": 1}, "colour", ["unknown field"]),
    ("PATCH", "/api/demo/traffic", {}, "body", ["no field given", "running, rate"]),
    ("PATCH", "/api/demo/traffic", {"colour": 1}, "colour", ["unknown field"]),
    ("POST", "/api/demo/faults", {}, "body", ["no field given", "backend, kind"]),
    ("POST", "/api/demo/faults", {"backend": "web-1"}, "kind", ["required"]),
    ("POST", "/api/demo/faults", {"backend": "web-1", "kind": "kill", "x": 1}, "x", ["unknown"]),
]


def live_state(eng) -> object:
    """Everything an edit could change (counters, timings and events left out)."""
    return (
        list(eng.rule_configs),
        [(r.config, r.hits) for r in eng.ruleset.rules],
        {
            name: (
                p.algorithm,
                [(b.name, b.weight, b.enabled, b.draining) for b in p.backends.values()],
            )
            for name, p in eng.pools.items()
        },
        eng.forward.privacy,
        eng.hold.summary(),
        len(eng.cache.entries(limit=1000)),
    )


@pytest.fixture
async def admin(origins, engine_factory):
    """A running engine with the admin API, both proxies and two rules."""
    web = await origins("web-1", "web-2")
    return await engine_factory(admin_config(web, rules=RULES, forward=True))


@pytest.mark.parametrize(("method", "path", "body", "field", "words"), CASES)
async def test_bad_edits_are_named_and_change_nothing(admin, method, path, body, field, words):
    before = live_state(admin)
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, admin.listeners["admin"] + path, data=json.dumps(body)) as r,
    ):
        data = assert_json_error(r.status, await r.read())
    assert data.get("field") == field, data
    for w in words:
        assert w in data["error"], data
    assert live_state(admin) == before
