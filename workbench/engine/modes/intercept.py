"""Intercept mode: HTTPS to chosen hosts is decrypted so its requests become ordinary records.

A CONNECT to a host matching ``forward.intercept.hosts`` is answered 200 like a tunnel, then the
workbench is the TLS server of the client's connection, with a leaf certificate for the name the
client asked for (SNI, else the CONNECT host) signed by the local CA (:mod:`..http.ca`). The
ClientHello is peeked at first (:mod:`..http.peek`), so a record of a handshake that fails still
names the SNI, and a client that sends no TLS at all is told apart. The
requests that come out of it are origin-form; this mode gives them their destination
(``https://host:port``) and hands them to the same stages as plain forward requests. Upstream,
the workbench originates its own TLS and verifies the origin (system store or
``upstream_ca_file``).

Nothing here runs unless interception is configured: the forward proxy asks :meth:`matches`
only for CONNECT requests, and only when hosts are listed.
"""

from __future__ import annotations

import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.config.hostglob import compile_host_globs
from workbench.config.model import InterceptConfig
from workbench.engine.http.ca import CertificateAuthority
from workbench.engine.http.headers import strip_hop_by_hop
from workbench.engine.http.peek import peek_first_bytes
from workbench.engine.modes.tunnel import tunnel
from workbench.engine.observe.tls_outcome import TRUST_HINT
from workbench.engine.pipeline.actions import answer
from workbench.engine.pipeline.exchange import DONE, Exchange, new_record
from workbench.engine.pipeline.max_forwards import METHODS as MAX_FORWARDS_METHODS
from workbench.engine.pipeline.max_forwards import max_forwards
from workbench.engine.pipeline.stages import (
    access_control,
    auth,
    destination,
    make_handler,
    request_rules,
)

if TYPE_CHECKING:
    from workbench.engine.http.server import HttpRequest, ServerConnection
    from workbench.engine.modes.forward import ForwardProxy


HANDSHAKE_TIMEOUT = 10.0
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


def handshake_failure(exc: BaseException, name: str, seen: str = "") -> tuple[str, str]:
    """(verdict, sentence) for a client-side handshake that failed.

    ``name`` is the certificate's name; ``seen`` what the client asked for (SNI, CONNECT).
    """
    about = f"{name} ({seen})" if seen else name
    reason = getattr(exc, "reason", None) if isinstance(exc, ssl.SSLError) else None
    if reason in _REJECT_REASONS:
        return "rejected", (
            f"the client rejected the workbench's certificate for {about} "
            f"(TLS alert: {_REJECT_REASONS[reason]}); {TRUST_HINT}"
        )
    if reason == "HTTP_REQUEST":
        return "failed", (
            "TLS handshake with the client failed: it sent plain HTTP into the tunnel instead "
            "of TLS (an http:// URL through CONNECT?)"
        )
    if isinstance(exc, ssl.SSLError):
        why = reason or str(exc)
        return "failed", f"TLS handshake with the client failed for {about} ({why})"
    if isinstance(exc, TimeoutError) or "taking longer" in str(exc):
        return "timeout", (
            f"the client did not finish the TLS handshake for {about} in {HANDSHAKE_TIMEOUT:g}s"
        )
    return "rejected", (
        f"the client closed the connection during the TLS handshake for {about}: it does not "
        f"trust the workbench's certificate (or pins another); {TRUST_HINT}"
    )


def what_was_asked(sni: str | None, host: str, port: int, peeked: bool) -> str:
    """``SNI a.test, CONNECT a.test:443``: the names a client gave, for a record's sentences."""
    if sni:
        asked = f"SNI {sni}"
    elif peeked:
        asked = "no SNI"
    else:
        asked = "SNI not known"
    target = f"[{host}]" if ":" in host else host
    return f"{asked}, CONNECT {target}:{port}"


_PLAIN_HTTP_TEXT = (
    b"The workbench intercepts TLS to this host: it expected a TLS handshake\n"
    b"after the CONNECT, and got plain HTTP.\n"
)
PLAIN_HTTP_ANSWER = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s"
) % (len(_PLAIN_HTTP_TEXT), _PLAIN_HTTP_TEXT)
"""What a client that speaks plain HTTP after an intercepted CONNECT gets (as nginx does)."""


