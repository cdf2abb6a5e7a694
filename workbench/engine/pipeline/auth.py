"""Basic proxy authentication for the forward proxy, without stalling the event loop.

Password hashes (PBKDF2, tens of milliseconds each, on purpose) are checked on a small thread pool
of their own, never on the loop and never on the loop's default executor (which also resolves
host names). What the loop does per request is a dict lookup:

* a good ``Proxy-Authorization`` value seen in the last ``ok_ttl`` seconds is accepted at once —
  synchronously, no coroutine (:meth:`ProxyAuth.check_cached`);
* a known wrong value is refused at once for ``fail_ttl`` seconds (no hash);
* a client (an IPv4 address or an IPv6 /64) that failed ``max_failures`` times within
  ``window`` seconds, or already has ``max_inflight`` checks running, gets 429 with
  ``Retry-After`` (no hash): repeated wrong passwords cost the attacker, not the proxy;
* identical checks in flight share one hash; at most ``max_queued`` checks wait overall.

Every map is bounded; the oldest entries go first.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

from workbench.config.model import AuthConfig
from workbench.config.passwords import verify_password

__all__ = ["AuthDecision", "ProxyAuth"]

_executor: ThreadPoolExecutor | None = None
_HASH_THREADS = 2
"""Threads that may hash at once, process-wide: a bound on the CPU that guessing can take."""


def _hash_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(_HASH_THREADS, thread_name_prefix="workbench-auth")
    return _executor


@dataclass(frozen=True, slots=True)
class AuthDecision:
    """The outcome of one check: ``status`` is 200 (go on), 407 or 429; ``reason`` for the trace."""

    ok: bool
    status: int
    reason: str
    retry_after: int | None = None
    """Seconds, for a 429's ``Retry-After``."""

    def headers(self, realm: str) -> list[tuple[str, str]]:
        """The headers the refusal carries (a challenge, or when to come back)."""
        if self.status == 429:
            return [("Retry-After", str(self.retry_after or 1))]
        return [("Proxy-Authenticate", f'Basic realm="{realm}"')]


_MISSING = AuthDecision(False, 407, "no Proxy-Authorization header")


class _Client:
    __slots__ = ("since", "failures", "inflight")

    def __init__(self, now: float) -> None:
        self.since = now
        self.failures = 0
        self.inflight = 0


