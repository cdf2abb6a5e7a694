"""HTTPS interception end to end: a real TLS origin (trustme), real clients (aiohttp, curl)."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl

import aiohttp
import pytest
from origin import wait_for
from tls_origin import (
    client_ssl,
    connect_through,
    handshake_refusing,
    intercept_config,
    records_matching,
)

from workbench.engine.http.ca import CERT_FILE
from workbench.engine.observe.tls_outcome import client_tls_failure


async def test_aiohttp_request_is_decrypted_and_recorded(tmp_path, tls_origin, engine_factory):
    engine = await engine_factory(intercept_config(tmp_path, tls_origin))
    proxy = engine.listeners["forward"]
    url = f"https://localhost:{tls_origin.port}/echo?x=1"
    trust = client_ssl(tmp_path)
    async with aiohttp.ClientSession() as s:
        for _ in range(2):  # the second request reuses the intercepted connection
            async with s.post(
                url, proxy=proxy, ssl=trust, json={"n": 1}, headers={"X-T": "a"}
            ) as r:
                assert r.status == 200
                seen = await r.json()
    assert seen["method"] == "POST" and seen["path"] == "/echo?x=1" and seen["body_len"] == 8
    assert ["X-T", "a"] in seen["headers"]
    recs = await records_matching(engine, lambda r: r.method == "POST", 2)
    rec = recs[0]
    assert (rec.status, rec.path, rec.url) == (200, "/echo?x=1", url)
    assert rec.host == "localhost" and rec.sni == "localhost"
    assert ("X-T", "a") in rec.request_headers
    assert any(n.lower() == "content-type" for n, _ in rec.response_headers)
    tls = [d for stage, verdict, d in rec.trace if (stage, verdict) == ("tls", "intercepted")]
    assert tls and "intercepted TLS: SNI localhost, TLSv1" in tls[0]
    connects = await records_matching(engine, lambda r: r.method == "CONNECT")
    assert len(connects) == 1 and connects[0].error is None
    assert tls_origin.hits == 2
    state = engine.snapshot()["proxies"]["forward"]["intercept"]
    assert state["hosts"] == ["localhost"] and state["sessions"] == 1
    assert state["ca_cert"].endswith(CERT_FILE) and state["refused"] == 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_with_cacert(tmp_path, tls_origin, engine_factory):
    engine = await engine_factory(intercept_config(tmp_path, tls_origin))
    proc = await asyncio.create_subprocess_exec(
        "curl",
        "-sS",
        "--cacert",
        str(tmp_path / "ca" / CERT_FILE),
        "-x",
        engine.listeners["forward"],
        f"https://localhost:{tls_origin.port}/api/echo",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["path"] == "/api/echo"
    (rec,) = await records_matching(engine, lambda r: r.path == "/api/echo")
    assert (rec.method, rec.status) == ("GET", 200)
    assert any(n.lower() == "user-agent" and v.startswith("curl/") for n, v in rec.request_headers)


async def test_host_not_listed_stays_a_tunnel(tmp_path, tls_origin, engine_factory):
    engine = await engine_factory(intercept_config(tmp_path, tls_origin))
    origin_trust = ssl.create_default_context(cafile=tls_origin.ca_file)
    async with aiohttp.ClientSession() as s:
        async with s.get(
            f"https://127.0.0.1:{tls_origin.port}/",
            proxy=engine.listeners["forward"],
            ssl=origin_trust,
        ) as r:
            assert r.status == 200
    (rec,) = await records_matching(engine, lambda r: r.method == "CONNECT")
    assert ("connect", "tunnel") in [(s, v) for s, v, _ in rec.trace]
    assert not any(r.path == "/" for r in engine.records_since(0)[0])


async def test_client_that_does_not_trust_the_ca_is_recorded_with_the_hint(
    tmp_path, tls_origin, engine_factory
):
    engine = await engine_factory(intercept_config(tmp_path, tls_origin))
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await s.get(
                f"https://localhost:{tls_origin.port}/",
                proxy=engine.listeners["forward"],
                ssl=ssl.create_default_context(cafile=tls_origin.ca_file),
            )
    (rec,) = await records_matching(engine, lambda r: r.method == "CONNECT")
    # A TLS failure, not the CONNECT's 200: no status, nothing upstream, the error says why.
    assert rec.status is None and rec.backend is None
    assert "trust the CA: `workbench ca`" in rec.error
    assert rec.sni == "localhost"
    assert f"for localhost (SNI localhost, CONNECT localhost:{tls_origin.port})" in rec.error
    assert rec.trace[-1][:2] == ("tls", "rejected")
    assert client_tls_failure(rec) == ("rejected", rec.error)
    assert tls_origin.hits == 0
    assert not engine.servers["forward"].connections


async def test_rejected_certificate_closes_the_client_connection_cleanly(
    tmp_path, tls_origin, engine_factory
):
    engine = await engine_factory(intercept_config(tmp_path, tls_origin))
    reader, writer = await connect_through(engine.listeners["forward"], tls_origin.port)
    err = await handshake_refusing(reader, writer)
    assert "CERTIFICATE_VERIFY_FAILED" in str(err)
    # The proxy closes with a FIN (EOF), not a reset, and sends nothing more.
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    (rec,) = await records_matching(engine, lambda r: r.method == "CONNECT")
    assert rec.status is None and "TLS alert: unknown CA" in rec.error
    assert rec.sni == "localhost" and "SNI localhost" in rec.error
    assert ("connect", "200") in [(s, v) for s, v, _ in rec.trace]
    assert engine.snapshot()["proxies"]["forward"]["intercept"]["refused"] == 1
    await wait_for(lambda: not engine.servers["forward"].connections)


async def test_client_that_hangs_up_on_the_certificate_is_recorded_as_rejected(
    tmp_path, tls_origin, engine_factory
):
    """A pinning client reads our certificate and closes without an alert."""
    engine = await engine_factory(intercept_config(tmp_path, tls_origin))
    reader, writer = await connect_through(engine.listeners["forward"], tls_origin.port)
    client = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    writer.write(outgoing.read())  # ClientHello
    assert await asyncio.wait_for(reader.read(65536), 10)  # the server's flight: then hang up
    writer.close()
    (rec,) = await records_matching(engine, lambda r: r.method == "CONNECT")
    verdict, sentence = client_tls_failure(rec)
    assert verdict == "rejected" and "does not trust" in sentence
    assert rec.sni == "localhost" and "SNI localhost" in sentence
    assert rec.status is None and "trust the CA: `workbench ca`" in rec.error


async def test_plain_http_inside_an_intercepted_connect_says_so(
    tmp_path, tls_origin, engine_factory
):
    engine = await engine_factory(intercept_config(tmp_path, tls_origin))
    reader, writer = await connect_through(engine.listeners["forward"], tls_origin.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    # Answered as nginx answers plain HTTP on a TLS port: a 400 saying so, then a clean close.
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answer.endswith(b"expected a TLS handshake\nafter the CONNECT, and got plain HTTP.\n")
    (rec,) = await records_matching(engine, lambda r: r.method == "CONNECT")
    assert client_tls_failure(rec)[0] == "failed" and "plain HTTP" in rec.error
    assert rec.status is None and rec.sni is None and tls_origin.hits == 0
    assert engine.recorder.internal_errors == 0


async def test_rejected_certificate_in_the_admin_api_and_har(tmp_path, tls_origin, engine_factory):
    from dataclasses import replace

    from harcheck import check_har

    from workbench.config.model import Address, AdminConfig
    from workbench.engine.observe.har import from_har

    cfg = intercept_config(tmp_path, tls_origin)
    cfg = replace(cfg, admin=AdminConfig(listen=Address("127.0.0.1", 0)))
    engine = await engine_factory(cfg)
    reader, writer = await connect_through(engine.listeners["forward"], tls_origin.port)
    await handshake_refusing(reader, writer)
    writer.close()
    await records_matching(engine, lambda r: r.method == "CONNECT")
    admin = engine.listeners["admin"]
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{admin}/api/requests") as r:
            (api,) = (await r.json())["requests"]
        async with s.get(f"{admin}/api/har", params={"filter": "~trace rejected"}) as r:
            har = await r.json()
    assert api["status"] is None and "trust the CA: `workbench ca`" in api["error"]
    assert api["sni"] == "localhost" and "SNI localhost, CONNECT localhost:" in api["error"]
    assert api["trace"][-1][:2] == ["tls", "rejected"]
    (entry,) = check_har(har)
    assert entry["response"]["status"] == 0
    assert "trust the CA" in entry["response"]["_error"]
    (back,) = from_har(har)
    assert back.status is None and client_tls_failure(back)[0] == "rejected"
    assert back.sni == "localhost"


async def test_origin_certificate_failure_is_a_502_saying_why(tmp_path, tls_origin, engine_factory):
    engine = await engine_factory(intercept_config(tmp_path, tls_origin, ca_file=False))
    async with aiohttp.ClientSession() as s:
        async with s.get(
            f"https://localhost:{tls_origin.port}/",
            proxy=engine.listeners["forward"],
            ssl=client_ssl(tmp_path),
        ) as r:
            assert r.status == 502
            body = await r.text()
    assert "certificate verify failed" in body
    (rec,) = await records_matching(engine, lambda r: r.path == "/")
    assert rec.status == 502
    assert any("upstream_ca_file" in d for _, _, d in rec.trace)


async def test_origin_certificate_failure_is_one_attempt(tmp_path, tls_origin, engine_factory):
    engine = await engine_factory(intercept_config(tmp_path, tls_origin, ca_file=False))
    async with aiohttp.ClientSession() as s:
        for path in ("/a", "/b"):  # the second request is not a retry of the first either
            async with s.get(
                f"https://localhost:{tls_origin.port}{path}",
                proxy=engine.listeners["forward"],
                ssl=client_ssl(tmp_path),
            ) as r:
                assert r.status == 502
    for path in ("/a", "/b"):
        (rec,) = await records_matching(engine, lambda r, p=path: r.path == p)
        attempts = [t for t in rec.trace if t[0] == "upstream"]
        assert len(attempts) == 1 and attempts[0][1] == "tls", rec.trace
        assert "certificate verify failed" in rec.error
    assert tls_origin.hits == 0


async def test_proxy_auth_is_asked_on_the_connect_only(tmp_path, tls_origin, engine_factory):
    from base64 import b64encode
    from dataclasses import replace

    from workbench.config.model import AuthConfig
    from workbench.config.passwords import hash_password

    cfg = intercept_config(tmp_path, tls_origin)
    users = {"alice": hash_password("pw", iterations=1000)}
    cfg = replace(cfg, forward=replace(cfg.forward, auth=AuthConfig(users=users)))
    engine = await engine_factory(cfg)
    url = f"https://localhost:{tls_origin.port}/echo"
    async with aiohttp.ClientSession() as s:
        async with s.get(
            url,
            proxy=engine.listeners["forward"],
            proxy_headers={"Proxy-Authorization": "Basic " + b64encode(b"alice:pw").decode()},
            ssl=client_ssl(tmp_path),
        ) as r:
            assert r.status == 200
            seen = await r.json()
    assert not any(n.lower() == "proxy-authorization" for n, _ in seen["headers"])
    (rec,) = await records_matching(engine, lambda r: r.url == url)
    assert rec.status == 200


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_as_a_user_runs_it_headless_with_curl(tmp_path, tls_origin):
    """`workbench run` (uvloop when installed) + `workbench ca --path` + curl, as in the README."""
    import signal
    import sys

    cfg = tmp_path / "wb.yaml"
    cfg.write_text(
        "forward:\n"
        "  listen: 127.0.0.1:0\n"
        f"  connect_ports: [{tls_origin.port}]\n"
        "  intercept:\n"
        "    hosts: [localhost]\n"
        f"    ca_dir: {tmp_path / 'ca'}\n"
        f"    upstream_ca_file: {tls_origin.ca_file}\n"
    )
    workbench = (sys.executable, "-m", "workbench")
    ca = await asyncio.create_subprocess_exec(
        *workbench, "ca", str(cfg), "--path", stdout=asyncio.subprocess.PIPE
    )
    ca_path = (await ca.communicate())[0].decode().strip()
    p = await asyncio.create_subprocess_exec(
        *workbench,
        "run",
        str(cfg),
        "--headless",
        "--log-format",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        first = (await asyncio.wait_for(p.stdout.readline(), 15)).decode()
        assert first.startswith("forward proxy listening on http://127.0.0.1:")
        proxy = first.rsplit(" ", 1)[1].strip()
        curl = await asyncio.create_subprocess_exec(
            "curl",
            "-sS",
            "--cacert",
            ca_path,
            "-x",
            proxy,
            f"https://localhost:{tls_origin.port}/api/echo",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await curl.communicate()
        assert curl.returncode == 0, err.decode()
        assert json.loads(out)["path"] == "/api/echo"
        logged = []
        while not any(x["method"] == "GET" for x in logged):
            logged.append(json.loads(await asyncio.wait_for(p.stdout.readline(), 10)))
        assert {"method": "GET", "status": 200}.items() <= logged[-1].items()
        p.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(p.wait(), 15) == 0
    finally:
        if p.returncode is None:
            p.kill()
            await p.wait()
