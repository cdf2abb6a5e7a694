"""The admin HTTP API against a running engine: reads, live edits, errors and auth."""

from __future__ import annotations

import aiohttp
import pytest
from adminapi import admin_config

from workbench.config.model import RuleConfig

RULES = (RuleConfig(name="no-admin", when="~u /admin", action="block"),)


async def test_state_requests_and_metrics(origins, engine_factory):
    web = await origins("web-1", "web-2")
    eng = await engine_factory(admin_config(web, rules=RULES))
    api = eng.listeners["admin"]
    async with aiohttp.ClientSession() as s:
        for _ in range(4):
            async with s.get(eng.listeners["reverse"] + "/") as r:
                assert r.status == 200
        async with s.get(api + "/api/state") as r:
            state = await r.json()
        names = [b["name"] for b in state["pools"]["web"]["backends"]]
        assert names == ["web-1", "web-2"]
        assert state["records"]["total"] == 4
        async with s.get(api + "/api/requests?since=0&limit=3") as r:
            page = await r.json()
        assert len(page["requests"]) == 3 and page["cursor"] == 4 and page["skipped"] == 1
        assert page["requests"][0]["trace"][0][0] == "route"
        async with s.get(api + "/metrics") as r:
            text = await r.text()
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'workbench_backend_requests_total{pool="web",backend="web-1"} 2' in text
    assert 'workbench_requests_total{proxy="reverse",status_class="2xx"} 4' in text


async def test_patch_weight_and_bad_bodies_change_nothing(origins, engine_factory):
    web = await origins("web-1", "web-2")
    eng = await engine_factory(admin_config(web, rules=RULES))
    api = eng.listeners["admin"]
    url = api + "/api/pools/web/backends/web-2"
    async with aiohttp.ClientSession() as s:
        for body, field in [
            ({"weight": -1}, "weight"),
            ({"weight": "5"}, "weight"),
            ({"enabled": "no"}, "enabled"),
            ({"colour": 1}, "colour"),
            ({"weight": 2, "drain": "x"}, "drain"),
        ]:
            async with s.patch(url, json=body) as r:
                assert r.status == 400
                data = await r.json()
                assert data["field"] == field and data["error"]
        assert eng.pools["web"].backends["web-2"].weight == 1
        async with s.patch(url, data=b"{not json") as r:
            assert r.status == 400
        async with s.patch(api + "/api/pools/web/backends/nope", json={"weight": 1}) as r:
            assert r.status == 404
        async with s.patch(url, json={"weight": 0}) as r:
            assert r.status == 200
        async with s.patch(api + "/api/pools/web", json={"algorithm": "fastest"}) as r:
            assert r.status == 400
        async with s.patch(api + "/api/pools/web", json={"algorithm": "least_connections"}) as r:
            assert r.status == 200
        for _ in range(6):
            async with s.get(eng.listeners["reverse"] + "/") as r:
                assert r.headers["X-Backend"] == "web-1"
        async with s.get(api + "/api/state") as r:
            state = await r.json()
    assert eng.pools["web"].algorithm == "least_connections"
    # Least connections promises no share: the API says so as the UI does (not weight ÷ total).
    assert [b["expected_share"] for b in state["pools"]["web"]["backends"]] == [None, None]
    assert any("weight 1 → 0" in e.message for e in eng.events.recent())


async def test_rules_crud_applies_to_live_traffic(origins, engine_factory):
    (web,) = await origins("web-1")
    eng = await engine_factory(admin_config([web], rules=RULES))
    api = eng.listeners["admin"]
    proxy = eng.listeners["reverse"]
    async with aiohttp.ClientSession() as s:
        async with s.post(
            api + "/api/rules", json={"name": "bad", "when": "~u (", "action": "block"}
        ) as r:
            assert r.status == 400
            assert "col" in (await r.json())["error"]
        async with s.post(
            api + "/api/rules",
            json={"name": "no-x", "when": "~u /x", "action": "block", "status": 451},
        ) as r:
            assert r.status == 201
        async with s.get(proxy + "/x") as r:
            assert r.status == 451
            assert "no-x" in await r.text()
        async with s.patch(api + "/api/rules/no-x", json={"enabled": False}) as r:
            assert r.status == 200
        async with s.get(proxy + "/x") as r:
            assert r.status == 200
        async with s.patch(api + "/api/rules/no-x", json={"enabled": True}) as r:
            assert r.status == 200
        async with s.patch(api + "/api/rules/no-x", json={"move": -1}) as r:
            assert [x["name"] for x in (await r.json())["rules"]] == ["no-x", "no-admin"]
        async with s.delete(api + "/api/rules/no-x") as r:
            assert r.status == 200
        async with s.delete(api + "/api/rules/no-x") as r:
            assert r.status == 404 or r.status == 400
        async with s.get(api + "/api/rules") as r:
            assert [x["name"] for x in (await r.json())["rules"]] == ["no-admin"]
    # The change log says what each edit did, in words that tell them apart.
    logged = [e.message for e in eng.events.recent() if e.message.startswith("rules:")]
    assert logged == [
        "rules: added 'no-x'",
        "rules: disabled 'no-x'",
        "rules: enabled 'no-x'",
        "rules: moved 'no-x' up",
        "rules: deleted 'no-x'",
    ]


@pytest.mark.parametrize(
    "header,status", [(None, 401), ("Bearer wrong", 401), ("Bearer t0ken", 200)]
)
async def test_token_is_required_when_set(origins, engine_factory, header, status):
    (web,) = await origins("web-1")
    eng = await engine_factory(admin_config([web], rules=RULES, token="t0ken"))
    headers = {"Authorization": header} if header else {}
    async with (
        aiohttp.ClientSession() as s,
        s.get(eng.listeners["admin"] + "/api/state", headers=headers) as r,
    ):
        assert r.status == status
