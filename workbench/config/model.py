"""The typed, frozen model of a workbench configuration file.

This is the one declaration of what a config file may say. Durations are seconds (float), sizes are
bytes (int). Every field has a default, so an empty file is a valid (if idle) configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALGORITHMS = (
    "round_robin",
    "weighted_round_robin",
    "least_connections",
    "random_two",
    "ip_hash",
    "consistent_hash",
)
PRIVACY_MODES = ("transparent", "anonymous", "elite")
RULE_ACTIONS = ("block", "allow", "redirect", "set_header", "remove_header", "delay", "tag")
RULE_PHASES = ("request", "response")


@dataclass(frozen=True, slots=True)
class Address:
    """A listen address: host and TCP port (port 0 picks a free one)."""

    host: str = "127.0.0.1"
    port: int = 0

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class AdminConfig:
    listen: Address = field(default_factory=lambda: Address("127.0.0.1", 8081))
    """Where the JSON admin API and /metrics listen."""
    token: str | None = None
    """Bearer token; required to listen on a non-loopback address."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 2.0
    """Seconds to open an upstream connection."""
    response: float = 30.0
    """Seconds to wait for the upstream's response headers once the request has been sent;
    also the longest pause allowed between two reads of the response body, and while the
    upstream takes a streamed request body (504 before the response starts, else a reset)."""
    idle: float = 60.0
    """Seconds an idle pooled upstream connection (or a quiet tunnel or WebSocket) is kept."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Protections for the client-facing side of a proxy."""

    max_header_size: int = 65536
    """Bytes of request line + headers; larger requests get 431. Upstream response heads are
    held to the same limit (larger: 502)."""
    max_body_size: int = 100 * 1024 * 1024
    """Bytes of request body; larger requests get 413."""
    client_timeout: float = 60.0
    """Seconds to wait for a client's complete request headers, the longest pause in a request
    body (slow clients get 408, or a close once the response has started) and the longest a
    client may stop reading its response (then the connection is reset)."""
    keepalive_timeout: float = 75.0
    """Seconds an idle client keep-alive connection is kept open."""
    max_connections_per_backend: int = 256
    """Concurrent upstream connections to one backend; extra requests wait in a queue."""


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """Basic proxy authentication for the forward proxy."""

    users: dict[str, str] = field(default_factory=dict)
    """User name → password hash (``pbkdf2_sha256$ITER$SALT$HASH``); never plain text."""
    realm: str = "workbench"


@dataclass(frozen=True, slots=True)
class InterceptConfig:
    """HTTPS interception by the forward proxy (off while ``hosts`` is empty)."""

    hosts: tuple[str, ...] = ()
    """Host globs (``*.example.test``, ``localhost``) whose CONNECT tunnels are decrypted."""
    ca_dir: str | None = None
    """Folder of the local CA; None: ``$XDG_DATA_HOME/proxy-workbench/ca``."""
    upstream_ca_file: str | None = None
    """PEM file of CAs trusted for the upstream TLS; None: the system store."""
    upstream_verify: bool = True
    """Verify origin certificates (turn off only for throw-away test origins)."""


@dataclass(frozen=True, slots=True)
class ForwardConfig:
    listen: Address = field(default_factory=lambda: Address("127.0.0.1", 8888))
    allow_clients: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    """CIDR blocks allowed to use the proxy; default loopback only (never an open proxy)."""
    connect_ports: tuple[int, ...] = (443,)
    """Ports CONNECT may tunnel to."""
    deny_destinations: tuple[str, ...] = ("169.254.0.0/16", "fe80::/10")
    """CIDR blocks no request or tunnel may reach, checked after name resolution; default the
    link-local ranges (cloud metadata services)."""
    privacy: str = "transparent"
    """transparent | anonymous | elite."""
    cache: bool = True
    auth: AuthConfig | None = None
    max_origin_stats: int = 256
    """Origins whose stats are kept one by one (the busiest); the rest count as "other origins"."""
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)
    intercept: InterceptConfig = field(default_factory=InterceptConfig)
    """HTTPS interception for chosen hosts (needs clients to trust the workbench CA)."""


@dataclass(frozen=True, slots=True)
class TlsConfig:
    cert: str | None = None
    key: str | None = None
    self_signed: bool = False


@dataclass(frozen=True, slots=True)
class RouteConfig:
    name: str
    pool: str
    host: str = "*"
    """Host glob (``*.example.test``); ``*`` matches any."""
    path_prefix: str = "/"
    strip_prefix: bool = False


@dataclass(frozen=True, slots=True)
class BackendConfig:
    name: str
    url: str
    """``http://host:port`` (an optional path prefix is allowed)."""
    weight: int = 1


@dataclass(frozen=True, slots=True)
class HealthConfig:
    path: str = "/healthz"
    interval: float = 2.0
    timeout: float = 1.0
    expect_status: tuple[int, int] = (200, 399)
    """Inclusive range of statuses that count as healthy."""
    rise: int = 2
    """Consecutive passes that bring a down backend up."""
    fall: int = 3
    """Consecutive failures that take an up backend down."""


