"""`workbench check` and `workbench run` load the interception CA: a broken one is one line
naming the file and a non-zero exit, a good one is named with its fingerprint, and a missing one
is announced (check creates nothing)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import trustme
from test_cli import run_cli

from workbench.engine.http.ca import CERT_FILE, KEY_FILE, CertificateAuthority


def _config(tmp_path: Path, ca_dir: Path) -> Path:
    cfg = tmp_path / "wb.yaml"
    cfg.write_text(
        "forward:\n  listen: 127.0.0.1:0\n  intercept:\n    hosts: ['*.test']\n"
        f"    ca_dir: {ca_dir}\n"
    )
    return cfg


def _corrupt_key(ca: Path) -> None:
    (ca / KEY_FILE).write_text("-----BEGIN PRIVATE KEY-----\nbroken\n")


def _key_of_another_ca(ca: Path) -> None:
    other = CertificateAuthority.load_or_create(ca.parent / "other")
    (ca / KEY_FILE).write_bytes(other.key_path.read_bytes())


def _unreadable_key(ca: Path) -> None:
    (ca / KEY_FILE).unlink()
    (ca / KEY_FILE).mkdir()  # unreadable even for root (tests may run as root)


def _corrupt_cert(ca: Path) -> None:
    (ca / CERT_FILE).write_text("junk")


def _leaf_instead_of_a_ca(ca: Path) -> None:
    leaf = trustme.CA().issue_cert("x.test")
    (ca / CERT_FILE).write_bytes(leaf.cert_chain_pems[0].bytes())
    (ca / KEY_FILE).write_bytes(leaf.private_key_pem.bytes())


def _expired(ca: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    key = serialization.load_pem_private_key((ca / KEY_FILE).read_bytes(), None)
    old = x509.load_pem_x509_certificate((ca / CERT_FILE).read_bytes())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(old.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now - dt.timedelta(days=1))
    )
    for ext in old.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    cert = builder.sign(key, hashes.SHA256())
    (ca / CERT_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


BROKEN = [
    (_corrupt_key, KEY_FILE, "not a valid unencrypted PEM private key"),
    (_key_of_another_ca, CERT_FILE, "does not match the CA key"),
    (_unreadable_key, KEY_FILE, "cannot read the CA key: Is a directory"),
    (_corrupt_cert, CERT_FILE, "not a valid PEM certificate"),
    (_leaf_instead_of_a_ca, CERT_FILE, "not a CA certificate"),
    (_expired, CERT_FILE, "the CA certificate expired on"),
]


@pytest.mark.parametrize("breaks, culprit, words", BROKEN, ids=[b[0].__name__ for b in BROKEN])
async def test_broken_ca_is_one_line_from_check_and_run(tmp_path, breaks, culprit, words):
    ca = tmp_path / "ca"
    CertificateAuthority.load_or_create(ca)
    breaks(ca)
    cfg = _config(tmp_path, ca)
    for command in (("check", str(cfg)), ("run", str(cfg), "--headless")):
        code, out, err = await run_cli(*command)
        assert code == 2, (command, out, err)
        assert "Traceback" not in err and out == ""
        (line,) = err.splitlines()
        assert line.startswith(f"{cfg}: forward.intercept.ca_dir: {ca / culprit}: "), line
        assert words in line


async def test_uncreatable_ca_dir_fails_check_run_and_serve(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cfg = _config(tmp_path, blocker / "ca")
    for command in (
        ("check", str(cfg)),
        ("run", str(cfg), "--headless"),
        ("serve", str(cfg), "--port", "0"),
    ):
        code, out, err = await run_cli(*command)
        assert code == 2 and "Traceback" not in err and out == ""
        (line,) = err.splitlines()
        assert line.startswith(
            f"{cfg}: forward.intercept.ca_dir: {blocker / 'ca'}: cannot create the CA directory: "
        )


async def test_check_names_the_ca_that_will_sign(tmp_path):
    ca = CertificateAuthority.load_or_create(tmp_path / "ca")
    cfg = _config(tmp_path, tmp_path / "ca")
    code, out, err = await run_cli("check", str(cfg))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"{cfg}: forward.intercept.ca_dir: intercepted hosts get certificates signed by the CA "
        f"{ca.cert_path} (SHA-256 {ca.fingerprint})",
        f"{cfg}: ok",
    ]


async def test_check_says_a_missing_ca_would_be_created_and_creates_nothing(tmp_path):
    cfg = _config(tmp_path, tmp_path / "new" / "ca")
    code, out, err = await run_cli("check", str(cfg))
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == (
        f"{cfg}: forward.intercept.ca_dir: no CA in {tmp_path / 'new' / 'ca'} yet: "
        f"`workbench run` creates one there (`workbench ca {cfg}` creates it now and says how "
        "to trust it)"
    )
    assert not (tmp_path / "new").exists()


async def test_check_without_interception_does_not_touch_a_ca(tmp_path):
    cfg = tmp_path / "wb.yaml"
    cfg.write_text(f"forward:\n  listen: 127.0.0.1:0\n  intercept:\n    ca_dir: {tmp_path}/x\n")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / CERT_FILE).write_text("junk")  # not used: no host is intercepted
    code, out, _ = await run_cli("check", str(cfg))
    assert (code, out) == (0, f"{cfg}: ok\n")
