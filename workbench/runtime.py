"""Runtime: one running engine plus its admin API (and, later, demo backends and traffic)."""

from __future__ import annotations

from workbench.config.model import Config
from workbench.engine.admin import AdminApi
from workbench.engine.engine import Engine


class Runtime:
    """Starts and stops everything a configuration asks for, in the right order."""

    def __init__(self, config: Config, engine: Engine | None = None) -> None:
        self.config = config
        self.engine = engine or Engine(config)
        self.admin: AdminApi | None = None

    async def start(self) -> None:
        await self.engine.start()
        admin = self.config.admin
        if admin is not None:
            self.admin = AdminApi(self.engine, admin.token)
            url = await self.admin.start(admin.listen.host, admin.listen.port)
            self.engine.listeners["admin"] = url

    def listener_lines(self) -> list[str]:
        names = {"reverse": "reverse proxy", "forward": "forward proxy", "admin": "admin API"}
        return [f"{names.get(k, k)} listening on {url}" for k, url in self.engine.listeners.items()]

    async def stop(self, grace: float = 5.0) -> None:
        if self.admin is not None:
            await self.admin.stop()
        await self.engine.stop(grace)
