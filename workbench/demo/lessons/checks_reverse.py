"""Checks of the reverse-proxy lessons: caching, load balancing, failover and access rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from workbench.demo.lessons.model import CheckResult, LessonState
from workbench.demo.lessons.reading import (
    backend_requests,
    failures_line,
    find_backend,
    is_students,
    plural,
    proxy_failures,
    proxy_total,
    request_line,
    rule_hits,
    waiting_for_own,
)

_HEALTH = re.compile(r"^(?P<pool>[^/]+)/(?P<backend>[^:]+): (?P<old>\w+) → (?P<new>\w+)")


_SERVED = ("hit", "stale", "revalidated")


def _variants(st: LessonState, path: str) -> tuple[str, ...]:
    """One line per stored copy of ``path`` (different Vary values are different copies)."""
    lines = []
    for e in st.cache_entries:
        url = str(e.get("url", ""))
        if url.split("://", 1)[-1].partition("/")[2].split("?", 1)[0] != path.lstrip("/"):
            continue
        vary = e.get("vary") or {}
        picked = ", ".join(f"{k}={v if v is not None else '(none)'}" for k, v in vary.items())
        lines.append(
            f"stored copy of {url.split('://', 1)[-1].partition('/')[1]}"
            f"{url.split('://', 1)[-1].partition('/')[2]}  {picked or 'no Vary'}  "
            f"hits {e.get('hits', 0)}"
        )
    return tuple(sorted(lines))


def check_caching(st: LessonState) -> CheckResult:
    """Done after the student's own request was answered from the cache, then a purge."""
    if st.snapshot.get("cache") is None:
        return CheckResult(False, "the cache is off in this engine: nothing to observe")
    mem = st.memory
    for rec in st.records:
        if is_students(rec) and rec.method != "CONNECT" and rec.cache:
            mem["last"] = f"your {request_line(rec)}: cache {rec.cache.upper()}"
            if rec.cache in _SERVED:
                mem["hit"] = True
    purged = any(
        e.get("kind") == "edit" and str(e.get("message", "")).startswith("cache: purged")
        for e in st.events
    )
    variants = _variants(st, "/lang")
    evidence = tuple(x for x in (mem.get("last"),) if x) + (
        variants or ("no copy of /lang stored yet (step 3)",)
    )
    if mem.get("hit") and purged:
        return CheckResult(
            True, "your request was served from the cache, then you purged", evidence
        )
    if not mem.get("hit"):
        extra = " (a purge is done)" if purged else ""
        return CheckResult(
            False, waiting_for_own(st, "a cache hit on your own request") + extra, evidence
        )
    return CheckResult(False, "your request was a cache hit; now purge (3, then p)", evidence)


BALANCE_BACKEND = "web-2"
BALANCE_MIN_REQUESTS = 20
"""Pool requests needed after the drain before its share counts as measured."""
BALANCE_MAX_SHARE = 0.05
"""Share still allowed after the drain: requests already in flight may land late."""


def _in_rotation(b: Mapping[str, Any]) -> bool:
    return b.get("weight") != 0 and b.get("state") not in ("draining", "disabled")


def check_balancing(st: LessonState) -> CheckResult:
    """Done when the student took web-2 out of rotation and it then took (almost) no requests,
    with no 5xx from the reverse proxy. Seeing web-2 in rotation first proves the change was
    made during the lesson."""
    name = BALANCE_BACKEND
    pool, b = find_backend(st.snapshot, name)
    if not b:
        return CheckResult(False, f"no backend named {name} here: this lesson needs the classroom")
    names = [x["name"] for x in pool.get("backends", ())]
    counts = {n: backend_requests(st.snapshot, n) for n in names}
    mem = st.memory
    _bp, base_b = find_backend(st.baseline, name)
    if base_b and _in_rotation(base_b):
        mem["seen_in"] = True
    if _in_rotation(b):
        mem["seen_in"] = True
        # Back in rotation: any earlier drain no longer counts.
        mem.pop("drain", None)
        base = {n: backend_requests(st.baseline, n) for n in names}
        total = sum(counts.values()) - sum(base.values())
        if total <= 0:
            return CheckResult(False, f"{name} has weight {b.get('weight')}; set it to 0")
        share = (counts[name] - base[name]) / total
        return CheckResult(
            False,
            f"{name} still gets {share:.0%} of requests (weight {b.get('weight')})",
            (failures_line(st),),
        )
    if not mem.get("seen_in"):
        return CheckResult(
            False,
            f"{name} was already out of rotation when the lesson started: put it back "
            "(select it in Backends, press +), then take it out yourself",
        )
    drain = mem.get("drain")
    if drain is None:
        drain = mem["drain"] = {
            "counts": counts,
            "failures": proxy_failures(st.snapshot, "reverse"),
        }
    failures = proxy_failures(st.snapshot, "reverse") - drain["failures"]
    total = sum(counts.values()) - sum(drain["counts"].get(n, 0) for n in names)
    mine = counts[name] - drain["counts"].get(name, 0)
    evidence = (
        f"since {name} left the rotation: {mine} of {total} {pool.get('name', 'pool')} requests "
        f"went to it",
        failures_line(st),
    )
    if failures > 0:
        return CheckResult(
            False,
            f"{plural(failures, '5xx')} from the reverse proxy since {name} left; press enter "
            "to try again",
            evidence,
        )
    if total < BALANCE_MIN_REQUESTS:
        return CheckResult(
            False,
            f"{name} is out of rotation; {total} of {BALANCE_MIN_REQUESTS} pool requests "
            "seen since (is traffic flowing?)",
            evidence,
        )
    share = mine / total
    if share > BALANCE_MAX_SHARE:
        return CheckResult(False, f"{name} still gets {share:.0%} of requests", evidence)
    return CheckResult(
        True, f"{name} drained with zero 5xx ({mine} of {total} requests since)", evidence
    )


