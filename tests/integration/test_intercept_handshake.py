"""Intercepted CONNECTs whose client-side TLS does not go as planned: each gets a record saying
what the client sent (its SNI, the CONNECT host) and why nothing was decrypted, and a clean close.

Real sockets and real TLS clients (Python ssl, curl) against a trustme origin.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl

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
from workbench.engine.observe.tls_outcome import TRUST_HINT, client_tls_failure

HOSTS = ("localhost", "127.0.0.1")


async def _connect_record(engine):
    (rec,) = await records_matching(engine, lambda r: r.method == "CONNECT")
    return rec


async def _closed_cleanly(engine, reader) -> None:
    """The proxy closed with a FIN (EOF, no reset) and let go of the connection."""
    assert await asyncio.wait_for(reader.read(), 10) == b""
    await wait_for(lambda: not engine.servers["forward"].connections)


async def test_rejection_names_the_sni_and_the_connect_host(tmp_path, tls_origin, engine_factory):
    """CONNECT to the IP address, SNI localhost: the record tells both apart."""
    engine = await engine_factory(intercept_config(tmp_path, tls_origin, hosts=HOSTS))
    reader, writer = await connect_through(
        engine.listeners["forward"], tls_origin.port, "127.0.0.1"
    )
    err = await handshake_refusing(reader, writer, server_hostname="localhost")
    assert "CERTIFICATE_VERIFY_FAILED" in str(err)
    await _closed_cleanly(engine, reader)
    writer.close()
    rec = await _connect_record(engine)
    assert rec.sni == "localhost" and rec.status is None and rec.backend is None
    verdict, sentence = client_tls_failure(rec)
    assert verdict == "rejected" and sentence == rec.error
    assert sentence == (
        "the client rejected the workbench's certificate for localhost "
        f"(SNI localhost, CONNECT 127.0.0.1:{tls_origin.port}) (TLS alert: unknown CA); "
        f"{TRUST_HINT}"
    )
    assert tls_origin.hits == 0 and engine.recorder.internal_errors == 0


async def test_the_leaf_follows_the_sni_not_the_connect_host(tmp_path, tls_origin, engine_factory):
    """A client that trusts the CA, CONNECT to the IP, SNI localhost: it verifies localhost."""
    engine = await engine_factory(intercept_config(tmp_path, tls_origin, hosts=HOSTS))
    reader, writer = await connect_through(
        engine.listeners["forward"], tls_origin.port, "127.0.0.1"
    )
    await writer.start_tls(client_ssl(tmp_path), server_hostname="localhost")
    writer.write(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ")
    (connect,) = await records_matching(engine, lambda r: r.method == "CONNECT")
    assert connect.sni == "localhost" and connect.error is None
    (rec,) = await records_matching(engine, lambda r: r.path == "/echo")
    assert rec.status == 200 and rec.sni == "localhost"


async def test_rejection_without_sni(tmp_path, tls_origin, engine_factory):
    """No SNI (clients send none for an IP address): the record says so; the leaf is the
    CONNECT host's."""
    engine = await engine_factory(intercept_config(tmp_path, tls_origin, hosts=HOSTS))
    reader, writer = await connect_through(
        engine.listeners["forward"], tls_origin.port, "127.0.0.1"
    )
    await handshake_refusing(reader, writer, server_hostname=None)
    await _closed_cleanly(engine, reader)
    writer.close()
    rec = await _connect_record(engine)
    assert rec.sni is None and rec.status is None
    assert client_tls_failure(rec)[0] == "rejected"
    assert f"for 127.0.0.1 (no SNI, CONNECT 127.0.0.1:{tls_origin.port})" in rec.error
    assert TRUST_HINT in rec.error


async def test_client_that_closes_right_after_the_connect(tmp_path, tls_origin, engine_factory):
    engine = await engine_factory(intercept_config(tmp_path, tls_origin))
    reader, writer = await connect_through(engine.listeners["forward"], tls_origin.port)
    writer.close()
    rec = await _connect_record(engine)
    assert client_tls_failure(rec) == ("closed", rec.error)
    assert "closed the connection right after the CONNECT's 200" in rec.error
    assert rec.status is None and rec.sni is None and tls_origin.hits == 0
    await wait_for(lambda: not engine.servers["forward"].connections)
    assert engine.snapshot()["proxies"]["forward"]["intercept"]["refused"] == 1
    assert engine.recorder.internal_errors == 0


async def test_client_that_sends_neither_tls_nor_http(tmp_path, tls_origin, engine_factory):
    engine = await engine_factory(intercept_config(tmp_path, tls_origin))
    reader, writer = await connect_through(engine.listeners["forward"], tls_origin.port)
    writer.write(b"\x00\x01\x02hello")
    await _closed_cleanly(engine, reader)
    writer.close()
    rec = await _connect_record(engine)
    assert client_tls_failure(rec)[0] == "failed"
    assert "other than TLS into the tunnel (first bytes 00 01 02 68" in rec.error
    assert engine.recorder.internal_errors == 0


async def test_client_that_says_nothing_times_out(
    tmp_path, tls_origin, engine_factory, monkeypatch
):
    import workbench.engine.modes.intercept as intercept

    monkeypatch.setattr(intercept, "HANDSHAKE_TIMEOUT", 0.3)
    engine = await engine_factory(intercept_config(tmp_path, tls_origin))
    reader, writer = await connect_through(engine.listeners["forward"], tls_origin.port)
    await _closed_cleanly(engine, reader)
    writer.close()
    rec = await _connect_record(engine)
    assert client_tls_failure(rec)[0] == "timeout"
    assert "sent nothing for 0.3s after the CONNECT's 200" in rec.error


