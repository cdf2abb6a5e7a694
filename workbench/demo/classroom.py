"""The classroom: the configuration ``workbench`` opens with when given no arguments.

It is built in code from the config model, so it needs no files. Backend URLs use the
placeholder scheme ``demo://NAME``; :class:`workbench.demo.world.DemoWorld` starts a built-in
backend for each name and :func:`resolve_demo_urls` swaps in the real addresses before the engine
starts.

Ports: the reverse proxy prefers 8080, the forward proxy 8888 and the admin API 8081 (easy to
type in class). These are preferences: when one is taken, the runtime falls back to an ephemeral
port and prints the address it really got, so the classroom still opens on a busy machine.

HTTPS interception: the forward proxy decrypts CONNECTs to ``localhost`` (``intercept.hosts``),
and the demo world runs a TLS origin for it, ``https://localhost:8443`` (any free port when 8443
is taken), with a throw-away certificate. ``upstream_ca_file: demo://secure`` is the placeholder
for that certificate, and the origin's port joins ``connect_ports``; both are filled in by
:func:`resolve_secure_origin` once the origin runs. Only clients that trust the workbench's CA
(``workbench ca --path``) accept the decrypting proxy; the rest see a certificate error.
"""

from __future__ import annotations

from dataclasses import replace

from workbench.config.model import (
    Address,
    AdminConfig,
    BackendConfig,
    Config,
    DemoConfig,
    ForwardConfig,
    HealthConfig,
    InterceptConfig,
    PassiveConfig,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
    RuleConfig,
    TrafficConfig,
)

DEMO_SCHEME = "demo://"

REVERSE_PORT = 8080
FORWARD_PORT = 8888
ADMIN_PORT = 8081
SECURE_PORT = 8443
SECURE_NAME = "secure"
"""The demo TLS origin (interception lesson): its preferred port and its name."""
SECURE_CA = f"{DEMO_SCHEME}{SECURE_NAME}"
"""Placeholder for the demo TLS origin's certificate in ``forward.intercept.upstream_ca_file``."""
INTERCEPT_HOSTS = ("localhost",)


def _demo(name: str, weight: int = 1) -> BackendConfig:
    return BackendConfig(name=name, url=f"{DEMO_SCHEME}{name}", weight=weight)


def classroom_config() -> Config:
    """Both proxies in front of five built-in backends, with a few rules to switch on and off."""
    # Short health intervals and low rise/fall so a killed backend visibly drops out in ~2 s.
    health = HealthConfig(path="/healthz", interval=1.0, timeout=0.5, rise=2, fall=2)
    passive = PassiveConfig(consecutive_failures=3, eject_for=5.0)
    web = PoolConfig(
        name="web",
        algorithm="weighted_round_robin",
        backends=(_demo("web-1", 3), _demo("web-2"), _demo("web-3")),
        health=health,
        passive=passive,
    )
    api = PoolConfig(
        name="api",
        algorithm="least_connections",
        backends=(_demo("api-1"), _demo("api-2")),
        health=health,
        passive=passive,
    )
    reverse = ReverseConfig(
        listen=Address("127.0.0.1", REVERSE_PORT),
        # First match wins, so the narrower /api route comes first.
        routes=(
            RouteConfig(name="api", path_prefix="/api", pool="api"),
            RouteConfig(name="site", path_prefix="/", pool="web"),
        ),
        pools={"web": web, "api": api},
        cache=True,
    )
    forward = ForwardConfig(
        listen=Address("127.0.0.1", FORWARD_PORT),
        privacy="transparent",
        cache=True,
        # 443 as everywhere, and the demo TLS origin's port (filled in when it runs).
        connect_ports=(443, SECURE_PORT),
        intercept=InterceptConfig(hosts=INTERCEPT_HOSTS, upstream_ca_file=SECURE_CA),
    )
    rules = (
        RuleConfig(name="block-tracker", when="~d tracker.test", action="block", status=403),
        RuleConfig(name="tag-json", phase="response", when="~t json", action="tag", value="json"),
        # Off by default: a lesson switches it on to show a slow upstream from the client's side.
        RuleConfig(
            name="slow-api",
            when="~u /api/items & ~m GET",
            action="delay",
            delay=0.5,
            enabled=False,
        ),
    )
    return Config(
        admin=AdminConfig(listen=Address("127.0.0.1", ADMIN_PORT)),
        forward=forward,
        reverse=reverse,
        rules=rules,
        demo=DemoConfig(backends=5, traffic=TrafficConfig(rate=20.0)),
    )


def demo_backend_names(config: Config) -> list[str]:
    """Names behind ``demo://NAME`` URLs in the config's pools, in pool and backend order."""
    names: list[str] = []
    if config.reverse is None:
        return names
    for pool in config.reverse.pools.values():
        for b in pool.backends:
            if b.url.startswith(DEMO_SCHEME):
                name = b.url[len(DEMO_SCHEME) :].strip("/")
                if name and name not in names:
                    names.append(name)
    return names


def resolve_demo_urls(config: Config, backends: dict[str, str]) -> Config:
    """Replace every ``demo://NAME`` backend URL with ``backends[NAME]`` (a new Config).

    Raises ValueError naming the first placeholder that has no running backend.
    """
    if config.reverse is None:
        return config
    pools: dict[str, PoolConfig] = {}
    for key, pool in config.reverse.pools.items():
        resolved = []
        for b in pool.backends:
            if b.url.startswith(DEMO_SCHEME):
                name = b.url[len(DEMO_SCHEME) :].strip("/")
                url = backends.get(name)
                if url is None:
                    raise ValueError(
                        f"reverse.pools.{key}.backends: no demo backend named {name!r} is running"
                    )
                b = replace(b, url=url)
            resolved.append(b)
        pools[key] = replace(pool, backends=tuple(resolved))
    return replace(config, reverse=replace(config.reverse, pools=pools))


def wants_secure_origin(config: Config) -> bool:
    """Whether ``config`` asks for the demo TLS origin (``upstream_ca_file: demo://secure``).

    Raises ValueError for another ``demo://`` file: the demo makes no other.
    """
    fwd = config.forward
    ca_file = fwd.intercept.upstream_ca_file if fwd is not None else None
    if ca_file is None or not ca_file.startswith(DEMO_SCHEME):
        return False
    if ca_file != SECURE_CA:
        raise ValueError(
            f"forward.intercept.upstream_ca_file: the demo makes no file {ca_file!r} "
            f"({SECURE_CA} is the certificate of the classroom's HTTPS origin)"
        )
    return True


def resolve_secure_origin(config: Config, cert_file: str, port: int) -> Config:
    """The demo TLS origin runs on ``port`` with ``cert_file``: put both into ``config``.

    ``connect_ports`` gets ``port`` in place of the preferred :data:`SECURE_PORT`.
    """
    fwd = config.forward
    if fwd is None:
        return config
    ports = [p for p in fwd.connect_ports if p != SECURE_PORT or p == port]
    if port not in ports:
        ports.append(port)
    intercept = replace(fwd.intercept, upstream_ca_file=cert_file)
    return replace(config, forward=replace(fwd, connect_ports=tuple(ports), intercept=intercept))
