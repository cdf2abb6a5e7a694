"""The one forwarding-header function for every mode: what an upstream learns about the client."""

from __future__ import annotations

from dataclasses import dataclass, field

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

    def __post_init__(self) -> None:
        watch = set(self.strip)
        if self.full:
            watch |= SET_BY_PROXY | {"x-forwarded-for", "forwarded"}
        elif self.xff:
            watch.add("x-forwarded-for")
        if self.via is not None:
            watch.add("via")
        object.__setattr__(self, "watch", frozenset(watch))


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
    if policy.watch.isdisjoint([h[0].lower() for h in headers]):
        # Nothing to remove or extend: append the fields, in the order the general path gives.
        if policy.full:
            proto = policy.proto
            host = x.authority
            node = f'"[{client}]"' if ":" in client else client
            headers.append(("X-Forwarded-For", client))
            headers.append(("X-Forwarded-Proto", proto))
            if host:
                headers.append(("X-Forwarded-Host", host))
                headers.append(
                    ("Forwarded", f"for={node};proto={proto};host={forwarded_value(host)}")
                )
            else:
                headers.append(("Forwarded", f"for={node};proto={proto}"))
        elif policy.xff:
            headers.append(("X-Forwarded-For", client))
        if policy.via is not None:
            headers.append(("Via", policy.via))
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
        verdict, detail = policy.trace
        if not detail:
            detail = f"X-Forwarded-For: {client} and Via sent to the origin"
        x.rec.step("privacy", verdict, detail)
