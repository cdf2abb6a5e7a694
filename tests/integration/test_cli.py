"""The command line as a user runs it: check, and headless run with an access log and clean stop."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import aiohttp

FIXTURES = Path(__file__).parent.parent / "fixtures"


async def run_cli(*args: str) -> tuple[int, str, str]:
    p = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workbench",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await p.communicate()
    return p.returncode, out.decode(), err.decode()


async def test_check_reports_every_problem_with_position(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\n"
        "reverse:\n"
        "  routes:\n"
        "    - { name: site, pool: webb }\n"
        "  pools:\n"
        "    web:\n"
        "      algoritm: round_robin\n"
        "      backends:\n"
        "        - { name: web-1, url: 'http://127.0.0.1:9', weight: -1 }\n"
    )
    code, out, err = await run_cli("check", str(bad))
    assert code == 2
    lines = err.strip().splitlines()
    assert f"{bad}:4:27: reverse.routes[0].pool: no pool named 'webb'" in lines[0]
    assert lines[1].startswith(f"{bad}:7:7: reverse.pools.web.algoritm: unknown key")
    assert "did you mean 'algorithm'" in lines[1]
    assert lines[2].startswith(f"{bad}:9:")
    assert "weight" in lines[2]


async def test_check_ok(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("version: 1\nreverse: {listen: 127.0.0.1:0}\n")
    code, out, _ = await run_cli("check", str(good))
    assert code == 0 and "ok" in out


async def test_headless_logs_requests_and_stops_on_sigterm(origins, tmp_path):
    (web,) = await origins("web-1")
    cfg = tmp_path / "wb.yaml"
    cfg.write_text(
        "version: 1\n"
        "reverse:\n"
        "  listen: 127.0.0.1:0\n"
        "  cache: false\n"
        "  routes: [{name: site, pool: web}]\n"
        f"  pools: {{web: {{backends: [{{name: web-1, url: '{web.url}'}}]}}}}\n"
    )
    p = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workbench",
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
        assert first.startswith("reverse proxy listening on http://127.0.0.1:")
        url = first.rsplit(" ", 1)[1].strip()
        async with aiohttp.ClientSession() as s:
            for _ in range(3):
                async with s.get(url + "/hello") as r:
                    assert r.status == 200
        lines = [json.loads(await asyncio.wait_for(p.stdout.readline(), 10)) for _ in range(3)]
        assert [(x["method"], x["status"], x["upstream"]) for x in lines] == [
            ("GET", 200, "web-1")
        ] * 3
        p.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(p.wait(), 15)
        assert code == 0
    finally:
        if p.returncode is None:
            p.kill()
            await p.wait()


async def test_ca_command_prints_path_fingerprint_and_trust_steps(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"forward:\n  intercept:\n    ca_dir: {tmp_path / 'ca'}\n")
    code, out, _ = await run_cli("ca", str(cfg))
    assert code == 0
    cert = tmp_path / "ca" / "workbench-ca.pem"
    assert f"CA certificate: {cert}" in out and "SHA-256 fingerprint: " in out
    for hint in ("curl --cacert", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "Firefox", "Chromium"):
        assert hint in out
    code, out, _ = await run_cli("ca", str(cfg), "--path")
    assert (code, out) == (0, f"{cert}\n")
    code, out, _ = await run_cli("ca", str(cfg), "--pem")
    assert code == 0 and out == cert.read_text()


async def test_ca_command_bad_ca_is_one_line_exit_2(tmp_path):
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "workbench-ca.pem").write_text("junk")
    (tmp_path / "ca" / "workbench-ca-key.pem").write_text("junk")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"forward:\n  intercept:\n    ca_dir: {tmp_path / 'ca'}\n")
    code, out, err = await run_cli("ca", str(cfg))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "workbench-ca-key.pem: not a valid" in err
    assert "Traceback" not in err


async def test_run_with_a_broken_ca_is_one_line_exit_2(tmp_path):
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "workbench-ca.pem").write_text("junk")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"forward:\n  listen: 127.0.0.1:0\n  intercept:\n    hosts: [x.test]\n"
        f"    ca_dir: {tmp_path / 'ca'}\n"
    )
    code, out, err = await run_cli("run", str(cfg), "--headless")
    assert code == 2 and "Traceback" not in err
    assert err.strip() == (
        f"{cfg}: forward.intercept.ca_dir: {tmp_path / 'ca' / 'workbench-ca-key.pem'}: "
        "missing (the CA "
        f"certificate {tmp_path / 'ca' / 'workbench-ca.pem'} has no key; remove "
        f"{tmp_path / 'ca' / 'workbench-ca.pem'} to create a new CA)"
    )


async def test_run_with_an_unknown_demo_file_is_one_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "forward:\n  listen: 127.0.0.1:0\n  intercept:\n    hosts: [localhost]\n"
        "    upstream_ca_file: demo://nope\n"
    )
    code, out, err = await run_cli("run", str(cfg), "--headless")
    assert code == 1 and "Traceback" not in err
    assert err.strip() == (
        "cannot start: forward.intercept.upstream_ca_file: the demo makes no file 'demo://nope' "
        "(demo://secure is the certificate of the classroom's HTTPS origin)"
    )


async def test_check_fails_on_a_file_that_runs_nothing(tmp_path):
    for name, text in (
        ("empty.yaml", ""),
        ("comments.yaml", "# nothing yet\n"),
        ("v.yaml", "version: 1\n"),
    ):
        path = tmp_path / name
        path.write_text(text)
        code, out, err = await run_cli("check", str(path))
        assert code == 2, name
        assert f"{path}: nothing to run: the file defines no forward:, reverse: or admin:" in err
        assert "ok" not in out


async def test_check_warns_about_a_pool_without_backends_and_a_proxy_without_routes(tmp_path):
    no_routes = tmp_path / "no-routes.yaml"
    no_routes.write_text(
        "reverse:\n  listen: 127.0.0.1:0\n  pools: {web: {backends: [{name: a, url: 'http://127.0.0.1:9'}]}}\n"
    )
    no_backends = tmp_path / "no-backends.yaml"
    no_backends.write_text(
        "reverse:\n  routes: [{name: site, pool: web}]\n  pools: {web: {backends: []}}\n"
    )
    code, out, err = await run_cli("check", str(no_routes), str(no_backends))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines == [
        f"{no_routes}: warning: reverse.routes: no routes, so the reverse proxy answers every "
        "request with 404 (add e.g. - { name: site, path_prefix: /, pool: web })",
        f"{no_routes}: ok (1 warning)",
        f"{no_backends}: warning: reverse.pools.web.backends: no backends, so requests routed to "
        "pool web fail with 503",
        f"{no_backends}: ok (1 warning)",
    ]


async def test_run_on_an_empty_config_fails_at_once_instead_of_waiting(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    for extra in ((), ("--headless",)):
        code, out, err = await asyncio.wait_for(run_cli("run", str(empty), *extra), 20)
        assert code == 2
        assert f"workbench: {empty}: nothing to run" in err
        assert out == ""


async def test_view_on_an_invalid_har_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "broken.har"
    bad.write_text('{"log": {"entries": 3}}')
    code, out, err = await run_cli("view", str(bad))
    assert code == 2 and out == ""
    assert err == f"workbench view: {bad}: log.entries: expected a list\n"
    code, out, err = await run_cli("view", str(tmp_path / "missing.har"))
    assert code == 2 and err.count("\n") == 1 and "missing.har: cannot read" in err
