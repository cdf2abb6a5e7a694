"""Rule sets: ordered (filter, action) pairs that both proxies evaluate on every request.

A :class:`RuleSet` is compiled once from the config and never changes; the engine swaps in a new one
when the user edits the rules, so a request in flight finishes on the set it started with.

Evaluation, per phase (``request`` before the upstream is asked, ``response`` after it answered):
rules run in order, skipping disabled ones and those of the other phase. The first matching
``block``, ``redirect`` or ``allow`` decides and stops (``allow`` means "stop evaluating, proceed
normally"). ``set_header``, ``remove_header``, ``delay`` and ``tag`` apply and evaluation goes on.

One rule and its validation: :mod:`.rule`; edits to the rule list: :mod:`.edits`; what rules would
do for a made-up request: :mod:`.dryrun`.
"""

from __future__ import annotations

import dataclasses
import html
import operator
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus

from workbench.config.model import RULE_PHASES, RuleConfig
from workbench.engine.observe.records import RequestRecord
from workbench.engine.rules.filters import Predicate, begin_evaluation, end_evaluation
from workbench.engine.rules.rule import FINAL_ACTIONS, Rule, RuleError, compile_rule

__all__ = ["NO_VERDICT", "RuleSet", "Verdict", "block_page"]


@dataclass(slots=True)
class Verdict:
    """What the rules decided for one phase of one request.

    The shared "nothing matched" verdict is returned for most requests; treat every verdict as
    read-only.
    """

    action: str | None
    """``block``, ``allow``, ``redirect``, or ``None`` to continue normally."""
    rule: Rule | None
    """The rule that decided (block/allow/redirect)."""
    status: int | None
    location: str | None
    set_headers: list[tuple[str, str]] = field(default_factory=list)
    """Headers to set (replacing any of the same name) on the request or the response."""
    remove_headers: list[str] = field(default_factory=list)
    delay: float = 0.0
    """Seconds to wait before going on."""
    tags: list[str] = field(default_factory=list)


NO_VERDICT = Verdict(None, None, None, None)
"""Returned when no rule matched: shared, so the common case allocates nothing."""


class _Step:
    """A rule prepared for the hot loop: everything the loop needs, precomputed."""

    __slots__ = ("rule", "action", "final", "position", "status", "location", "header", "value")

    def __init__(self, rule: Rule, position: int) -> None:
        cfg = rule.config
        self.rule = rule
        self.action = cfg.action
        self.final = cfg.action in FINAL_ACTIONS
        self.position = position
        """1-based position among the enabled rules of its phase (for "tested 3 of 12")."""
        self.status = cfg.status or (
            403 if cfg.action == "block" else 302 if cfg.action == "redirect" else None
        )
        self.location = cfg.location
        self.header = cfg.header or ""
        self.value: str | float = (cfg.delay or 0.0) if cfg.action == "delay" else (cfg.value or "")

    def note(self) -> str:
        """What a non-final rule did, for the trace."""
        name = self.rule.config.name
        if self.action == "set_header":
            return f"{name}: {self.header}: {self.value}"
        if self.action == "remove_header":
            return f"{name}: remove {self.header}"
        if self.action == "delay":
            return f"{name}: delay {_seconds(float(self.value))}"
        return f"{name}: tag {self.value}"


def _seconds(s: float) -> str:
    return f"{s * 1000:g}ms" if s < 1 else f"{s:g}s"


class _Phase:
    """The enabled rules of one phase, prepared for :meth:`RuleSet.evaluate`."""

    __slots__ = (
        "full",
        "rest",
        "domains",
        "methods",
        "memo",
        "count",
        "passed",
        "first_full",
        "first_rest",
    )

    def __init__(self, rules: list[Rule], phase: str = "request") -> None:
        steps = [(r.filter.predicate, _Step(r, i)) for i, r in enumerate(rules, 1)]
        self.full = tuple(steps)
        """Every enabled rule of the phase, in order."""
        self.count = len(steps)
        what = "rule" if self.count == 1 else "rules"
        if phase != "request":
            what = f"{phase} {what}"
        self.passed = ("rules", "pass", sys.intern(f"tested {self.count} {what}, none matched"))
        """The trace step of a request that matched none of them (one tuple, shared)."""
        # Rules whose whole filter is one ~d or one ~m (block lists are mostly that) go in a dict:
        # one lookup per request replaces testing each of them. Only when the lookup finds a
        # candidate does evaluation walk the full list, so order and hit counts stay exact.
        self.domains: frozenset[str] = frozenset(
            r.filter.key[1] for r in rules if r.filter.key and r.filter.key[0] == "d"
        )
        self.methods: frozenset[str] = frozenset(
            r.filter.key[1] for r in rules if r.filter.key and r.filter.key[0] == "m"
        )
        self.rest = (
            tuple(st for st in steps if st[1].rule.filter.key is None)
            if self.domains or self.methods
            else self.full
        )
        """The rules not covered by the dicts (``full`` itself when none are)."""
        # Two or more header filters share one joined header block per evaluation.
        self.memo = sum(r.filter.uses_headers for r in rules) > 1
        self.first_full = _remembered(_first_match(self.full), self.full)
        self.first_rest = (
            _remembered(_first_match(self.rest), self.rest)
            if self.rest is not self.full
            else self.first_full
        )

    def candidates(self, rec: RequestRecord) -> tuple[_Plan, Callable[[RequestRecord], int]]:
        """``rest`` and its matcher, or ``full`` when one of the indexed rules may match ``rec``."""
        full = (self.full, self.first_full)
        if self.rest is self.full:
            return full
        if rec.method in self.methods:
            return full
        domains = self.domains
        if domains:
            host = rec.host.lower()
            if host in domains:
                return full
            # "~d example.com" matches example.com and every name ending in ".example.com":
            # look up each suffix that starts after a dot.
            i = host.find(".")
            while i >= 0:
                if host[i + 1 :] in domains:
                    return full
                i = host.find(".", i + 1)
        return self.rest, self.first_rest