@dataclass(frozen=True, slots=True)
class PassiveConfig:
    consecutive_failures: int = 5
    """Failures in a row (connect errors, timeouts, 5xx) that eject a backend; 0 disables."""
    eject_for: float = 10.0
    """Seconds of the first ejection; doubles on each repeat, capped at 10×."""


@dataclass(frozen=True, slots=True)
class PoolConfig:
    name: str
    backends: tuple[BackendConfig, ...] = ()
    algorithm: str = "round_robin"
    health: HealthConfig | None = None
    """Active health checks; ``None`` disables them."""
    passive: PassiveConfig = field(default_factory=PassiveConfig)
    retries: int = 1
    """Retries of idempotent requests on another backend when the connection fails."""
    timeouts: Timeouts = field(default_factory=Timeouts)
    hash_key: str = "client_ip"
    """For consistent_hash: ``client_ip``, ``path``, ``url`` or ``header:NAME``."""


@dataclass(frozen=True, slots=True)
class ReverseConfig:
    listen: Address = field(default_factory=lambda: Address("127.0.0.1", 8080))
    tls: TlsConfig | None = None
    forwarded_headers: bool = True
    hide_backend_headers: tuple[str, ...] = ("Server", "X-Powered-By")
    cache: bool = True
    routes: tuple[RouteConfig, ...] = ()
    pools: dict[str, PoolConfig] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True, slots=True)
class CacheConfig:
    max_size: int = 64 * 1024 * 1024
    max_object_size: int = 8 * 1024 * 1024
    store_set_cookie: bool = True
    """Store responses that carry Set-Cookie (RFC 9111 §7.3 allows it; the Cache view marks
    them). Off: such responses are passed through uncached."""
    serve_stale_on_error: float = 0.0
    """Seconds a stale entry may stand in for an unreachable or failing origin even without
    ``stale-if-error``; 0 (or false) is off. Never overrides must-revalidate, proxy-revalidate,
    s-maxage or no-cache."""
    targeted_fields: tuple[str, ...] = ("CDN-Cache-Control",)
    """Targeted cache-control fields (RFC 9213) the reverse proxy's cache obeys instead of
    Cache-Control, first present one wins. The forward proxy ignores them."""


@dataclass(frozen=True, slots=True)
class RecordsConfig:
    """What each request record keeps for the detail view and HAR export."""

    body_cap: int = 1024 * 1024
    """Bytes of each body (request and response) kept per record; 0 turns body capture off."""
    body_budget: int = 64 * 1024 * 1024
    """Bytes of bodies kept across all records; past it the oldest records' bodies go first."""


@dataclass(frozen=True, slots=True)
class RuleConfig:
    name: str
    when: str
    """Filter expression (see the README's filter language)."""
    action: str
    phase: str = "request"
    enabled: bool = True
    status: int | None = None
    """block: default 403; redirect: default 302."""
    location: str | None = None
    """redirect target."""
    header: str | None = None
    """set_header / remove_header: the header name."""
    value: str | None = None
    """set_header: the value; tag: the label."""
    delay: float | None = None
    """delay: seconds added before the request goes upstream (or the response goes back)."""


@dataclass(frozen=True, slots=True)
class TrafficConfig:
    rate: float = 20.0
    """Requests per second the demo traffic generator sends."""
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class DemoConfig:
    backends: int = 3
    base_port: int = 0
    """First port for demo backends; 0 picks free ports."""
    traffic: TrafficConfig = field(default_factory=TrafficConfig)


HOLD_PHASES = ("request", "response")
HOLD_TIMEOUT_ACTIONS = ("resume", "fail")


@dataclass(frozen=True, slots=True)
class HoldConfig:
    """Intercept (hold) matching exchanges for inspection and editing, like a breakpoint."""

    filter: str | None = None
    """Filter expression of the exchanges to hold; None holds nothing."""
    phase: str = "request"
    """request: hold before the request goes upstream; response: before the client gets it."""
    timeout: float = 60.0
    """Seconds an exchange may stay held before ``on_timeout`` decides for the user."""
    on_timeout: str = "resume"
    """resume: let it go on unchanged-since-edit; fail: answer 504."""
    max_held: int = 100
    """Exchanges held at once; further matches pass (the trace says why)."""


@dataclass(frozen=True, slots=True)
class Config:
    version: int = 1
    admin: AdminConfig | None = None
    forward: ForwardConfig | None = None
    reverse: ReverseConfig | None = None
    cache: CacheConfig = field(default_factory=CacheConfig)
    records: RecordsConfig = field(default_factory=RecordsConfig)
    rules: tuple[RuleConfig, ...] = ()
    demo: DemoConfig | None = None
    hold: HoldConfig = field(default_factory=HoldConfig)
    keymap: dict[str, str] = field(default_factory=dict)
    """Binding id → key(s), e.g. ``{"weight_up": "ctrl+up"}``."""
    source: str | None = None
    """Path of the file this was loaded from (not a YAML key)."""
