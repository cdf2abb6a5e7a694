"""The workbench's local certificate authority, for HTTPS interception (``forward.intercept``).

Created on first use with the ``cryptography`` package: an EC P-256 CA key and a self-signed CA
certificate in ``ca_dir`` (default ``$XDG_DATA_HOME/proxy-workbench/ca``, else
``~/.local/share/proxy-workbench/ca``), the directory 0700 and the key 0600. Leaf certificates
for the names clients ask for are minted on demand, signed by the CA, and kept in a bounded LRU
of ready :class:`ssl.SSLContext` objects. All leaves share one key (as mitmproxy does): minting is
then only building and signing a certificate, about a millisecond.

Clients see intercepted HTTPS only if they trust this CA; ``workbench ca`` says how.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ipaddress
import os
import shutil
import ssl
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

CERT_FILE = "workbench-ca.pem"
KEY_FILE = "workbench-ca-key.pem"
LEAF_CACHE_SIZE = 256
CA_NAME = "Proxy Workbench local CA"


class CAError(Exception):
    """The CA cannot be created or loaded; the message names the file and fits on one line."""


def default_ca_dir() -> Path:
    """``$XDG_DATA_HOME/proxy-workbench/ca``, else ``~/.local/share/proxy-workbench/ca``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "proxy-workbench" / "ca"


def ca_path(directory: str | Path | None) -> Path:
    """The CA folder a config's ``ca_dir`` names (None: :func:`default_ca_dir`)."""
    return Path(directory).expanduser() if directory else default_ca_dir()


