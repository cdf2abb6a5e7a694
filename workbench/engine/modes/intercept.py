"""Intercept mode: HTTPS to chosen hosts is decrypted so its requests become ordinary records.

A CONNECT to a host matching ``forward.intercept.hosts`` is answered 200 like a tunnel, then the
workbench is the TLS server of the client's connection, with a leaf certificate for the name the
client asked for (SNI, else the CONNECT host) signed by the local CA (:mod:`..http.ca`). The
requests that come out of it are origin-form; this mode gives them their destination
(``https://host:port``) and hands them to the same stages as plain forward requests. Upstream,
the workbench originates its own TLS and verifies the origin (system store or
``upstream_ca_file``).

Nothing here runs unless interception is configured: the forward proxy asks :meth:`matches`
only for CONNECT requests, and only when hosts are listed.
"""

from __future__ import annotations

import ssl
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.config.hostglob import compile_host_globs
from workbench.config.model import InterceptConfig
from workbench.engine.http.ca import CertificateAuthority
from workbench.engine.http.client import UpstreamError, UpstreamPool
from workbench.engine.observe.records import RequestRecord
from workbench.engine.replay import claim

if TYPE_CHECKING:
    from workbench.engine.http.server import HttpRequest, ServerConnection
    from workbench.engine.modes.forward import ForwardProxy

MAX_ORIGIN_POOLS = 256

HANDSHAKE_TIMEOUT = 10.0
TRUST_HINT = "trust the CA: `workbench ca`"
# OpenSSL reasons for alerts a client sends when it does not accept our certificate.
_REJECT_REASONS = {
    "TLSV1_ALERT_UNKNOWN_CA": "unknown CA",
    "SSLV3_ALERT_BAD_CERTIFICATE": "bad certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "certificate unknown",
    "TLSV1_ALERT_ACCESS_DENIED": "access denied",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "unsupported certificate",
    "TLSV1_ALERT_DECRYPT_ERROR": "decrypt error",
}


@dataclass(frozen=True, slots=True)
class TlsSession:
    """What the client's side of one intercepted connection negotiated."""

    host: str
    """The CONNECT host."""
    port: int
    sni: str | None
    version: str
    cipher: str

    @property
    def server_name(self) -> str:
        """The name the client wants to reach: its SNI, else the CONNECT host."""
        return (self.sni or self.host).lower().rstrip(".")

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 443 else f"{host}:{self.port}"

    def describe(self) -> str:
        return f"intercepted TLS: SNI {self.sni or '(none)'}, {self.version}, {self.cipher}"


def upstream_context(config: InterceptConfig) -> ssl.SSLContext:
    """The client-side TLS context for origins: verified against the system store or a file."""
    if config.upstream_verify:
        ctx = ssl.create_default_context(cafile=config.upstream_ca_file)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def handshake_failure(exc: BaseException, name: str) -> tuple[str, str]:
    """(verdict, sentence) for a client-side handshake that failed."""
    reason = getattr(exc, "reason", None) if isinstance(exc, ssl.SSLError) else None
    if reason in _REJECT_REASONS:
        return "rejected", (
            f"the client rejected the workbench's certificate for {name} "
            f"(TLS alert: {_REJECT_REASONS[reason]}); {TRUST_HINT}"
        )
    if isinstance(exc, ssl.SSLError):
        why = reason or str(exc)
        return "failed", f"TLS handshake with the client failed ({why})"
    if isinstance(exc, TimeoutError) or "taking longer" in str(exc):
        return "timeout", f"the client did not finish the TLS handshake in {HANDSHAKE_TIMEOUT:g}s"
    return "rejected", (
        f"the client closed the connection during the TLS handshake for {name}: it does not "
        f"trust the workbench's certificate (or pins another); {TRUST_HINT}"
    )


