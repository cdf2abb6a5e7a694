"""A TLS origin for interception tests (certificate from a throw-away trustme CA) and helpers."""

from __future__ import annotations

import asyncio
import ssl

import trustme
from aiohttp import web
from origin import Origin, wait_for

from workbench.config.model import Address, Config, ForwardConfig, InterceptConfig
from workbench.engine.http.ca import CERT_FILE


class TlsOrigin(Origin):
    """The test origin app over HTTPS, with a certificate from a throw-away trustme CA."""

    def __init__(self, name: str, ssl_ctx: ssl.SSLContext) -> None:
        super().__init__(name)
        self.ssl_ctx = ssl_ctx

    async def start(self, port: int = 0) -> TlsOrigin:
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port, ssl_context=self.ssl_ctx)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self


async def start_tls_origin(tmp_path) -> TlsOrigin:
    """The test origin app on HTTPS for ``localhost`` and 127.0.0.1; ``ca_file`` trusts it."""
    authority = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost", "127.0.0.1").configure_cert(server_ctx)
    origin_ca = tmp_path / "origin-ca.pem"
    authority.cert_pem.write_to_path(str(origin_ca))
    origin = await TlsOrigin("tls-1", server_ctx).start()
    origin.ca_file = str(origin_ca)
    return origin


def intercept_config(tmp_path, origin, *, ca_file=True, hosts=("localhost",)) -> Config:
    return Config(
        forward=ForwardConfig(
            listen=Address("127.0.0.1", 0),
            connect_ports=(origin.port,),
            intercept=InterceptConfig(
                hosts=hosts,
                ca_dir=str(tmp_path / "ca"),
                upstream_ca_file=origin.ca_file if ca_file else None,
            ),
        )
    )


def client_ssl(tmp_path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tmp_path / "ca" / CERT_FILE))


async def records_matching(engine, predicate, count=1):
    """The finished records for which ``predicate`` holds, once there are ``count`` of them."""
    found = []

    def ready():
        found[:] = [r for r in engine.records_since(0)[0] if predicate(r)]
        return len(found) >= count

    await wait_for(ready)
    return found


async def connect_through(
    proxy: str, port: int, host: str = "localhost"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw CONNECT to ``host:port`` through ``proxy``; returns once the 200 arrived."""
    proxy_host, proxy_port = proxy.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(proxy_host, int(proxy_port))
    writer.write(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 200 "), head
    return reader, writer


async def handshake_refusing(reader, writer, server_hostname: str | None = "localhost"):
    """A client-side TLS handshake over the raw stream with a client that trusts no one here:
    it refuses the certificate and sends its alert, as curl without --cacert does. Without
    ``server_hostname`` it sends no SNI (as clients do for an IP address). Returns the error."""
    client = ssl.create_default_context()  # the system store: not the workbench CA
    if server_hostname is None:
        client.check_hostname = False
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    while True:
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            writer.write(outgoing.read())
            data = await asyncio.wait_for(reader.read(65536), 10)
            assert data, "the proxy closed before sending its certificate"
            incoming.write(data)
        except ssl.SSLError as exc:
            writer.write(outgoing.read())  # the alert: unknown CA
            await writer.drain()
            return exc
        else:
            raise AssertionError("the client accepted a certificate it cannot trust")
