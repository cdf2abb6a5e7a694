"""Micro-benchmark: CPU cost of the access log per request (format, batch, write to /dev/null).

Run ``python -m workbench.devtools.bench_accesslog``. Uses ``time.process_time`` (CPU, not wall
clock) over batches the size the headless writer takes at 20k req/s (2,000 per 0.1 s turn).
"""

from __future__ import annotations

import os
import statistics
import time

from workbench.devtools.bench_rules import typical_record
from workbench.engine.observe.accesslog import FORMATS, AccessLogWriter
from workbench.engine.observe.records import RequestRecord


def sample_records(n: int) -> list[RequestRecord]:
    """``n`` finished reverse-proxy records with a typical five-step trace."""
    out = []
    for i in range(n):
        rec = typical_record()
        rec.id = i + 1
        rec.start = 1764583200.0 + i / 20_000
        rec.status = 200
        rec.bytes_out = 1234
        rec.pool = "web"
        rec.backend = f"web-{i % 3 + 1}"
        rec.t_total = 0.0012
        rec.step("acl", "allow", "127.0.0.1 in allow_clients")
        rec.step("route", "site", "prefix / → pool web")
        rec.step("rules", "pass", "10 rules, none matched")
        rec.step("balancer", rec.backend, "round robin")
        rec.step("upstream", "200", "response headers received")
        out.append(rec)
    return out


class _Source:
    def __init__(self, records: list[RequestRecord]) -> None:
        self.records = records

    def records_since(self, cursor: int = 0, limit: int = 1000):
        got = self.records[cursor : cursor + limit]
        return got, cursor + len(got), 0


def main(batch: int = 2000, rounds: int = 25) -> dict[str, float]:
    """Print and return the median CPU microseconds per logged request, per format."""
    results: dict[str, float] = {}
    with open(os.devnull, "w") as devnull:
        for name, fmt in FORMATS.items():
            per: list[float] = []
            for _ in range(rounds):
                records = sample_records(batch)
                writer = AccessLogWriter(_Source(records), devnull, fmt, batch=5000)
                t0 = time.process_time()
                writer._write(writer._collect())
                per.append((time.process_time() - t0) / batch * 1e6)
            results[name] = statistics.median(per)
            print(f"{name:9s} {results[name]:.2f} µs CPU per request (best {min(per):.2f})")
    return results


if __name__ == "__main__":
    main()