class InterceptMode:
    """The forward proxy's HTTPS interception: which hosts, the CA, the TLS take-over, and the
    verified TLS origins the decrypted requests go to."""

    def __init__(self, forward: ForwardProxy, config: InterceptConfig, ca: CertificateAuthority):
        self.forward = forward
        self.engine = forward.engine
        self.config = config
        self.matches = compile_host_globs(config.hosts)
        """``host -> bool``: whether a CONNECT to this host is intercepted."""
        self.ca = ca
        self.upstream_ssl = upstream_context(config)
        self.origins: OrderedDict[tuple[str, int], Any] = OrderedDict()
        """(host, port) → :class:`~workbench.engine.modes.forward.Origin` over TLS."""
        if not config.upstream_verify:
            self.verify_text = "TLS to the origin, NOT verified (upstream_verify: false)"
        elif config.upstream_ca_file:
            self.verify_text = f"TLS to the origin, verified against {config.upstream_ca_file}"
        else:
            self.verify_text = (
                "TLS to the origin, verified against the system store "
                "(forward.intercept.upstream_ca_file names other CAs)"
            )
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

    def snapshot(self) -> dict[str, Any]:
        return {
            "hosts": list(self.config.hosts),
            "ca_cert": str(self.ca.cert_path),
            "ca_fingerprint": self.ca.fingerprint,
            "sessions": self.sessions,
            "refused": self.refused,
            "leaf_certificates": self.ca.minted,
        }

    # -- the CONNECT ------------------------------------------------------------------------
    async def take_over(self, x: Exchange) -> Any:
        """Answer the CONNECT and become the client's TLS server (DONE), or pass to the tunnel.

        On success the connection carries decrypted requests to a :class:`SessionMode`.
        """
        req, rec, conn = x.req, x.rec, x.conn
        host, port = x.dest
        if req.tunnel_data:
            # The client sent TLS before our 200: start_tls cannot take bytes already read.
            rec.step("intercept", "skip", "the client spoke before the 200; relayed unread")
            return None
        conn.write_head(200, [], "Connection established")
        try:
            first = await peek_first_bytes(conn.transport, HANDSHAKE_TIMEOUT)
        except TimeoutError:
            return self._failed(
                x,
                "timeout",
                f"the client sent nothing for {HANDSHAKE_TIMEOUT:g}s after the CONNECT's 200 "
                "(no TLS handshake began)",
            )
        if first is not None:
            if first.closed:
                return self._failed(
                    x,
                    "closed",
                    "the client closed the connection right after the CONNECT's 200, before "
                    "any TLS (it sent nothing)",
                )
            if not first.tls:
                if first.looks_like_http():
                    conn.transport.write(PLAIN_HTTP_ANSWER)
                    why = (
                        "the client sent plain HTTP into the tunnel instead of TLS (an http:// "
                        "URL through CONNECT?); answered 400 and closed"
                    )
                else:
                    why = (
                        "the client sent something other than TLS into the tunnel (first bytes "
                        f"{first.describe_start()}); closed"
                    )
                return self._failed(x, "failed", why)
            rec.sni = first.sni
        name = (rec.sni or host).lower().rstrip(".")
        seen = what_was_asked(rec.sni, host, port, first is not None and first.complete)
        try:
            ctx = await self.ca.context_for_async(name)
        except (ValueError, TypeError, UnicodeError):  # a name no certificate can carry
            name = host.lower().rstrip(".")
            ctx = await self.ca.context_for_async(name)
        try:
            tls = await conn.start_tls(ctx, HANDSHAKE_TIMEOUT)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            # The 200 went out, but the exchange failed: no status, the error and the trace
            # say why (the Traffic list shows TLS✗), and nothing went upstream.
            return self._failed(x, *handshake_failure(exc, name, seen))
        rec.status = 200
        rec.backend = f"{host}:{port}"
        sslobj = tls.get_extra_info("ssl_object")
        cipher = tls.get_extra_info("cipher") or ("?", "", 0)
        session = TlsSession(
            host,
            port,
            getattr(sslobj, "workbench_sni", rec.sni),
            (sslobj.version() if sslobj is not None else None) or "TLS",
            cipher[0],
        )
        rec.sni = session.sni
        self.sessions += 1
        conn.handler = SessionMode(self, session).handle
        rec.step(
            "tls",
            "intercepted",
            f"{session.describe()}; leaf for {session.server_name} signed by the workbench CA; "
            "each request follows as its own record",
        )
        req.keep_alive = True  # the connection now carries the decrypted requests
        return DONE

    def _failed(self, x: Exchange, verdict: str, sentence: str) -> Any:
        """The client's side of the take-over did not happen: record why, close (DONE)."""
        self.refused += 1
        rec = x.rec
        rec.step("connect", "200", "answered 200 Connection established; TLS handshake next")
        rec.step("tls", verdict, sentence)
        rec.error = sentence
        x.req.keep_alive = False
        return DONE

    # -- origins ----------------------------------------------------------------------------
    def origin(self, x: Exchange, address: str, server_name: str) -> Any:
        """The TLS origin pool for ``x.dest`` at the checked ``address``."""
        from workbench.engine.modes.forward import origin_pool

        return origin_pool(
            self.origins,
            x.dest,
            address,
            self.forward.config,
            ssl=self.upstream_ssl,
            server_hostname=server_name,
        )

    def sweep(self, now: float) -> None:
        for origin in self.origins.values():
            origin.upstream.sweep(now)

    def close(self) -> None:
        for origin in self.origins.values():
            origin.upstream.close()