class InterceptMode:
    """The forward proxy's HTTPS interception: which hosts, the CA, the TLS take-over, and the
    destination of the decrypted requests (TLS origins of their own, verified)."""

    def __init__(self, forward: ForwardProxy, config: InterceptConfig, ca: CertificateAuthority):
        self.forward = forward
        self.engine = forward.engine
        self.config = config
        self.matches = compile_host_globs(config.hosts)
        """``host -> bool``: whether a CONNECT to this host is intercepted."""
        self.ca = ca
        self.upstream_ssl = upstream_context(config)
        self.origins: OrderedDict[tuple[str, int], UpstreamPool] = OrderedDict()
        self.sessions = 0
        """Client connections whose TLS the workbench terminated."""
        self.refused = 0
        """Client handshakes that failed (mostly: the client does not trust the CA)."""

    @classmethod
    def from_config(cls, forward: ForwardProxy, config: InterceptConfig) -> InterceptMode | None:
        """None when no host is listed (interception off). Raises CAError for a broken CA."""
        if not config.hosts:
            return None
        return cls(forward, config, CertificateAuthority.load_or_create(config.ca_dir))

    # -- the CONNECT ------------------------------------------------------------------------
    async def take_over_connect(
        self, conn: ServerConnection, req: HttpRequest, rec: RequestRecord, host: str, port: int
    ) -> bool:
        """Answer the CONNECT and become the client's TLS server.

        False: not taken over (the caller tunnels instead). True: done, the CONNECT's record is
        finished; on success the connection now carries decrypted requests to :meth:`handle`.
        """
        if req.tunnel_data:
            # The client sent TLS before our 200: start_tls cannot take bytes already read.
            rec.step("intercept", "skip", "the client spoke before the 200; relayed unread")
            return False
        ctx = await self.ca.context_for_async(host)
        rec.status = 200
        rec.backend = f"{host}:{port}"
        conn.write_head(200, [], "Connection established")
        try:
            tls = await conn.start_tls(ctx, HANDSHAKE_TIMEOUT)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self.refused += 1
            verdict, sentence = handshake_failure(exc, host)
            rec.step("tls", verdict, sentence)
            rec.error = sentence
            self.engine.finish(rec, req.start_mono)
            return True
        sslobj = tls.get_extra_info("ssl_object")
        cipher = tls.get_extra_info("cipher") or ("?", "", 0)
        session = TlsSession(
            host,
            port,
            getattr(sslobj, "workbench_sni", None),
            (sslobj.version() if sslobj is not None else None) or "TLS",
            cipher[0],
        )
        rec.sni = session.sni
        self.sessions += 1

        async def handle(r: HttpRequest, c: ServerConnection) -> None:
            await self.handle(r, c, session)

        conn.handler = handle
        rec.step(
            "tls",
            "intercepted",
            f"{session.describe()}; leaf for {session.server_name} signed by the workbench CA; "
            "each request follows as its own record",
        )
        req.keep_alive = True  # the connection now carries the decrypted requests
        self.engine.finish(rec, req.start_mono)
        return True

    # -- decrypted requests -----------------------------------------------------------------
    async def handle(self, req: HttpRequest, conn: ServerConnection, session: TlsSession) -> None:
        """One decrypted request: destination ``https://host:port``, then the forward stages."""
        eng = self.engine
        path = req.target if req.target.startswith("/") else "/" + req.target.split("/", 3)[-1]
        if req.target == "*":
            path = "*"
        rec = RequestRecord(
            eng.next_id(),
            req.start,
            conn.client_ip,
            "forward",
            req.method,
            f"https://{session.authority}{path}",
            session.host,
            path,
            req.headers,
        )
        rec.bytes_in = len(req.body)
        if eng.replays:
            claim(eng, req, rec)
        rec.sni = session.sni
        rec.step("tls", "intercepted", session.describe())
        if not any(n.lower() == "host" for n, _ in req.headers):
            req.headers.append(("Host", session.authority))
        try:
            await self.forward._pipeline(
                req, conn, rec, (session.host, session.port), self._origin(session)
            )
        except (ConnectionError, UpstreamError) as exc:
            rec.error = rec.error or str(exc)
            conn.close()
        finally:
            if rec.error and "CERTIFICATE_VERIFY_FAILED" in rec.error:
                rec.step("tls", "upstream", verify_hint(rec.error))
            eng.finish(rec, req.start_mono)

    def _origin(self, session: TlsSession) -> UpstreamPool:
        key = (session.host, session.port)
        pool = self.origins.get(key)
        if pool is None:
            t = self.forward.config.timeouts
            pool = UpstreamPool(
                session.host,
                session.port,
                max_connections=self.forward.config.limits.max_connections_per_backend,
                connect_timeout=t.connect,
                idle_timeout=t.idle,
                ssl=self.upstream_ssl,
                server_hostname=session.server_name,
            )
            self.origins[key] = pool
            if len(self.origins) > MAX_ORIGIN_POOLS:
                _, old = self.origins.popitem(last=False)
                old.close()
        else:
            self.origins.move_to_end(key)
        return pool

    def sweep(self, now: float) -> None:
        for pool in self.origins.values():
            pool.sweep(now)

    def close(self) -> None:
        for pool in self.origins.values():
            pool.close()


def verify_hint(error: str) -> str:
    """The trace line for an origin whose certificate did not verify."""
    return (
        f"the origin's certificate did not verify ({error}); if it is a test origin, name its "
        "CA in forward.intercept.upstream_ca_file"
    )
