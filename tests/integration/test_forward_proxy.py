"""The forward proxy end to end with real clients (aiohttp and curl) and real origins."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl

import aiohttp
import pytest

from workbench.config.model import Address, AuthConfig, Config, ForwardConfig, RuleConfig


def forward_config(**kw) -> Config:
    rules = kw.pop("rules", ())
    return Config(
        forward=ForwardConfig(listen=Address("127.0.0.1", 0), cache=False, **kw), rules=tuple(rules)
    )


async def echo_through(proxy: str, url: str, headers=None) -> dict:
    async with aiohttp.ClientSession() as s, s.get(url, proxy=proxy, headers=headers) as r:
        assert r.status == 200, await r.text()
        return json.loads(await r.text())


async def test_absolute_form_and_keepalive(origins, engine_factory):
    (origin,) = await origins("origin")
    eng = await engine_factory(forward_config())
    proxy = eng.listeners["forward"]
    async with aiohttp.ClientSession() as s:
        for i in range(5):
            async with s.get(origin.url + f"/echo?i={i}", proxy=proxy) as r:
                data = await r.json(content_type=None)
                assert data["path"] == f"/echo?i={i}"
    records, _, _ = eng.records_since(0, 100)
    assert [r.status for r in records] == [200] * 5
    assert all(r.proxy == "forward" for r in records)


@pytest.mark.parametrize(
    "mode,expect_xff,expect_via",
    [("transparent", True, True), ("anonymous", False, True), ("elite", False, False)],
)
async def test_privacy_modes_what_the_origin_sees(
    origins, engine_factory, mode, expect_xff, expect_via
):
    (origin,) = await origins("origin")
    eng = await engine_factory(forward_config(privacy=mode))
    sent = {"X-Forwarded-For": "198.51.100.7", "X-Real-IP": "198.51.100.7", "Client-IP": "1.2.3.4"}
    data = await echo_through(eng.listeners["forward"], origin.url + "/echo", sent)
    got = {k.lower(): v for k, v in data["headers"]}
    if expect_xff:
        assert got["x-forwarded-for"] == "198.51.100.7, 127.0.0.1"
    else:
        assert "x-forwarded-for" not in got
        assert "x-real-ip" not in got
    assert ("via" in got) == expect_via
    if mode == "elite":
        revealing = {
            "via",
            "forwarded",
            "x-forwarded-for",
            "x-real-ip",
            "client-ip",
            "proxy-connection",
        }
        assert not revealing & set(got)


async def test_origin_form_gets_400_explaining(engine_factory):
    eng = await engine_factory(forward_config())
    async with aiohttp.ClientSession() as s, s.get(eng.listeners["forward"] + "/page") as r:
        assert r.status == 400
        assert "absolute URL" in await r.text()


async def test_request_to_itself_is_508(engine_factory):
    eng = await engine_factory(forward_config())
    proxy = eng.listeners["forward"]
    async with aiohttp.ClientSession() as s, s.get(proxy + "/x", proxy=proxy) as r:
        assert r.status == 508


async def test_dead_origin_502(origins, engine_factory):
    (origin,) = await origins("origin")
    url = origin.url
    await origin.stop()
    eng = await engine_factory(forward_config())
    async with aiohttp.ClientSession() as s, s.get(url + "/", proxy=eng.listeners["forward"]) as r:
        assert r.status == 502


async def test_client_outside_allow_clients_refused(origins, engine_factory):
    (origin,) = await origins("origin")
    eng = await engine_factory(forward_config(allow_clients=("10.0.0.0/8",)))
    async with (
        aiohttp.ClientSession() as s,
        s.get(origin.url + "/", proxy=eng.listeners["forward"]) as r,
    ):
        assert r.status == 403
        assert "allow_clients" in await r.text()
    rec = eng.records_since(0, 10)[0][-1]
    assert ("acl", "deny") == rec.trace[0][:2]


async def test_block_rule_returns_its_page(origins, engine_factory):
    (origin,) = await origins("origin")
    rule = RuleConfig(name="no-echo", when="~u /echo", action="block", status=403)
    eng = await engine_factory(forward_config(rules=[rule]))
    async with aiohttp.ClientSession() as s:
        async with s.get(origin.url + "/echo", proxy=eng.listeners["forward"]) as r:
            assert r.status == 403
            assert "no-echo" in await r.text()
        async with s.get(origin.url + "/", proxy=eng.listeners["forward"]) as r:
            assert r.status == 200
    assert origin.hits == 1


async def test_proxy_auth_407_then_ok(origins, engine_factory):
    from workbench.config.passwords import hash_password

    (origin,) = await origins("origin")
    auth = AuthConfig(users={"alice": hash_password("s3cret", iterations=1000)})
    eng = await engine_factory(forward_config(auth=auth))
    proxy = eng.listeners["forward"]
    async with aiohttp.ClientSession() as s:
        async with s.get(origin.url + "/", proxy=proxy) as r:
            assert r.status == 407
            assert r.headers["Proxy-Authenticate"].startswith("Basic")
        bad = {"Proxy-Authorization": aiohttp.encode_basic_auth("alice", "wrong")}
        async with s.get(origin.url + "/", proxy=proxy, headers=bad) as r:
            assert r.status == 407
        good = {"Proxy-Authorization": aiohttp.encode_basic_auth("alice", "s3cret")}
        async with s.get(origin.url + "/echo", proxy=proxy, headers=good) as r:
            assert r.status == 200
            got = {k.lower() for k, _ in (await r.json(content_type=None))["headers"]}
            assert "proxy-authorization" not in got


@pytest.fixture
def tls_origin_factory():
    trustme = pytest.importorskip("trustme")
    servers = []

    async def make():
        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)

        async def handle(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            body = b"secret page"
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%b"
                % (len(body), body)
            )
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
        servers.append(server)
        return server.sockets[0].getsockname()[1], ca

    yield make
    for s in servers:
        s.close()


async def test_connect_tunnel_records_sni(tls_origin_factory, engine_factory):
    port, ca = await tls_origin_factory()
    eng = await engine_factory(forward_config(connect_ports=(port,)))
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    async with aiohttp.ClientSession() as s:
        async with s.get(
            f"https://localhost:{port}/", proxy=eng.listeners["forward"], ssl=client_ctx
        ) as r:
            assert r.status == 200
            assert await r.text() == "secret page"
    from origin import wait_for

    await wait_for(lambda: any(r.method == "CONNECT" for r in eng.records_since(0, 10)[0]))
    rec = next(r for r in eng.records_since(0, 10)[0] if r.method == "CONNECT")
    assert rec.sni == "localhost"
    assert rec.status == 200 and rec.bytes_in > 0 and rec.bytes_out > 0
    assert any(step[0] == "tls" and "localhost" in step[2] for step in rec.trace)


async def test_connect_to_port_not_allowed_403(engine_factory):
    eng = await engine_factory(forward_config())
    host, port = eng.listeners["forward"].rsplit("/", 1)[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"CONNECT 127.0.0.1:25 HTTP/1.1\r\nHost: 127.0.0.1:25\r\n\r\n")
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 403")
    writer.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
async def test_curl_through_forward_and_connect(origins, tls_origin_factory, engine_factory):
    (origin,) = await origins("origin")
    port, _ca = await tls_origin_factory()
    eng = await engine_factory(forward_config(connect_ports=(port,)))
    proxy = eng.listeners["forward"]
    p = await asyncio.create_subprocess_exec(
        "curl",
        "-s",
        "--noproxy",
        "",
        "-x",
        proxy,
        origin.url + "/echo",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await p.communicate()
    assert json.loads(out)["backend"] == "origin"
    p = await asyncio.create_subprocess_exec(
        "curl",
        "-s",
        "-k",
        "--noproxy",
        "",
        "-p",
        "-x",
        proxy,
        f"https://localhost:{port}/",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await p.communicate()
    assert out == b"secret page"


async def test_privacy_mode_switches_live_through_the_admin_api(origins, engine_factory):
    from dataclasses import replace

    from workbench.config.model import AdminConfig

    (origin,) = await origins("origin")
    cfg = replace(forward_config(), admin=AdminConfig(listen=Address("127.0.0.1", 0)))
    eng = await engine_factory(cfg)
    api = eng.listeners["admin"] + "/api/forward"
    proxy = eng.listeners["forward"]
    async with aiohttp.ClientSession() as s:
        async with s.patch(api, json={"privacy": "sneaky"}) as r:
            assert r.status == 400 and (await r.json())["field"] == "privacy"
        data = await echo_through(proxy, origin.url + "/echo")
        assert "x-forwarded-for" in {k.lower() for k, _ in data["headers"]}
        async with s.patch(api, json={"privacy": "elite"}) as r:
            assert r.status == 200
        data = await echo_through(proxy, origin.url + "/echo")
        got = {k.lower() for k, _ in data["headers"]}
        assert not {"x-forwarded-for", "via", "forwarded"} & got