_Plan = tuple[tuple[Predicate, _Step], ...]


def _first_match(plan: _Plan) -> Callable[[RequestRecord], int]:
    """Generate one function testing every rule of ``plan`` in order: the first match's index.

    Pasting each filter's source into one function body means a request that matches nothing
    (most of them) costs one Python call for the whole rule set, not one or more per rule.
    """
    namespace: dict[str, object] = {}
    lines = ["def first(rec):"]
    for i, (_, step) in enumerate(plan):
        f = step.rule.filter
        namespace.update(f.namespace)
        lines.append(f"    if {f.source}:\n        return {i}")
    lines.append("    return -1")
    exec(compile("\n".join(lines), "<rules>", "exec"), namespace)
    return namespace["first"]  # type: ignore[return-value]


_PLAIN_FIELDS = frozenset(
    {
        "proxy", "method", "url", "host", "path", "client", "status", "content_type",
        "backend", "pool", "cache", "error", "marked",
    }
)  # fmt: skip
"""Record fields that hold one plain, hashable value (str, int, bool or None)."""

_REC_USE = re.compile(r"\brec\b(?:\.(\w+))?")
REMEMBER = 1024
"""Outcomes of the generated matcher remembered per phase (then forgotten all at once)."""
REMEMBER_URL = 1024
"""Requests with longer URLs are evaluated but not remembered (bounds the memory held)."""


def _plain_fields(plan: _Plan) -> tuple[str, ...] | None:
    """The record fields ``plan``'s filters read, when they read only plain fields directly.

    None when a filter hands the whole record to a helper (headers, trace, tags...), whose
    result cannot be tied to a few field values.
    """
    fields: set[str] = set()
    for _, step in plan:
        for m in _REC_USE.finditer(step.rule.filter.source):
            name = m.group(1)
            if name not in _PLAIN_FIELDS:
                return None
            fields.add(name)
    return tuple(sorted(fields))


def _remembered(
    first: Callable[[RequestRecord], int], plan: _Plan
) -> Callable[[RequestRecord], int]:
    """``first``, remembering its answer per value of the fields it reads (when it can).

    The filters are pure functions of those fields, so the answer for a request like one seen
    before is looked up instead of testing every rule again (the same few URLs make most of
    the traffic). Only the index of the first match is remembered: the rules that match are
    still tested and counted one by one. Bounded: at most :data:`REMEMBER` answers, for URLs
    up to :data:`REMEMBER_URL` characters.
    """
    fields = _plain_fields(plan)
    if fields is None:
        return first
    if not fields:
        return first  # nothing read (``True``, ``False``): as cheap as a lookup already
    key_of = operator.attrgetter(*fields)
    answers: dict[object, int] = {}

    def first_remembered(rec: RequestRecord) -> int:
        key = key_of(rec)
        i = answers.get(key)
        if i is None:
            i = first(rec)
            if len(rec.url) <= REMEMBER_URL and len(rec.path) <= REMEMBER_URL:
                if len(answers) >= REMEMBER:
                    answers.clear()
                answers[key] = i
        return i

    return first_remembered