FAILOVER_MIN_REQUESTS = 10
"""Good reverse-proxy answers needed while a backend is down, to show requests kept flowing."""


def check_failover(st: LessonState) -> CheckResult:
    """Done when a backend went down by health, the reverse proxy answered without 5xx, and the
    backend came back up — all after the lesson started."""
    mem = st.memory
    for i, e in enumerate(st.events):
        if e.get("kind") != "health":
            continue
        m = _HEALTH.match(str(e.get("message", "")))
        if m is None:
            continue
        if "down" not in mem and m["new"] in ("down", "ejected"):
            mem["down"] = {
                "backend": m["backend"],
                "index": i,
                "failures": proxy_failures(st.snapshot, "reverse"),
                "total": proxy_total(st.snapshot, "reverse"),
            }
        elif (
            "down" in mem
            and m["new"] == "up"
            and m["backend"] == mem["down"]["backend"]
            and i > mem["down"]["index"]
        ):
            mem["revived"] = True
    down = mem.get("down")
    evidence = (failures_line(st),)
    if down is None:
        return CheckResult(
            False, "no backend has gone down yet: kill web-3 in Backends (step 1)", evidence
        )
    name = down["backend"]
    failures = proxy_failures(st.snapshot, "reverse") - down["failures"]
    good = proxy_total(st.snapshot, "reverse") - down["total"] - failures
    if failures > 0:
        return CheckResult(
            False,
            f"{plural(failures, '5xx')} from the reverse proxy after {name} went down; press "
            "enter to try again",
            evidence,
        )
    if good < FAILOVER_MIN_REQUESTS:
        return CheckResult(
            False,
            f"{name} is out; {good} of {FAILOVER_MIN_REQUESTS} requests answered since "
            "(is traffic flowing?)",
            evidence,
        )
    if not mem.get("revived"):
        return CheckResult(
            False,
            f"{name} is out and {good} requests got answers, zero 5xx; now revive it",
            evidence,
        )
    return CheckResult(True, f"{name} went down and came back; {good} requests, zero 5xx", evidence)


@cache
def classroom_rule_names() -> frozenset[str]:
    """Names of the rules the classroom starts with (a student's rule is any other)."""
    from workbench.demo.classroom import classroom_config

    return frozenset(r.name for r in classroom_config().rules)


def check_access(st: LessonState) -> CheckResult:
    """Done when a block rule the student added after the lesson started stopped a request, or
    a rule stopped one of the student's own marked requests."""
    mem = st.memory
    for rec in st.records:
        if is_students(rec) and rec.rule and rec.status is not None and rec.status >= 300:
            mem["stopped"] = f"your {request_line(rec)} → {rec.status}, stopped by {rec.rule}"
    now = rule_hits(st.snapshot)
    existing = set(rule_hits(st.baseline)) | classroom_rule_names()
    mine = [
        r
        for name, r in now.items()
        if name not in existing and r.get("action") in ("block", "redirect")
    ]
    evidence = tuple(
        f"your rule {r['name']}: {r.get('when', '')} → {r.get('action')}, "
        f"{plural(int(r.get('hits', 0)), 'hit')}"
        for r in mine
    ) + tuple(x for x in (mem.get("stopped"),) if x)
    for r in mine:
        if int(r.get("hits", 0)) > 0:
            return CheckResult(
                True,
                f"your rule {r['name']} stopped {plural(int(r['hits']), 'request')}",
                evidence,
            )
    if "stopped" in mem:
        return CheckResult(True, mem["stopped"], evidence)
    if mine:
        names = ", ".join(r["name"] for r in mine)
        return CheckResult(
            False, f"{names}: no hits yet; does the filter match any traffic?", evidence
        )
    return CheckResult(False, "add a block rule of your own (4, then n)", evidence)