class ProxyAuth:
    """Checks ``Proxy-Authorization`` values against the configured users (see module doc)."""

    def __init__(
        self,
        config: AuthConfig,
        *,
        ok_ttl: float = 60.0,
        fail_ttl: float = 60.0,
        max_entries: int = 1024,
        max_failures: int = 10,
        window: float = 60.0,
        max_inflight: int = 2,
        max_queued: int = 32,
        max_clients: int = 4096,
    ) -> None:
        self.config = config
        self.realm = config.realm
        self.ok_ttl = ok_ttl
        self.fail_ttl = fail_ttl
        self.max_entries = max_entries
        self.max_failures = max_failures
        self.window = window
        self.max_inflight = max_inflight
        self.max_queued = max_queued
        self.max_clients = max_clients
        self._ok: dict[str, tuple[float, AuthDecision]] = {}
        self._bad: dict[str, tuple[float, AuthDecision]] = {}
        self._clients: dict[str, _Client] = {}
        self._pending: dict[str, asyncio.Future[AuthDecision]] = {}
        self.hashes = 0
        """Password hashes computed so far (tests and the curious)."""
        self.limited = 0
        """Checks refused with 429 so far."""

    # -- the fast path ------------------------------------------------------------------------
    def check_cached(self, value: str | None, client: str) -> AuthDecision | None:
        """The decision when no hash is needed, else None (then await :meth:`verify`)."""
        if not value:
            return _MISSING
        hit = self._ok.get(value)
        now = time.monotonic()
        if hit is not None:
            if hit[0] > now:
                return hit[1]
            del self._ok[value]
        bad = self._bad.get(value)
        if bad is not None:
            if bad[0] > now:
                client = _client_key(client)
                self._failed(client, now)
                state = self._clients[client]
                if state.failures > self.max_failures:
                    self.limited += 1
                    return self._limit(client, now) or bad[1]
                return bad[1]
            del self._bad[value]
        return None

    # -- the slow path ------------------------------------------------------------------------
    async def verify(self, value: str, client: str) -> AuthDecision:
        """Check ``value`` on the hash threads (rate-limited per client) and remember the answer."""
        client = _client_key(client)
        now = time.monotonic()
        limited = self._limit(client, now)
        if limited is not None:
            self.limited += 1
            return limited
        pending = self._pending.get(value)
        if pending is None:
            parsed = _parse(value)
            if isinstance(parsed, AuthDecision):
                self._remember(self._bad, value, parsed, now + self.fail_ttl)
                self._failed(client, now)
                return parsed
            if len(self._pending) >= self.max_queued:
                self.limited += 1
                return AuthDecision(False, 429, "too many password checks in progress", 1)
            # A task of its own, so the hash finishes and is remembered even if this client
            # goes away; identical checks arriving meanwhile wait for the same task.
            self._client(client, now).inflight += 1  # counted now: the task starts later
            pending = asyncio.get_running_loop().create_task(self._check(value, client, *parsed))
            self._pending[value] = pending
        return await asyncio.shield(pending)

    async def _check(self, value: str, client: str, user: str, password: str) -> AuthDecision:
        users = self.config.users
        stored = users.get(user)
        # An unknown user costs a hash too, so timing does not tell which users exist.
        against = stored if stored is not None else next(iter(users.values()), None)
        try:
            ok = False
            if against is not None:
                self.hashes += 1
                ok = await asyncio.get_running_loop().run_in_executor(
                    _hash_executor(), verify_password, password, against
                )
            now = time.monotonic()
            if ok and stored is not None:
                decision = AuthDecision(True, 200, f"user {user}")
                self._remember(self._ok, value, decision, now + self.ok_ttl)
            else:
                decision = AuthDecision(False, 407, f"wrong user or password for {user[:64]!r}")
                self._remember(self._bad, value, decision, now + self.fail_ttl)
                self._failed(client, now)
            return decision
        finally:
            state = self._clients.get(client)
            if state is not None:
                state.inflight -= 1
            del self._pending[value]

    # -- bookkeeping --------------------------------------------------------------------------
    def _client(self, client: str, now: float) -> _Client:
        state = self._clients.get(client)
        if state is None:
            if len(self._clients) >= self.max_clients:
                # Forget the oldest idle client; busy ones keep their counts.
                for key, old in self._clients.items():
                    if old.inflight == 0:
                        del self._clients[key]
                        break
            state = self._clients[client] = _Client(now)
        elif now - state.since > self.window:
            state.since = now
            state.failures = 0
        return state

    def _failed(self, client: str, now: float) -> None:
        self._client(client, now).failures += 1

    def _limit(self, client: str, now: float) -> AuthDecision | None:
        state = self._client(client, now)
        if state.failures >= self.max_failures:
            wait = max(1, int(state.since + self.window - now + 0.999))
            return AuthDecision(
                False, 429, f"{state.failures} failed logins from {client}; retry in {wait}s", wait
            )
        if state.inflight >= self.max_inflight:
            return AuthDecision(False, 429, f"password checks already running for {client}", 1)
        return None

    def _remember(
        self,
        table: dict[str, tuple[float, AuthDecision]],
        value: str,
        decision: AuthDecision,
        expires: float,
    ) -> None:
        table.pop(value, None)
        table[value] = (expires, decision)
        if len(table) > self.max_entries:
            del table[next(iter(table))]


@lru_cache(maxsize=1024)
def _client_key(ip: str) -> str:
    """Whom a failure counts against: an IPv4 address, or an IPv6 /64 (one host's usual share)."""
    if ":" not in ip:
        return ip
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(ipaddress.ip_network(f"{addr}/64", strict=False))


def _parse(value: str) -> tuple[str, str] | AuthDecision:
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic":
        return AuthDecision(False, 407, f"unsupported auth scheme {scheme[:20]!r}")
    try:
        raw = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return AuthDecision(False, 407, "malformed Basic credentials")
    user, sep, password = raw.partition(":")
    if not sep:
        return AuthDecision(False, 407, "malformed Basic credentials")
    return user, password