class RuleSet:
    """An immutable, compiled, ordered list of rules; build with :meth:`compile`."""

    __slots__ = ("rules", "_phases", "phases")

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        """Every rule in order, including disabled ones (the UI lists them all)."""
        by_phase: dict[str, list[Rule]] = {p: [] for p in RULE_PHASES}
        for rule in rules:
            if rule.config.enabled:
                by_phase[rule.config.phase].append(rule)
        self._phases = {p: _Phase(v, p) for p, v in by_phase.items() if v}
        self.phases = frozenset(self._phases)
        """The phases with at least one enabled rule (``has_phase`` without the call)."""

    @classmethod
    def compile(cls, configs: Sequence[RuleConfig], previous: RuleSet | None = None) -> RuleSet:
        """Validate and compile ``configs``; raises :class:`RuleError` for the first bad rule.

        With ``previous``, a rule whose config is unchanged (ignoring ``enabled``: toggling a rule
        is not editing it) keeps its hit counter.
        """
        old = {r.config.name: r for r in previous.rules} if previous is not None else {}
        seen: set[str] = set()
        rules = []
        for index, cfg in enumerate(configs):
            if cfg.name in seen:
                raise RuleError(
                    index, "name", f"another rule is already named {cfg.name!r}", name=cfg.name
                )
            seen.add(cfg.name)
            prev = old.get(cfg.name)
            reuse = prev is not None and prev.config.when == cfg.when
            rule = compile_rule(cfg, index, filter=prev.filter if reuse else None)
            if prev is not None and dataclasses.replace(prev.config, enabled=cfg.enabled) == cfg:
                rule.hits = prev.hits
            rules.append(rule)
        return cls(tuple(rules))

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, name: str) -> Rule | None:
        """The rule called ``name``, if any."""
        for r in self.rules:
            if r.config.name == name:
                return r
        return None

    def has_phase(self, phase: str) -> bool:
        """Whether any enabled rule runs in ``phase`` (lets the engine skip the call entirely)."""
        return phase in self._phases

    def evaluate(self, phase: str, rec: RequestRecord) -> Verdict:
        """Run the enabled rules of ``phase`` against ``rec``; count hits and write the trace.

        Sets ``rec.rule`` to the deciding rule's name and adds tags to ``rec.tags``. With no
        enabled rules for the phase, returns :data:`NO_VERDICT` and leaves the trace alone.
        """
        ph = self._phases.get(phase)
        if ph is None:
            return NO_VERDICT
        if ph.rest is ph.full:  # nothing indexed: every rule is a candidate
            plan, first = ph.full, ph.first_full
        else:
            plan, first = ph.candidates(rec)
        if not ph.memo:
            i = first(rec)
        else:
            begin_evaluation(rec)
            try:
                i = first(rec)
            finally:
                end_evaluation()
        if i < 0:
            rec.trace.append(ph.passed)  # ("rules", "pass", "tested N rules, none matched")
            return NO_VERDICT
        if not ph.memo:
            return self._evaluate(plan, i, ph.count, rec)
        begin_evaluation(rec)
        try:
            return self._evaluate(plan, i, ph.count, rec)
        finally:
            end_evaluation()

    @staticmethod
    def _evaluate(plan: _Plan, start: int, count: int, rec: RequestRecord) -> Verdict:
        """Apply the rules of ``plan`` from ``start`` (the first match) on."""
        verdict: Verdict | None = None
        applied: list[_Step] | None = None
        decided: _Step | None = None
        for predicate, step in plan[start:]:
            if not predicate(rec):
                continue
            step.rule.hits += 1
            if verdict is None:
                verdict = Verdict(None, None, None, None)
            if step.final:
                decided = step
                verdict.action = step.action
                verdict.rule = step.rule
                verdict.status = step.status
                verdict.location = step.location
                break
            if applied is None:
                applied = []
            applied.append(step)
            action = step.action
            if action == "set_header":
                verdict.set_headers.append((step.header, step.value))  # type: ignore[arg-type]
            elif action == "remove_header":
                verdict.remove_headers.append(step.header)
            elif action == "delay":
                verdict.delay += step.value  # type: ignore[operator]
            else:
                verdict.tags.append(step.value)  # type: ignore[arg-type]
        assert verdict is not None, "the generated matcher and the predicates disagree"
        if applied is not None:
            kinds = {s.action for s in applied}
            rec.step(
                "rules",
                kinds.pop() if len(kinds) == 1 else "apply",
                "; ".join(s.note() for s in applied),
            )
            if verdict.tags:
                tags = rec.tags
                if tags is None:
                    tags = rec.tags = []
                for t in verdict.tags:
                    if t not in tags:
                        tags.append(t)
        if decided is not None:
            cfg = decided.rule.config
            rec.rule = cfg.name
            rec.step(
                "rules",
                decided.action,
                f"rule {cfg.name} matched ({cfg.when}); tested {decided.position} of {count}",
            )
        return verdict


# -- teaching pages and the "test" key ----------------------------------------------------------
def block_page(rule_name: str, status: int, rec: RequestRecord) -> bytes:
    """A small HTML page telling the user which rule blocked the request, and why it exists."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    name = html.escape(rule_name)
    target = html.escape(f"{rec.method} {rec.url}")
    via = "forward" if rec.proxy == "forward" else "reverse"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{status} {reason} - blocked by a rule</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:3em auto;line-height:1.4}}
code{{background:#eee;padding:0 .2em}}</style></head>
<body>
<h1>{status} {reason}</h1>
<p>The request <code>{target}</code> was stopped by the rule <strong>{name}</strong>.</p>
<p>This answer comes from the Proxy Workbench {via} proxy, not from the site: the request never
left the proxy. A rule with the <code>block</code> action matched it, so the proxy replied on the
server's behalf.</p>
<p>In the workbench's Rules view you can see the rule's filter and hit count, switch it off, or
test which rules a URL would trigger.</p>
</body></html>
"""
    return page.encode("utf-8")