def check_creatable(directory: str | Path | None) -> Path:
    """The folder where a new CA would be created; raises :class:`CAError` if it could not be
    (creates nothing: for ``workbench check``)."""
    path = ca_path(directory)
    probe = path
    try:
        while not probe.exists():
            if probe.parent == probe:
                break
            probe = probe.parent
    except OSError as exc:
        raise CAError(f"{path}: cannot create the CA directory: {_why(exc)}") from None
    if not probe.is_dir():
        raise CAError(f"{path}: cannot create the CA directory: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise CAError(f"{path}: cannot create the CA directory: {probe} is not writable")
    return path


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError as exc:  # a folder on the way that cannot be searched
        raise CAError(f"{path}: cannot read: {_why(exc)}") from None


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _first_words(exc: Exception) -> str:
    """cryptography's messages run on with FAQ links; keep the first sentence."""
    text = str(exc).split(". See ", 1)[0].split("\n", 1)[0].strip()
    return text or type(exc).__name__


class CertificateAuthority:
    """A loaded (or freshly created) CA that mints cached leaf certificates for host names."""

    def __init__(self, directory: Path, cert, key, cache_size: int = LEAF_CACHE_SIZE) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self.directory = directory
        self.cert_path = directory / CERT_FILE
        self.key_path = directory / KEY_FILE
        self._cert = cert
        self._key = key
        self.cert_pem: bytes = cert.public_bytes(serialization.Encoding.PEM)
        self.fingerprint = _fingerprint(cert)
        """SHA-256 of the DER certificate, as colon-separated upper-case hex."""
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self._leaf_key_pem = self._leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._cache: OrderedDict[str, ssl.SSLContext] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._pending: dict[str, asyncio.Future[ssl.SSLContext]] = {}
        self.minted = 0
        """Leaf certificates created since start (cache misses)."""

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def load_or_create(cls, directory: str | Path | None = None) -> CertificateAuthority:
        """The CA in ``directory`` (default: :func:`default_ca_dir`), created if it is missing.

        Raises :class:`CAError` with a one-line message naming the file at fault.
        """
        path = ca_path(directory)
        ca = cls.load_existing(path)
        if ca is not None:
            return ca
        _create(path)
        return cls(path, *_load(path / CERT_FILE, path / KEY_FILE))

    @classmethod
    def load_existing(cls, directory: str | Path | None = None) -> CertificateAuthority | None:
        """The CA in ``directory`` if there is one; None when neither of its files exists.

        Creates nothing. Raises :class:`CAError` for half a CA or a file that cannot be used.
        """
        path = ca_path(directory)
        cert_path, key_path = path / CERT_FILE, path / KEY_FILE
        have_cert, have_key = _exists(cert_path), _exists(key_path)
        if not have_cert and not have_key:
            return None
        if not have_key:
            raise CAError(
                f"{key_path}: missing (the CA certificate {cert_path} has no key; "
                f"remove {cert_path} to create a new CA)"
            )
        if not have_cert:
            raise CAError(
                f"{cert_path}: missing (the CA key {key_path} has no certificate; "
                f"remove {key_path} to create a new CA)"
            )
        return cls(path, *_load(cert_path, key_path))

    # -- leaves -----------------------------------------------------------------------------
    def cached_context(self, host: str) -> ssl.SSLContext | None:
        """The server context for ``host`` if it was minted already (no work on a hit)."""
        with self._lock:  # worker threads insert while the loop reads
            ctx = self._cache.get(host)
            if ctx is not None:
                self._cache.move_to_end(host)
        return ctx

    def context_for(self, host: str) -> ssl.SSLContext:
        """A server-side TLS context presenting a leaf certificate for ``host`` (synchronous)."""
        host = host.lower().rstrip(".")
        ctx = self.cached_context(host)
        if ctx is not None:
            return ctx
        ctx = self._mint_context(host)
        with self._lock:
            self._cache[host] = ctx
            self._cache.move_to_end(host)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return ctx

    async def context_for_async(self, host: str) -> ssl.SSLContext:
        """Like :meth:`context_for`, minting in a worker thread; one mint per name at a time."""
        host = host.lower().rstrip(".")
        ctx = self.cached_context(host)
        if ctx is not None:
            return ctx
        pending = self._pending.get(host)
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = loop.run_in_executor(None, self.context_for, host)
            self._pending[host] = pending
            pending.add_done_callback(lambda _f: self._pending.pop(host, None))
        return await asyncio.shield(pending)

    def _on_sni(self, sslobj, name: str | None, ctx: ssl.SSLContext) -> None:
        """During the handshake: remember the name asked for; switch leaves if it differs."""
        # SSLObject is a plain Python object: the attribute rides along to the transport.
        sslobj.workbench_sni = name
        if name and self.cached_context(name.lower().rstrip(".")) is not ctx:
            try:
                sslobj.context = self.context_for(name)
            except Exception:  # noqa: BLE001 - a name no certificate can carry: keep the leaf we have
                pass

    def leaf_pem(self, host: str) -> bytes:
        """A PEM leaf certificate for ``host`` (tests and diagnostics)."""
        from cryptography.hazmat.primitives import serialization

        return self._leaf_cert(host).public_bytes(serialization.Encoding.PEM)

    def _leaf_cert(self, host: str):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        try:
            san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            san = x509.DNSName(host)
        now = dt.datetime.now(dt.UTC)
        ca_ski = self._cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        public = self._leaf_key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])]))
            .issuer_name(self._cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=2))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
        )
        return builder.sign(self._key, hashes.SHA256())

    def _mint_context(self, host: str) -> ssl.SSLContext:
        from cryptography.hazmat.primitives import serialization

        pem = self._leaf_cert(host).public_bytes(serialization.Encoding.PEM)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["http/1.1"])
        ctx.sni_callback = self._on_sni
        # load_cert_chain reads only files: a private temporary folder, removed at once.
        folder = tempfile.mkdtemp(prefix="workbench-leaf-")
        try:
            chain = Path(folder) / "chain.pem"
            keyfile = Path(folder) / "key.pem"
            chain.write_bytes(pem + self.cert_pem)
            fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(self._leaf_key_pem)
            ctx.load_cert_chain(chain, keyfile)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.minted += 1
        return ctx


