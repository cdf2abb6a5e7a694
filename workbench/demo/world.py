"""The demo world: the built-in backends, the traffic that flows through the proxies, and faults.

Order of use (the runtime drives it)::

    world = DemoWorld()
    config = await world.start(config)          # backends up, demo:// URLs resolved
    ... start the engine with ``config`` ...
    world.start_traffic({"reverse": url, "forward": url})
    ...
    await world.stop()
"""

from __future__ import annotations

from workbench.config.model import Config
from workbench.demo.backends import DemoBackend, start_demo_backends
from workbench.demo.classroom import (
    SECURE_NAME,
    SECURE_PORT,
    demo_backend_names,
    resolve_demo_urls,
    resolve_secure_origin,
    wants_secure_origin,
)
from workbench.demo.faults import FaultInjector
from workbench.demo.traffic import TrafficGenerator


class DemoWorld:
    """Owns the demo backends, the traffic generator and the fault injector."""

    def __init__(self) -> None:
        self.backends: dict[str, DemoBackend] = {}
        self.faults = FaultInjector(self.backends)
        self.traffic: TrafficGenerator | None = None
        self.config: Config | None = None
        self.secure: DemoBackend | None = None
        """The demo TLS origin (``https://localhost:PORT``), when the config asks for it."""
        self.notes: list[str] = []
        """What the user should know about the start (interception left off, and why)."""

    async def start(self, config: Config) -> Config:
        """Start a backend for every ``demo://NAME`` in ``config``; return the resolved config.

        If ``demo.backends`` asks for more than the placeholders name, the rest are started as
        ``web-N`` (useful with a config that points at fixed ports via ``demo.base_port``).
        """
        names = demo_backend_names(config)
        wanted = config.demo.backends if config.demo is not None else 0
        n = 1
        while len(names) < wanted:
            candidate = f"web-{n}"
            if candidate not in names:
                names.append(candidate)
            n += 1
        base_port = config.demo.base_port if config.demo is not None else 0
        if names:
            started = await start_demo_backends(len(names), base_port, names)
            self.backends.update((b.name, b) for b in started)
        try:
            resolved = resolve_demo_urls(config, {n: b.url for n, b in self.backends.items()})
            if wants_secure_origin(resolved):
                resolved = await self._start_secure(resolved)
        except (ValueError, OSError, RuntimeError):
            await self.stop()
            raise
        self.config = resolved
        return resolved

    async def _start_secure(self, config: Config) -> Config:
        """Start the demo TLS origin (8443, else a free port); the config that trusts it.

        Without a usable CA (a corrupt one, a data folder that cannot be written) the classroom
        still opens, with interception off and a note saying why.
        """
        import errno
        import ssl
        from dataclasses import replace

        from workbench.engine.http.ca import CAError, CertificateAuthority
        from workbench.engine.http.tls import self_signed_files

        assert config.forward is not None  # wants_secure_origin checked it
        try:
            CertificateAuthority.load_or_create(config.forward.intercept.ca_dir)
        except CAError as exc:
            self.notes.append(f"HTTPS interception is off: {exc}")
            off = replace(config.forward.intercept, hosts=(), upstream_ca_file=None)
            return replace(config, forward=replace(config.forward, intercept=off))

        cert, key = self_signed_files()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        backend = DemoBackend(SECURE_NAME, port=SECURE_PORT, ssl_context=ctx)
        try:
            await backend.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            backend = await DemoBackend(SECURE_NAME, port=0, ssl_context=ctx).start()
        self.secure = backend
        return resolve_secure_origin(config, cert, backend.port)

    def start_traffic(self, proxy_urls: dict[str, str]) -> TrafficGenerator | None:
        """Create the traffic generator for the listening proxies; start it if the config says so.

        ``proxy_urls`` is ``{"reverse": url, "forward": url}`` (either may be missing). Returns
        None when neither proxy is there to send to.
        """
        reverse = proxy_urls.get("reverse")
        forward = proxy_urls.get("forward")
        if reverse is None and forward is None:
            return None
        traffic_cfg = self.config.demo.traffic if self.config and self.config.demo else None
        if self.traffic is None:
            self.traffic = TrafficGenerator(
                reverse,
                forward,
                [b.url for b in self.backends.values()],
                rate=traffic_cfg.rate if traffic_cfg else 20.0,
            )
        if traffic_cfg is None or traffic_cfg.enabled:
            self.traffic.start()
        return self.traffic

    async def stop(self) -> None:
        """Stop traffic first (so it does not hit closing backends), then the backends."""
        if self.traffic is not None:
            await self.traffic.stop()
        for b in list(self.backends.values()):
            await b.stop()
        self.backends.clear()
        if self.secure is not None:
            await self.secure.stop()
            self.secure = None
