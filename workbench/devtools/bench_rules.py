"""Micro-benchmark: one evaluation of a 50-rule set against a typical request.

Run ``python -m workbench.devtools.bench_rules``. No rule matches, so every rule is tested:
the worst
case for a request that passes through untouched (and the most common one).
"""

from __future__ import annotations

import statistics
import time

from workbench.config.model import RuleConfig
from workbench.engine.observe.records import RequestRecord
from workbench.engine.rules.ruleset import NO_VERDICT, RuleSet


def realistic_rules() -> list[RuleConfig]:
    """Fifty rules of the kinds people write: domains, URL regexes, methods, headers, mixes."""
    whens: list[str] = []
    whens += [f"~d {d}" for d in ("ads.test", "tracker.example.test", "metrics.cdn.test")]
    whens += [f"~d ads{i}.adnet.test" for i in range(12)]
    whens += [
        "~u ^https?://[^/]+/wp-admin",
        "~u \\.php$",
        "~u /(v1|v2)/internal/",
        "~u [?&]utm_source=",
        "~u ^http://[^/]+/api/slow",
        "~u /\\.git/",
        "~u /admin(/|$)",
        "~u \\.(exe|dll|msi)$",
        "~u /graphql\\b",
        "~u (?:token|secret)=",
        "~u /legacy/",
        "~u ^http://static\\.",
    ]
    whens += [
        "~m DELETE",
        "~m PUT ~d shop.example.test",
        "~m TRACE | ~m CONNECT",
        "~m POST & ~u /login$",
        "~m PATCH ~u /users/",
        "~m OPTIONS",
    ]
    whens += [
        '~hq "user-agent: .*(bot|crawler|spider)"',
        "~hq ^x-debug:",
        '~hq "^cookie: .*admin=1"',
        "~hq ^authorization:\\s*basic",
        "~hq ^x-forwarded-for:\\s*10\\.",
        "~hq ^referer:.*evil\\.test",
    ]
    whens += [
        "~d example.com & ~u /private/",
        "(~d a.test | ~d b.test) & ~m POST",
        "!~d example.com & ~u /checkout",
        "~src 192.168.0.0/16 & ~u /internal",
        "~d api.example.com & ~m DELETE & ~u /v1/",
        "~u /download/ & !~src 127.0.0.0/8",
        "~hq ^x-canary: & ~d example.com",
        "~t application/xml & ~m POST",
        "(~m PUT | ~m PATCH) & ~u /config",
        "~d cdn.test | ~u \\.map$",
        "~u /old/ & ~m GET & ~d example.com",
        "!~m GET & !~m HEAD & ~u /static/",
        "~tag experiment",
    ]
    actions = ("block", "delay", "set_header", "tag", "redirect")
    out = []
    for i, when in enumerate(whens[:50]):
        action = actions[i % len(actions)]
        out.append(
            RuleConfig(
                name=f"rule-{i:02d}",
                when=when,
                action=action,
                status=None,
                location="http://example.com/" if action == "redirect" else None,
                header="X-Bench" if action == "set_header" else None,
                value="x" if action in ("set_header", "tag") else None,
                delay=0.1 if action == "delay" else None,
            )
        )
    return out


def typical_record() -> RequestRecord:
    """A browser-like GET through the reverse proxy."""
    return RequestRecord(
        id=1,
        start=0.0,
        client="127.0.0.1",
        proxy="reverse",
        method="GET",
        url="http://www.example.com/products/42?ref=home",
        host="www.example.com",
        path="/products/42?ref=home",
        request_headers=[
            ("Host", "www.example.com"),
            (
                "User-Agent",
                "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
            ),
            ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("Accept-Language", "en-GB,en;q=0.5"),
            ("Accept-Encoding", "gzip, deflate"),
            ("Connection", "keep-alive"),
            ("Cookie", "session=3f9a1c; theme=dark"),
            ("Upgrade-Insecure-Requests", "1"),
        ],
    )


def main(rounds: int = 7, loops: int = 20_000) -> float:
    """Print and return the median microseconds per full evaluation."""
    configs = realistic_rules()
    ruleset = RuleSet.compile(configs)
    rec = typical_record()
    evaluate = ruleset.evaluate
    trace = rec.trace
    assert evaluate("request", rec) is NO_VERDICT, "the benchmark needs a request no rule matches"
    results = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(loops):
            evaluate("request", rec)
            trace.clear()  # the real pipeline starts each request with a fresh record
        results.append((time.perf_counter() - t0) / loops * 1e6)
    us = statistics.median(results)

    # Calibration: the same loop calling a do-nothing function, to compare machines.
    def nothing(rec: RequestRecord) -> bool:
        return False

    empty = [nothing] * len(configs)
    t0 = time.perf_counter()
    for _ in range(loops):
        for f in empty:
            f(rec)
    call_ns = (time.perf_counter() - t0) / loops / len(configs) * 1e9
    print(
        f"{len(configs)} rules, none matching: {us:.2f} µs per evaluation "
        f"({us * 1000 / len(configs):.0f} ns per rule; best {min(results):.2f} µs, "
        f"{rounds}×{loops} runs)"
    )
    print(f"calibration: an empty Python call costs {call_ns:.0f} ns on this machine")
    return us


if __name__ == "__main__":
    main()