def intercept(x: Exchange) -> Any:
    """Stage (CONNECT): decrypt when the host is listed in ``forward.intercept.hosts``."""
    ic = x.mode.intercept
    if not ic.matches(x.dest[0]):
        return None
    return ic.take_over(x)


INTERCEPT_STAGES = (access_control, auth, destination, request_rules, intercept, tunnel)
"""CONNECT with interception on: the tunnel stages with the take-over before the tunnel."""


class SessionMode:
    """Mode of one intercepted connection's decrypted requests: ``https://host:port``.

    The CONNECT already passed the ACL and proxy auth; the rest (rules, cache, privacy,
    upstream, records) is the forward proxy's, through the same stages.
    """

    passive = False
    retry_elsewhere = False
    client_allowed = None
    auth = None

    def __init__(self, ic: InterceptMode, session: TlsSession) -> None:
        self.ic = ic
        self.forward = ic.forward
        self.engine = ic.engine
        self.session = session
        self.cache_enabled = self.forward.cache_enabled
        self.decorate = self.forward.client_headers
        self.handle = make_handler(self)

    @property
    def forwarding(self):
        """The forward proxy's privacy policy (it may change live)."""
        return self.forward.forwarding

    def exchange(self, req: HttpRequest, conn: ServerConnection) -> Exchange:
        s = self.session
        target = req.target
        if target.startswith("/") or target == "*":
            path = target
        else:  # absolute-form inside the tunnel: keep the path; the tunnel fixes the origin
            rest = target.split("://", 1)[-1]
            slash = rest.find("/")
            path = rest[slash:] if slash >= 0 else "/"
        rec = new_record(
            self.engine, req, conn, "forward", f"https://{s.authority}{path}", s.host, path
        )
        rec.sni = s.sni
        rec.step("tls", "intercepted", s.describe())
        x = Exchange(req, conn, rec, self)
        x.dest = (s.host, s.port)
        x.authority = s.authority
        x.target = path
        return x

    def destination(self, x: Exchange) -> Any:
        """Stage: the origin is the CONNECT's; the client's Host header goes along."""
        req = x.req
        if req.method == "CONNECT":
            x.rec.step("connect", "400", "CONNECT inside an intercepted connection")
            return answer(
                x, 400, "CONNECT inside an intercepted TLS connection is not supported.\n"
            )
        headers = strip_hop_by_hop(req.headers)
        if not any(n.lower() == "host" for n, _ in headers):
            headers.insert(0, ("Host", x.authority))
        x.headers = headers
        x.rec.step("tls", "origin", self.ic.verify_text)
        if req.method in MAX_FORWARDS_METHODS:
            return max_forwards(x)
        return None

    def retries(self, x: Exchange) -> int:
        return 1

    def timeout(self, x: Exchange) -> float:
        return self.forward.config.timeouts.response

    def pick(self, x: Exchange, tried: set[str]) -> Any:
        origin = self.ic.origins.get(x.dest)
        if origin is not None and origin.expires > time.monotonic():
            self.ic.origins.move_to_end(x.dest)
            return origin
        return self._pick_resolved(x)

    async def _pick_resolved(self, x: Exchange) -> Any:
        address = await self.forward.resolve(x)
        if address is None:
            return None
        return self.ic.origin(x, address, self.session.server_name)
