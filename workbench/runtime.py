"""Runtime: one running engine plus its admin API, and the demo world when the config has one."""

from __future__ import annotations

import errno
from dataclasses import replace

from workbench.config.model import Address, Config
from workbench.engine.engine import Engine


class Runtime:
    """Starts and stops everything a configuration asks for, in the right order."""

    def __init__(self, config: Config, engine: Engine | None = None) -> None:
        self.config = config
        self.engine = engine
        self.admin = None
        self.demo = None
        self.notes: list[str] = []
        """Things the user should know about the start (e.g. a port that was busy)."""

    async def start(self) -> None:
        config = self.config
        if config.demo is not None or _uses_demo(config):
            from workbench.demo.world import DemoWorld

            self.demo = DemoWorld()
            config = await self.demo.start(config)
            self.config = config
            self.notes.extend(self.demo.notes)
        if self.engine is None:
            self.engine = Engine(config)
        self.engine.demo = self.demo
        try:
            await self.engine.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or config.demo is None:
                raise
            # The classroom prefers well-known ports but must start even when they are taken.
            await self.engine.stop(0)
            config = _ephemeral(config)
            self.notes.append("preferred ports were busy; listening on free ports instead")
            self.config = config
            self.engine = Engine(config)
            self.engine.demo = self.demo
            await self.engine.start()
        admin = config.admin
        if admin is not None:
            # Imported here: aiohttp's server costs ~12 MiB that configs without an API needn't pay.
            from workbench.engine.admin import AdminApi

            self.admin = AdminApi(self.engine, admin.token)
            try:
                url = await self.admin.start(admin.listen.host, admin.listen.port)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or config.demo is None:
                    raise
                url = await self.admin.start(admin.listen.host, 0)
                self.notes.append(f"admin port {admin.listen.port} was busy")
            self.engine.listeners["admin"] = url
        if self.demo is not None:
            urls = {k: v for k, v in self.engine.listeners.items() if k in ("reverse", "forward")}
            self.demo.start_traffic(urls)

    def listener_lines(self) -> list[str]:
        names = {"reverse": "reverse proxy", "forward": "forward proxy", "admin": "admin API"}
        return [f"{names.get(k, k)} listening on {url}" for k, url in self.engine.listeners.items()]

    async def stop(self, grace: float = 5.0) -> None:
        if self.demo is not None and self.demo.traffic is not None:
            await self.demo.traffic.stop()
        if self.admin is not None:
            await self.admin.stop()
        if self.engine is not None:
            await self.engine.stop(grace)
        if self.demo is not None:
            await self.demo.stop()


def _uses_demo(config: Config) -> bool:
    from workbench.demo.classroom import wants_secure_origin

    if wants_secure_origin(config):
        return True
    if config.reverse is None:
        return False
    return any(
        b.url.startswith("demo://") for p in config.reverse.pools.values() for b in p.backends
    )


def _ephemeral(config: Config) -> Config:
    def free(addr: Address) -> Address:
        return Address(addr.host, 0)

    if config.reverse is not None:
        config = replace(
            config, reverse=replace(config.reverse, listen=free(config.reverse.listen))
        )
    if config.forward is not None:
        config = replace(
            config, forward=replace(config.forward, listen=free(config.forward.listen))
        )
    return config