async def _curl(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "curl",
        "-sS",
        "--max-time",
        "20",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_that_does_not_trust_the_ca(tmp_path, tls_origin, engine_factory):
    engine = await engine_factory(intercept_config(tmp_path, tls_origin))
    url = f"https://localhost:{tls_origin.port}/api"
    code, _out, err = await _curl("-x", engine.listeners["forward"], url)
    assert code == 60, err  # curl: peer certificate cannot be authenticated
    rec = await _connect_record(engine)
    assert rec.sni == "localhost" and client_tls_failure(rec)[0] == "rejected"
    assert f"(SNI localhost, CONNECT localhost:{tls_origin.port})" in rec.error
    assert TRUST_HINT in rec.error


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_to_an_ip_address_sends_no_sni(tmp_path, tls_origin, engine_factory):
    engine = await engine_factory(intercept_config(tmp_path, tls_origin, hosts=HOSTS))
    cacert = str(tmp_path / "ca" / CERT_FILE)
    url = f"https://127.0.0.1:{tls_origin.port}/echo?via=ip"
    code, out, err = await _curl("--cacert", cacert, "-x", engine.listeners["forward"], url)
    assert code == 0, err
    assert '"path": "/echo?via=ip"' in out
    (rec,) = await records_matching(engine, lambda r: r.path == "/echo?via=ip")
    assert rec.status == 200 and rec.sni is None
    assert any("SNI (none)" in d for s, _v, d in rec.trace if s == "tls")
    code, _out, err = await _curl("-x", engine.listeners["forward"], url)  # no --cacert
    assert code == 60, err
    (refused,) = await records_matching(engine, lambda r: r.error is not None)
    assert refused.method == "CONNECT" and refused.sni is None
    assert f"(no SNI, CONNECT 127.0.0.1:{tls_origin.port})" in refused.error


async def test_pinning_client_over_real_tls_is_told_apart(tmp_path, tls_origin, engine_factory):
    """Python's ssl pinned to the origin's CA (not ours): rejected, SNI kept, nothing sent."""
    engine = await engine_factory(intercept_config(tmp_path, tls_origin))
    reader, writer = await connect_through(engine.listeners["forward"], tls_origin.port)
    pinned = ssl.create_default_context(cafile=tls_origin.ca_file)
    with pytest.raises(ssl.SSLCertVerificationError):
        await writer.start_tls(pinned, server_hostname="localhost")
    writer.close()
    rec = await _connect_record(engine)
    assert rec.sni == "localhost" and client_tls_failure(rec)[0] == "rejected"
    assert tls_origin.hits == 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_headless_run_records_each_failed_handshake_without_a_traceback(tmp_path, tls_origin):
    """`workbench run --headless` (uvloop when installed): curl without the CA, a client that
    hangs up after the CONNECT, plain HTTP through the tunnel; /api/requests says what each
    client sent, and stderr has no traceback."""
    import signal
    import sys

    import aiohttp

    cfg = tmp_path / "wb.yaml"
    cfg.write_text(
        "admin: {listen: 127.0.0.1:0}\n"
        "forward:\n"
        "  listen: 127.0.0.1:0\n"
        f"  connect_ports: [{tls_origin.port}]\n"
        "  intercept:\n"
        "    hosts: [localhost, 127.0.0.1]\n"
        f"    ca_dir: {tmp_path / 'ca'}\n"
        f"    upstream_ca_file: {tls_origin.ca_file}\n"
    )
    p = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "workbench", "run", str(cfg), "--headless"),
        *("--log-format", "none"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        urls = {}
        while len(urls) < 2:
            line = (await asyncio.wait_for(p.stdout.readline(), 15)).decode()
            assert line, (await p.stderr.read()).decode()
            urls[line.split(" listening")[0]] = line.rsplit(" ", 1)[1].strip()
        proxy, admin = urls["forward proxy"], urls["admin API"]
        port = tls_origin.port
        code, _, err = await _curl("-x", proxy, f"https://localhost:{port}/a")
        assert code == 60, err
        code, _, err = await _curl("-x", proxy, f"https://127.0.0.1:{port}/b")
        assert code == 60, err
        code, out, err = await _curl("-p", "-x", proxy, f"http://localhost:{port}/c")
        assert code == 0 and "got plain HTTP" in out, err
        _reader, writer = await connect_through(proxy, port)
        writer.close()
        async with aiohttp.ClientSession() as s:
            recs: list[dict] = []

            async def four() -> bool:
                async with s.get(f"{admin}/api/requests") as r:
                    recs[:] = (await r.json())["requests"]
                return len(recs) >= 4

            deadline = asyncio.get_running_loop().time() + 10
            while not await four():
                assert asyncio.get_running_loop().time() < deadline, recs
                await asyncio.sleep(0.05)
        by_id = sorted(recs, key=lambda r: r["id"])
        assert [(r["method"], r["status"], r["sni"]) for r in by_id] == [
            ("CONNECT", None, "localhost"),
            ("CONNECT", None, None),
            ("CONNECT", None, None),
            ("CONNECT", None, None),
        ]
        a, b, c, d = (r["error"] for r in by_id)
        assert f"(SNI localhost, CONNECT localhost:{port}) (TLS alert: unknown CA)" in a
        assert f"(no SNI, CONNECT 127.0.0.1:{port})" in b
        assert TRUST_HINT in a and TRUST_HINT in b
        assert "plain HTTP" in c and "closed the connection right after" in d
        p.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(p.wait(), 15) == 0
        stderr = (await p.stderr.read()).decode()
        assert "Traceback" not in stderr and "rror" not in stderr, stderr
    finally:
        if p.returncode is None:
            p.kill()
            await p.wait()
