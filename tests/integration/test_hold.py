"""Intercept (hold) end to end: held exchanges are listed, edited, resumed, killed, timed out,
and never hold up other traffic."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import aiohttp
import pytest
from configs import admin_listener, reverse_proxy
from origin import wait_for
from tls_origin import client_ssl, intercept_config, records_matching

from workbench.config.model import (
    Address,
    AdminConfig,
    Config,
    HoldConfig,
)


def config(origin, hold: HoldConfig | None = None) -> Config:
    return Config(
        admin=admin_listener(), reverse=reverse_proxy([origin.url]), hold=hold or HoldConfig()
    )


async def held_ids(s: aiohttp.ClientSession, api: str, count: int = 1) -> list[dict]:
    found: list[dict] = []

    async def poll() -> None:
        while True:
            async with s.get(f"{api}/api/held") as r:
                found[:] = (await r.json())["held"]
            if len(found) >= count:
                return
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), 5)
    return found


async def test_held_request_is_edited_and_resumed_while_others_pass(origins, engine_factory):
    (web,) = await origins("web-1")
    engine = await engine_factory(config(web))
    api, proxy = engine.listeners["admin"], engine.listeners["reverse"]
    async with aiohttp.ClientSession() as s:
        async with s.patch(f"{api}/api/hold", json={"filter": "~u /echo & ~m POST"}) as r:
            assert r.status == 200 and (await r.json())["phase"] == "request"
        pending = asyncio.ensure_future(s.post(f"{proxy}/echo", data=b"original"))
        (held,) = await held_ids(s, api)
        assert held["phase"] == "request" and held["body"] == "original"
        async with s.get(f"{proxy}/other") as r:  # not held, and not held up
            assert r.status == 200
        headers = held["headers"] + [["X-Added", "by-user"]]
        patch = {"headers": headers, "body": "edited!"}
        async with s.patch(f"{api}/api/held/{held['id']}", json=patch) as r:
            assert r.status == 200 and (await r.json())["edited"] is True
        async with s.post(f"{api}/api/held/{held['id']}/resume") as r:
            assert r.status == 200
        resp = await pending
        seen = json.loads(await resp.text())
        resp.release()
    assert ["X-Added", "by-user"] in seen["headers"] and seen["body_len"] == 7
    (rec,) = await records_matching(engine, lambda r: r.id == held["id"])
    assert [s[:2] for s in rec.trace if s[0] == "hold"] == [("hold", "held"), ("hold", "resume")]
    assert not engine.hold.held


async def test_api_edits_a_held_request_line_and_resumes_all(origins, engine_factory):
    (web,) = await origins("web-1")
    engine = await engine_factory(config(web))
    api, proxy = engine.listeners["admin"], engine.listeners["reverse"]
    async with aiohttp.ClientSession() as s:
        async with s.patch(f"{api}/api/hold", json={"filter": "~u /echo"}) as r:
            assert r.status == 200
        one = asyncio.ensure_future(s.get(f"{proxy}/echo?one"))
        two = asyncio.ensure_future(s.get(f"{proxy}/echo?two"))
        held = await held_ids(s, api, 2)
        first = held[0]["id"]
        bad = {"url": "http://other.test/echo"}
        async with s.patch(f"{api}/api/held/{first}", json=bad) as r:
            answer = await r.json()
            assert r.status == 400 and answer["field"] == "url"
            assert "destination is chosen" in answer["error"]
        patch = {"method": "DELETE", "url": "/echo?changed"}
        async with s.patch(f"{api}/api/held/{first}", json=patch) as r:
            assert r.status == 200 and (await r.json())["method"] == "DELETE"
        async with s.post(f"{api}/api/held/resume") as r:
            assert r.status == 200
            assert sorted((await r.json())["resumed"]) == sorted(h["id"] for h in held)
        seen = []
        for pending in (one, two):
            resp = await pending
            seen.append(json.loads(await resp.text()))
            resp.release()
    other = held[1]["url"].split("/", 3)[3]  # whichever of the two was held second
    assert {(e["method"], e["path"]) for e in seen} == {
        ("DELETE", "/echo?changed"),
        ("GET", "/" + other),
    }
    (rec,) = await records_matching(engine, lambda r: r.id == first)
    assert rec.upstream_target == "/echo?changed"
    assert "method GET → DELETE" in [s for s in rec.trace if s[0] == "hold"][-1][2]


async def test_held_response_is_edited_then_killed_and_timed_out(origins, engine_factory):
    (web,) = await origins("web-1")
    engine = await engine_factory(config(web))
    api, proxy = engine.listeners["admin"], engine.listeners["reverse"]
    async with aiohttp.ClientSession() as s:
        async with s.patch(f"{api}/api/hold", json={"filter": "~u /echo", "phase": "response"}):
            pass
        pending = asyncio.ensure_future(s.get(f"{proxy}/echo"))
        (held,) = await held_ids(s, api)
        assert held["status"] == 200 and json.loads(held["body"])["path"] == "/echo"
        edit = {"body": "replaced", "status": 202}
        async with s.patch(f"{api}/api/held/{held['id']}", json=edit) as r:
            assert r.status == 200
        async with s.post(f"{api}/api/held/{held['id']}/resume"):
            pass
        resp = await pending
        assert (resp.status, await resp.text()) == (202, "replaced")
        resp.release()

        # POST: aiohttp would silently retry a GET whose pooled connection closed.
        pending = asyncio.ensure_future(s.post(f"{proxy}/echo?kill", data=b"x"))
        (held,) = await held_ids(s, api)
        async with s.post(f"{api}/api/held/{held['id']}/kill") as r:
            assert r.status == 200
        with pytest.raises(aiohttp.ClientError):
            await pending
        async with s.post(f"{api}/api/held/{held['id']}/kill") as r:
            assert r.status == 404

        async with s.patch(f"{api}/api/hold", json={"timeout": 0.2, "on_timeout": "fail"}):
            pass
        async with s.get(f"{proxy}/echo?late") as r:
            assert r.status == 504 and "hold.on_timeout: fail" in await r.text()
        async with s.patch(f"{api}/api/hold", json={"filter": "~zz"}) as r:
            assert r.status == 400 and (await r.json())["field"] == "filter"
    killed = await records_matching(engine, lambda r: r.path == "/echo?kill")
    assert killed[0].error == "killed while held by the intercept filter"


async def test_intercepted_https_request_edited_reaches_the_origin(
    tmp_path, tls_origin, engine_factory
):
    cfg = intercept_config(tmp_path, tls_origin)
    cfg = replace(
        cfg,
        admin=AdminConfig(listen=Address("127.0.0.1", 0)),
        hold=HoldConfig(filter="~u /echo"),
    )
    engine = await engine_factory(cfg)
    url = f"https://localhost:{tls_origin.port}/echo"
    async with aiohttp.ClientSession() as s:
        pending = asyncio.ensure_future(
            s.get(url, proxy=engine.listeners["forward"], ssl=client_ssl(tmp_path))
        )
        await wait_for(lambda: bool(engine.hold.held))
        (held,) = engine.control.held()
        res = engine.control.edit_held(held["id"], {"headers": held["headers"] + [["X-E", "1"]]})
        assert res.ok, res.error
        assert engine.control.resume_held(held["id"]).ok
        resp = await pending
        seen = await resp.json()
        resp.release()
    assert ["X-E", "1"] in seen["headers"]
