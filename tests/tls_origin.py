"""A TLS origin for interception tests (certificate from a throw-away trustme CA) and helpers."""

from __future__ import annotations

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
