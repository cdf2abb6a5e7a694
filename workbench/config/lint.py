"""What a valid configuration still gets wrong: things that run but can't be what the user meant.

:func:`load_config` rejects what cannot run at all. This module looks at a valid
:class:`~workbench.config.model.Config` for the rest: :func:`nothing_to_run` says when the file
starts no listener (an empty file, say), which ``workbench check`` and ``workbench run`` treat as
an error, and :func:`warnings` lists what runs but answers every request with an error (a reverse
proxy without routes, a pool without backends), which they print as ``warning:`` lines.
"""

from __future__ import annotations

from workbench.config.model import Config

__all__ = ["nothing_to_run", "warnings"]


def nothing_to_run(cfg: Config) -> str | None:
    """Why ``cfg`` starts no listener at all, or None when it starts one."""
    if cfg.forward is None and cfg.reverse is None and cfg.admin is None:
        return (
            "nothing to run: the file defines no forward:, reverse: or admin: section "
            "(see sample_configs/ for examples)"
        )
    return None


def warnings(cfg: Config) -> list[str]:
    """Problems that let the proxies start but make requests fail; each names its key path."""
    out: list[str] = []
    reverse = cfg.reverse
    if reverse is not None:
        if not reverse.routes:
            out.append(
                "reverse.routes: no routes, so the reverse proxy answers every request with 404 "
                "(add e.g. - { name: site, path_prefix: /, pool: web })"
            )
        if not reverse.pools:
            out.append("reverse.pools: no pools, so no request can reach a backend")
        used = {r.pool for r in reverse.routes}
        for name, pool in reverse.pools.items():
            if not pool.backends:
                out.append(
                    f"reverse.pools.{name}.backends: no backends, so requests routed to pool "
                    f"{name} fail with 503"
                )
            if reverse.routes and name not in used:
                out.append(f"reverse.pools.{name}: no route sends requests to this pool")
    return out
