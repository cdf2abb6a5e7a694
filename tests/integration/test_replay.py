"""Replay and edit-and-replay through the proxy that handled the request, with real origins."""

from __future__ import annotations

import aiohttp
from configs import admin_listener, forward_proxy, reverse_proxy
from origin import wait_for
from tls_origin import client_ssl, intercept_config, records_matching

from workbench.config.model import (
    Config,
)


def config(origin) -> Config:
    return Config(
        admin=admin_listener(), forward=forward_proxy(), reverse=reverse_proxy([origin.url])
    )


async def replayed(engine, new_id):
    (rec,) = await records_matching(engine, lambda r: r.id == new_id)
    return rec


async def test_replay_through_the_reverse_proxy_links_the_records(origins, engine_factory):
    (web,) = await origins("web-1")
    engine = await engine_factory(config(web))
    async with aiohttp.ClientSession() as s:
        async with s.get(engine.listeners["reverse"] + "/echo?a=1", headers={"X-K": "v"}) as r:
            assert r.status == 200
    (orig,) = await records_matching(engine, lambda r: r.path == "/echo?a=1")
    res = engine.control.replay(orig.id)
    assert res.ok, res.error
    rec = await replayed(engine, res.value)
    assert rec.replay_of == orig.id and rec.status == 200 and rec.path == "/echo?a=1"
    assert ("replay", f"#{orig.id}", f"replay of #{orig.id}") in rec.trace
    assert ("X-K", "v") in rec.request_headers
    assert not any(n.lower() == "x-workbench-replay" for n, _ in rec.request_headers)
    assert not any(n.lower() == "x-workbench-replay" for n, _ in rec.upstream_headers)
    assert web.hits == 2 and not engine.replays


async def test_edit_and_replay_through_the_admin_api(origins, engine_factory):
    (web,) = await origins("web-1")
    engine = await engine_factory(config(web))
    api = engine.listeners["admin"]
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{web.url}/echo", proxy=engine.listeners["forward"]):
            pass
        (orig,) = await records_matching(engine, lambda r: r.path == "/echo")
        edit = {
            "method": "PUT",
            "headers": [["Host", f"127.0.0.1:{web.port}"], ["X-Edited", "yes"]],
            "body": "hello",
        }
        async with s.post(f"{api}/api/requests/{orig.id}/replay", json=edit) as r:
            assert r.status == 200
            new_id = (await r.json())["id"]
        rec = await replayed(engine, new_id)
        assert (rec.method, rec.status, rec.replay_of, rec.bytes_in) == ("PUT", 200, orig.id, 5)
        assert ("X-Edited", "yes") in rec.upstream_headers
        async with s.post(f"{api}/api/requests/{orig.id}/replay", json={"colour": 1}) as r:
            assert r.status == 400 and (await r.json())["field"] == "colour"
        async with s.post(f"{api}/api/requests/99999/replay") as r:
            assert r.status == 404
        async with s.post(f"{api}/api/requests/{orig.id}/replay", json={"method": "G T"}) as r:
            assert r.status == 400 and (await r.json())["field"] == "method"


async def test_replay_of_an_intercepted_https_request(tmp_path, tls_origin, engine_factory):
    engine = await engine_factory(intercept_config(tmp_path, tls_origin))
    url = f"https://localhost:{tls_origin.port}/echo"
    async with aiohttp.ClientSession() as s:
        async with s.get(url, proxy=engine.listeners["forward"], ssl=client_ssl(tmp_path)) as r:
            assert r.status == 200
    (orig,) = await records_matching(engine, lambda r: r.url == url)
    res = engine.control.replay(orig.id)
    assert res.ok, res.error
    rec = await replayed(engine, res.value)
    assert rec.replay_of == orig.id and rec.status == 200 and rec.url == url
    await wait_for(lambda: tls_origin.hits == 2)
    (connect,) = [r for r in engine.records_since(0)[0] if r.method == "CONNECT"][:1]
    assert engine.control.replay(connect.id).field == "id"


async def test_replay_resends_the_recorded_body(origins, engine_factory):
    (web,) = await origins("web-1")
    engine = await engine_factory(config(web))
    async with aiohttp.ClientSession() as s:
        async with s.post(engine.listeners["reverse"] + "/echo", json={"a": 1}) as r:
            assert r.status == 200
    (orig,) = await records_matching(engine, lambda r: r.method == "POST")
    res = engine.control.replay(orig.id)
    assert res.ok, res.error
    rec = await replayed(engine, res.value)
    assert (rec.method, rec.status, rec.bytes_in) == ("POST", 200, len(b'{"a": 1}'))
    assert web.hits == 2


async def test_a_replay_that_never_reaches_the_pipeline_still_gets_its_record(
    tmp_path, tls_origin, engine_factory
):
    """The id the caller was given always becomes a record: here the edited URL names a host
    that is not intercepted (a tunnel to the real origin, whose certificate is not our CA's)
    and then a port the forward proxy refuses to CONNECT to."""
    engine = await engine_factory(intercept_config(tmp_path, tls_origin))
    url = f"https://localhost:{tls_origin.port}/echo"
    async with aiohttp.ClientSession() as s:
        async with s.get(url, proxy=engine.listeners["forward"], ssl=client_ssl(tmp_path)) as r:
            assert r.status == 200
    (orig,) = await records_matching(engine, lambda r: r.url == url)
    tunnelled = f"https://127.0.0.1:{tls_origin.port}/echo"
    refused = "https://localhost:1/echo"
    ids = []
    for target in (tunnelled, refused):
        res = engine.control.replay(orig.id, {"url": target})
        assert res.ok, res.error
        ids.append(res.value)
    first = await replayed(engine, ids[0])
    second = await replayed(engine, ids[1])
    for rec, target in ((first, tunnelled), (second, refused)):
        assert rec.replay_of == orig.id and rec.url == target and rec.status is None
        assert rec.trace[0] == ("replay", f"#{orig.id}", f"replay of #{orig.id}")
        assert rec.trace[-1][:2] == ("replay", "failed")
    assert "not in forward.intercept.hosts" in first.error
    assert "refused the CONNECT" in second.error and "403" in second.error
    assert tls_origin.hits == 1 and not engine.replays


async def test_a_forward_replay_takes_a_path_for_the_same_origin(origins, engine_factory):
    (web,) = await origins("web-1")
    engine = await engine_factory(config(web))
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{web.url}/echo", proxy=engine.listeners["forward"]) as r:
            assert r.status == 200
    (orig,) = await records_matching(engine, lambda r: r.path == "/echo")
    res = engine.control.replay(orig.id, {"url": "/echo?edited=1"})
    assert res.ok, res.error
    rec = await replayed(engine, res.value)
    assert rec.url == f"{web.url}/echo?edited=1" and rec.status == 200
    assert engine.control.replay(orig.id, {"url": "echo"}).field == "url"
