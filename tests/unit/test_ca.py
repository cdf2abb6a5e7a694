"""The interception CA: created once with safe permissions, leaves that verify, clear errors."""

from __future__ import annotations

import asyncio
import ssl
import stat

import pytest

from workbench.config.hostglob import compile_host_globs, host_glob_error
from workbench.engine.http.ca import (
    CERT_FILE,
    KEY_FILE,
    CAError,
    CertificateAuthority,
    default_ca_dir,
)


def test_created_once_with_private_key_0600(tmp_path):
    d = tmp_path / "ca"
    ca = CertificateAuthority.load_or_create(d)
    assert stat.S_IMODE((d / KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    again = CertificateAuthority.load_or_create(d)
    assert again.fingerprint == ca.fingerprint
    assert len(ca.fingerprint.split(":")) == 32


def test_default_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_ca_dir() == tmp_path / "proxy-workbench" / "ca"
    ca = CertificateAuthority.load_or_create()
    assert ca.cert_path == tmp_path / "proxy-workbench" / "ca" / CERT_FILE


@pytest.mark.parametrize("host", ["localhost", "api.example.test", "127.0.0.1"])
async def test_leaf_verifies_against_the_ca_for_its_name(tmp_path, host):
    ca = CertificateAuthority.load_or_create(tmp_path)
    server_ctx = await ca.context_for_async(host)
    assert ca.cached_context(host) is server_ctx
    client_ctx = ssl.create_default_context(cafile=str(ca.cert_path))
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT

    async def handle(reader, writer):
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx, server_hostname=host
        )
        assert await reader.read(2) == b"ok"
        writer.close()
        # A client naming another host (SNI) gets a leaf for that name, minted on the spot.
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx, server_hostname="other.test"
        )
        cert = writer.get_extra_info("peercert")
        assert cert["subjectAltName"] == (("DNS", "other.test"),)
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


def test_leaf_cache_is_bounded(tmp_path):
    ca = CertificateAuthority.load_or_create(tmp_path)
    ca._cache_size = 3
    for i in range(5):
        ca.context_for(f"h{i}.test")
    assert list(ca._cache) == ["h2.test", "h3.test", "h4.test"]
    ca.context_for("h4.test")
    assert ca.minted == 5


def test_corrupt_key_is_one_line_naming_the_file(tmp_path):
    CertificateAuthority.load_or_create(tmp_path)
    (tmp_path / KEY_FILE).write_text("not a key\n")
    with pytest.raises(CAError) as e:
        CertificateAuthority.load_or_create(tmp_path)
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / KEY_FILE}: not a valid") and "\n" not in msg


def test_key_of_another_ca_is_refused(tmp_path):
    CertificateAuthority.load_or_create(tmp_path / "a")
    CertificateAuthority.load_or_create(tmp_path / "b")
    (tmp_path / "a" / KEY_FILE).write_bytes((tmp_path / "b" / KEY_FILE).read_bytes())
    with pytest.raises(CAError, match="does not match the CA key"):
        CertificateAuthority.load_or_create(tmp_path / "a")


def test_half_a_ca_is_refused(tmp_path):
    CertificateAuthority.load_or_create(tmp_path)
    (tmp_path / CERT_FILE).unlink()
    with pytest.raises(CAError, match=f"{CERT_FILE}: missing"):
        CertificateAuthority.load_or_create(tmp_path)


def test_uncreatable_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CAError, match="cannot create the CA directory"):
        CertificateAuthority.load_or_create(blocker / "ca")


@pytest.mark.parametrize(
    "globs, host, expected",
    [
        ((), "example.test", False),
        (("example.test",), "EXAMPLE.test.", True),
        (("*.example.test",), "api.example.test", True),
        (("*.example.test",), "example.test", False),
        (("api-?.local", "localhost"), "api-2.local", True),
        (("api-?.local", "localhost"), "localhost", True),
        (("127.0.0.1",), "127.0.0.1", True),
    ],
)
def test_host_globs(globs, host, expected):
    assert compile_host_globs(globs)(host) is expected


@pytest.mark.parametrize("glob", ["", "a b", "exa/mple", "[abc", "http://x"])
def test_bad_host_globs(glob):
    assert host_glob_error(glob)


@pytest.mark.parametrize(
    "glob, words",
    [
        (
            "x.test:443",
            "no port here (hosts match by name; forward.connect_ports lists the ports): x.test",
        ),
        ("[::1]", "write an IPv6 address without brackets: ::1"),
        (".example.test", "a leading dot matches no host; use *.example.test"),
        ("a..test", "an empty label between two dots"),
    ],
)
def test_host_globs_that_would_never_match_say_why(glob, words):
    assert host_glob_error(glob) == f"invalid host glob {glob!r}: {words}"


@pytest.mark.parametrize("glob", ["::1", "fe80::*", "*", "[ab].test", "example.test."])
def test_host_globs_that_look_odd_but_work(glob):
    assert host_glob_error(glob) is None


@pytest.mark.parametrize(
    "exc, verdict, words",
    [
        (ConnectionResetError(), "rejected", "does not trust"),
        (TimeoutError(), "timeout", "did not finish"),
    ],
)
def test_handshake_failures_are_explained(exc, verdict, words):
    from workbench.engine.modes.intercept import TRUST_HINT, handshake_failure

    got, sentence = handshake_failure(exc, "example.test")
    assert got == verdict and words in sentence
    if verdict == "rejected":
        assert TRUST_HINT in sentence


def test_alert_from_the_client_is_named():
    from workbench.engine.modes.intercept import handshake_failure

    exc = ssl.SSLError(1, "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca")
    exc.reason = "TLSV1_ALERT_UNKNOWN_CA"
    verdict, sentence = handshake_failure(exc, "example.test")
    assert verdict == "rejected" and "TLS alert: unknown CA" in sentence


def test_a_file_too_large_to_be_a_key_is_not_read_whole(tmp_path):
    CertificateAuthority.load_or_create(tmp_path)
    (tmp_path / KEY_FILE).unlink()
    (tmp_path / KEY_FILE).symlink_to("/dev/zero")  # endless: reading it whole never returns
    with pytest.raises(CAError) as e:
        CertificateAuthority.load_or_create(tmp_path)
    assert str(e.value) == f"{tmp_path / KEY_FILE}: larger than 1 MiB: not the CA key"