def _fingerprint(cert) -> str:
    from cryptography.hazmat.primitives import serialization

    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _create(path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise CAError(f"{path}: cannot create the CA directory: {_why(exc)}") from None
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Proxy Workbench"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=2))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_path, cert_path = path / KEY_FILE, path / CERT_FILE
    # O_EXCL: two workbenches starting at once must not overwrite each other's fresh CA.
    try:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise CAError(f"{key_path}: cannot write the CA key: {_why(exc)}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_pem)
    try:
        tmp = cert_path.with_suffix(".pem.tmp")
        tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        tmp.replace(cert_path)
    except OSError as exc:
        raise CAError(f"{cert_path}: cannot write the CA certificate: {_why(exc)}") from None


MAX_PEM = 1 << 20
"""A CA file larger than this is not one (and is not read whole: /dev/zero, a disk image)."""


def _read_pem(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_PEM + 1)
    except OSError as exc:
        raise CAError(f"{path}: cannot read {what}: {_why(exc)}") from None
    if len(data) > MAX_PEM:
        raise CAError(f"{path}: larger than {MAX_PEM >> 20} MiB: not {what}")
    return data


def _load(cert_path: Path, key_path: Path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key_data = _read_pem(key_path, "the CA key")
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except (ValueError, TypeError) as exc:
        raise CAError(
            f"{key_path}: not a valid unencrypted PEM private key ({_first_words(exc)})"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        # RSA would work too, but only keys this module wrote are expected here.
        from cryptography.hazmat.primitives.asymmetric import rsa

        if not isinstance(key, rsa.RSAPrivateKey):
            raise CAError(f"{key_path}: unsupported key type (expected EC or RSA)")
    cert_data = _read_pem(cert_path, "the CA certificate")
    try:
        cert = x509.load_pem_x509_certificate(cert_data)
    except ValueError as exc:
        raise CAError(f"{cert_path}: not a valid PEM certificate ({_first_words(exc)})") from None
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if cert.public_key().public_bytes(enc, pub) != key.public_key().public_bytes(enc, pub):
        raise CAError(f"{cert_path}: does not match the CA key {key_path}")
    try:
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        raise CAError(f"{cert_path}: not a workbench CA (no subject key identifier)") from None
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise CAError(f"{cert_path}: not a CA certificate (its basic constraints lack CA:TRUE)")
    ends = cert.not_valid_after_utc
    if ends <= dt.datetime.now(dt.UTC):
        raise CAError(
            f"{cert_path}: the CA certificate expired on {ends:%Y-%m-%d} (remove it and "
            f"{key_path} to create a new CA)"
        )
    return cert, key


def trust_instructions(ca: CertificateAuthority, proxy: str = "127.0.0.1:8888") -> str:
    """What ``workbench ca`` prints: the certificate, its fingerprint and how to trust it."""
    p = ca.cert_path
    firefox = "Settings > Privacy & Security > Certificates > View Certificates > Authorities"
    chromium = "Settings > Privacy and security > Security > Manage certificates > Authorities"
    return f"""\
CA certificate: {p}
SHA-256 fingerprint: {ca.fingerprint}

Clients see intercepted HTTPS only if they trust this CA. Trust it only where you are allowed to
read the traffic (your own machine, a classroom), and remove it afterwards: whoever holds its key
({ca.key_path}) can impersonate any site to a client that trusts it.

curl:
  curl --cacert {p} -x http://{proxy} https://HOST/
Python (requests / ssl, aiohttp, httpx, urllib):
  export REQUESTS_CA_BUNDLE={p}
  export SSL_CERT_FILE={p}
Node.js:
  export NODE_EXTRA_CA_CERTS={p}
Firefox:
  {firefox} > Import, tick "Trust this CA to identify websites"
Chromium / Chrome:
  {chromium} > Import (or the system store on macOS and Windows)
System store, Debian/Ubuntu:
  sudo cp {p} /usr/local/share/ca-certificates/proxy-workbench.crt
  sudo update-ca-certificates
System store, Fedora/RHEL:
  sudo cp {p} /etc/pki/ca-trust/source/anchors/proxy-workbench.pem
  sudo update-ca-trust
System store, macOS:
  sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {p}
System store, Windows:
  certutil -addstore -f Root {p}
"""
