"""Edit-and-replay of intercepted HTTPS through the admin API, with a real TLS origin: an edit
that lists headers keeps the request's Host, and a replay the proxy refuses before its pipeline
says what the proxy answered."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
from configs import admin_listener
from tls_origin import client_ssl, intercept_config, records_matching


async def _recorded_post(tmp_path, tls_origin, engine_factory):
    cfg = replace(intercept_config(tmp_path, tls_origin), admin=admin_listener())
    engine = await engine_factory(cfg)
    url = f"https://localhost:{tls_origin.port}/echo"
    async with aiohttp.ClientSession() as s:
        async with s.post(
            url, json={"n": 1}, proxy=engine.listeners["forward"], ssl=client_ssl(tmp_path)
        ) as r:
            assert r.status == 200
    (orig,) = await records_matching(engine, lambda r: r.method == "POST")
    return engine, orig


async def _replay(engine, rec_id, edit):
    api = engine.listeners["admin"]
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{api}/api/requests/{rec_id}/replay", json=edit) as r:
            assert r.status == 200, await r.text()
            new_id = (await r.json())["id"]
    (rec,) = await records_matching(engine, lambda r: r.id == new_id)
    return rec


async def test_edited_headers_without_host_keep_the_original_host(
    tmp_path, tls_origin, engine_factory
):
    engine, orig = await _recorded_post(tmp_path, tls_origin, engine_factory)
    edit = {"headers": [["Content-Type", "application/json"], ["X-Edited", "yes"]]}
    rec = await _replay(engine, orig.id, edit)
    assert (rec.status, rec.replay_of, rec.error) == (200, orig.id, None)
    assert ("Host", f"localhost:{tls_origin.port}") in rec.request_headers
    assert ("X-Edited", "yes") in rec.upstream_headers
    assert tls_origin.hits == 2  # the origin saw the edited request


async def test_a_replay_refused_before_the_pipeline_says_what_the_proxy_answered(
    tmp_path, tls_origin, engine_factory
):
    engine, orig = await _recorded_post(tmp_path, tls_origin, engine_factory)
    edit = {"headers": [["Host", "localhost"], ["Host", "other.test"]]}
    rec = await _replay(engine, orig.id, edit)
    assert rec.replay_of == orig.id and rec.status is None
    assert rec.error == (
        "replay failed: the proxy refused the request before its pipeline: "
        "HTTP/1.1 400 Bad Request (A request needs exactly one Host header.)"
    )
    assert tls_origin.hits == 1


async def test_urls_that_cannot_be_sent_are_400_naming_the_url(
    tmp_path, tls_origin, engine_factory
):
    engine, orig = await _recorded_post(tmp_path, tls_origin, engine_factory)
    api = engine.listeners["admin"]
    async with aiohttp.ClientSession() as s:
        for url, words in (
            ("https://localhost:99999/", "Port out of range"),
            ("https://[::1/x", "Invalid IPv6 URL"),
            ("http://[zz]/", "does not appear to be an IPv4 or IPv6 address"),
            ("/a b", "spaces and control characters must be percent-encoded"),
            ("/a\x00b", "spaces and control characters must be percent-encoded"),
        ):
            async with s.post(f"{api}/api/requests/{orig.id}/replay", json={"url": url}) as r:
                body = await r.json()
                assert (r.status, body["field"]) == (400, "url"), (url, body)
                assert body["error"].startswith("url: ") and words in body["error"], body
    assert engine.recorder.internal_errors == 0 and not engine.replays
    assert tls_origin.hits == 1
