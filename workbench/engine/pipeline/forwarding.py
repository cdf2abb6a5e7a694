"""The one forwarding-header function for every mode: what an upstream learns about the client."""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from sys import intern

from workbench.engine.http.headers import (
    FORWARDING_HEADERS,
    REVEALING_HEADERS,
    SET_BY_PROXY,
    VIA_TOKEN,
    add_forwarded,
    append_via,
    append_xff,
    forwarded_value,
    remove_names,
)
from workbench.engine.pipeline.exchange import Exchange


@dataclass(frozen=True, slots=True)
class Forwarding:
    """A mode's forwarding policy, made once per proxy."""

    strip: frozenset[str] = frozenset()
    """Client-sent fields removed first (privacy modes)."""
    full: bool = False
    """X-Forwarded-For/-Proto/-Host and Forwarded (RFC 7239), as a reverse proxy sends them."""
    xff: bool = False
    """Only X-Forwarded-For (a transparent forward proxy)."""
    via: str | None = VIA_TOKEN
    """Our ``Via`` token, or None to add none."""
    proto: str = "http"
    trace: tuple[str, str] | None = None
    """(verdict, detail) of a ``privacy`` trace step, when the policy is worth explaining."""
    watch: frozenset[str] = field(init=False)
    """Lower-cased names this policy removes or extends: when a request has none of them (the
    usual case) the new fields are simply appended."""
    appended: dict[tuple[str, str], tuple[tuple[str, str], ...]] = field(
        init=False, compare=False, repr=False
    )
    """(client, authority) → the fields appended in the usual case (made once each; bounded)."""
    steps: dict[str, tuple[str, str, str]] = field(init=False, compare=False, repr=False)
    """Client → its ``privacy`` trace step (made once per client; bounded)."""

    def __post_init__(self) -> None:
        watch = set(self.strip)
        if self.full:
            watch |= SET_BY_PROXY | {"x-forwarded-for", "forwarded"}
        elif self.xff:
            watch.add("x-forwarded-for")
        if self.via is not None:
            watch.add("via")
        object.__setattr__(self, "watch", frozenset(watch))
        object.__setattr__(self, "appended", {})
        object.__setattr__(self, "steps", {})


def reverse_forwarding(enabled: bool, proto: str) -> Forwarding:
    """A reverse proxy: every forwarding header when ``forwarded_headers`` is on, Via always."""
    return Forwarding(full=enabled, proto=proto)


def privacy_forwarding(mode: str, via: str) -> Forwarding:
    """A forward proxy's privacy mode (transparent, anonymous, elite)."""
    if mode == "elite":
        return Forwarding(
            strip=REVEALING_HEADERS,
            via=None,
            trace=("elite", "removed every header naming the client or a proxy"),
        )
    if mode == "anonymous":
        return Forwarding(
            strip=FORWARDING_HEADERS,
            via=via,
            trace=("anonymous", "client address hidden; Via says a proxy is here"),
        )
    return Forwarding(xff=True, via=via, trace=("transparent", ""))


def add_forwarding(x: Exchange, policy: Forwarding) -> None:
    """Apply ``policy`` to the upstream headers of ``x`` (once; only when it goes upstream)."""
    x.forwarded = True
    headers = x.headers
    client = x.rec.client
    if policy.watch.isdisjoint(map(str.lower, map(_first, headers))):
        # Nothing to remove or extend (the usual request): append the fields, in the order the
        # general path gives; they are the same for every request of a client to one host.
        key = (client, x.authority)
        fields = policy.appended.get(key)
        if fields is None:
            fields = _appended(policy, client, x.authority)
            if len(policy.appended) >= 1024:
                policy.appended.clear()
            policy.appended[key] = fields
        headers.extend(fields)
    else:
        if policy.strip:
            headers[:] = remove_names(headers, policy.strip)
        if policy.full:
            add_forwarded(headers, client, policy.proto, x.authority or None)
        elif policy.xff:
            append_xff(headers, client)
        if policy.via is not None:
            append_via(headers, policy.via)
    if policy.trace is not None:
        step = policy.steps.get(client)
        if step is None:
            verdict, detail = policy.trace
            if not detail:
                detail = f"X-Forwarded-For: {client} and Via sent to the origin"
            step = ("privacy", verdict, intern(detail))
            if len(policy.steps) >= 1024:
                policy.steps.clear()
            policy.steps[client] = step
        x.rec.trace.append(step)


_first = itemgetter(0)


def _appended(policy: Forwarding, client: str, host: str) -> tuple[tuple[str, str], ...]:
    """The fields ``policy`` appends for ``client`` asking ``host`` (none of them yet present)."""
    out: list[tuple[str, str]] = []
    if policy.full:
        proto = policy.proto
        node = f'"[{client}]"' if ":" in client else client
        out.append(("X-Forwarded-For", client))
        out.append(("X-Forwarded-Proto", proto))
        if host:
            out.append(("X-Forwarded-Host", host))
            out.append(("Forwarded", f"for={node};proto={proto};host={forwarded_value(host)}"))
        else:
            out.append(("Forwarded", f"for={node};proto={proto}"))
    elif policy.xff:
        out.append(("X-Forwarded-For", client))
    if policy.via is not None:
        out.append(("Via", policy.via))
    return tuple(out)
