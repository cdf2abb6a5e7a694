"""The one mutation API of the engine, used by the UI, the admin HTTP API and tests.

Every method validates fully first, then applies in one step, and returns a :class:`Result`
instead of raising: on error nothing changed and ``error`` names the field. In-flight requests
keep the balancer or rule set they started with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.config.model import ALGORITHMS

if TYPE_CHECKING:
    from workbench.engine.balancing.pools import Backend, Pool
    from workbench.engine.engine import Engine


@dataclass(slots=True, frozen=True)
class Result:
    """Outcome of a control call."""

    ok: bool
    error: str | None = None
    field: str | None = None
    """Dotted name of the offending field, when the input was at fault."""
    value: Any = None

    def __bool__(self) -> bool:
        return self.ok


def _fail(message: str, field: str | None = None, *, status: int = 400) -> Result:
    return Result(False, message, field, status)


def fields_error(body: Any, editable: Sequence[str], required: Sequence[str] = ()) -> Result | None:
    """Why ``body`` is not a JSON object of some ``editable`` fields (and every ``required``).

    The messages list the fields, so a client that sent ``{}``, a list or a typo learns what it
    may send. None when the shape is right (each field's value is the caller's to check).
    """
    names = ", ".join(editable)
    if not isinstance(body, dict):
        return _fail(f"body: expected a JSON object with {names}", "body")
    unknown = sorted(k for k in body if k not in editable)
    if unknown:
        return _fail(f"{unknown[0]}: unknown field (editable: {names})", unknown[0])
    if not body:
        return _fail(f"body: no field given (editable: {names})", "body")
    missing = [k for k in required if k not in body]
    if missing:
        return _fail(f"{missing[0]}: required (fields: {names})", missing[0])
    return None


_RULE_FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "when": (str,),
    "action": (str,),
    "phase": (str,),
    "enabled": (bool,),
    "status": (int,),
    "location": (str,),
    "header": (str,),
    "value": (str,),
    "delay": (int, float, str),
}
"""JSON types a live rule edit may use per field (None clears an optional field)."""
RULE_FIELDS = tuple(_RULE_FIELDS)
"""The fields of a rule, in the order messages list them."""
_RULE_REQUIRED = ("name", "when", "action")


def _rule_types(data: dict[str, Any]) -> Result | None:
    """A type error in a rule given as JSON, before the config checker sees it.

    The config grammar reads YAML scalars leniently (``when: 404`` is the text "404"); an API
    client sending a number or a list where text belongs made a mistake worth naming.
    """
    for key, value in data.items():
        kinds = _RULE_FIELDS.get(key)
        if kinds is None:
            continue  # unknown keys: the config checker names them with a hint
        if value is None:
            if key in _RULE_REQUIRED:
                return _fail(f"{key}: required, got null", key)
            continue
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            want = " or ".join(
                {"str": "a string", "bool": "true or false", "int": "an integer"}.get(
                    k.__name__, "a number"
                )
                for k in kinds
            )
            return _fail(f"{key}: expected {want}, got {type(value).__name__}", key)
    return None


class Control:
    """Live edits of a running engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- lookups ----------------------------------------------------------------------------
    def _pool(self, pool: str) -> Pool | Result:
        p = self.engine.pools.get(pool)
        if p is None:
            known = ", ".join(sorted(self.engine.pools)) or "none"
            return _fail(f"no pool named {pool!r} (pools: {known})", "pool", status=404)
        return p

    def _backend(self, pool: str, backend: str) -> tuple[Pool, Backend] | Result:
        p = self._pool(pool)
        if isinstance(p, Result):
            return p
        b = p.backends.get(backend)
        if b is None:
            known = ", ".join(p.backends) or "none"
            return _fail(
                f"pool {pool!r} has no backend named {backend!r} (backends: {known})",
                "backend",
                status=404,
            )
        return p, b

    def _edit(self, who: str, message: str) -> None:
        self.engine.events.add("edit", message, who)

    # -- pools and backends -----------------------------------------------------------------
    def set_weight(self, pool: str, backend: str, weight: Any, who: str = "user") -> Result:
        """Set a backend's weight (an integer ≥ 0; 0 takes it out of rotation)."""
        found = self._backend(pool, backend)
        if isinstance(found, Result):
            return found
        if isinstance(weight, bool) or not isinstance(weight, int):
            return _fail(f"weight: expected an integer ≥ 0, got {weight!r}", "weight")
        if weight < 0 or weight > 1000:
            return _fail(f"weight: expected an integer from 0 to 1000, got {weight}", "weight")
        p, b = found
        old = b.weight
        b.weight = weight
        p.refresh(who=who)
        self._edit(who, f"{pool}/{backend}: weight {old} → {weight}")
        return Result(True, value=weight)

    def set_algorithm(self, pool: str, algorithm: Any, who: str = "user") -> Result:
        p = self._pool(pool)
        if isinstance(p, Result):
            return p
        if algorithm not in ALGORITHMS:
            return _fail(
                f"algorithm: expected one of {', '.join(ALGORITHMS)}, got {algorithm!r}",
                "algorithm",
            )
        old = p.algorithm
        p.set_algorithm(algorithm)
        self._edit(who, f"{pool}: algorithm {old} → {algorithm}")
        return Result(True, value=algorithm)

    def set_enabled(self, pool: str, backend: str, enabled: Any, who: str = "user") -> Result:
        found = self._backend(pool, backend)
        if isinstance(found, Result):
            return found
        if not isinstance(enabled, bool):
            return _fail(f"enabled: expected true or false, got {enabled!r}", "enabled")
        p, b = found
        b.enabled = enabled
        p.refresh("enabled by user" if enabled else "disabled by user", who=who)
        return Result(True, value=enabled)

    def set_draining(self, pool: str, backend: str, drain: Any, who: str = "user") -> Result:
        """Draining: finishes in-flight requests, takes no new ones."""
        found = self._backend(pool, backend)
        if isinstance(found, Result):
            return found
        if not isinstance(drain, bool):
            return _fail(f"drain: expected true or false, got {drain!r}", "drain")
        p, b = found
        b.draining = drain
        p.refresh("drain requested" if drain else "drain cancelled", who=who)
        return Result(True, value=drain)

    def patch_backend(self, pool: str, backend: str, body: Any, who: str = "api") -> Result:
        """Apply ``{"weight": N, "enabled": bool, "drain": bool}`` all-or-nothing."""
        bad = fields_error(body, ("weight", "enabled", "drain"))
        if bad is not None:
            return bad
        found = self._backend(pool, backend)
        if isinstance(found, Result):
            return found
        # Validate every field before changing anything.
        if "weight" in body:
            w = body["weight"]
            if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 1000:
                return _fail(f"weight: expected an integer from 0 to 1000, got {w!r}", "weight")
        for key in ("enabled", "drain"):
            if key in body and not isinstance(body[key], bool):
                return _fail(f"{key}: expected true or false, got {body[key]!r}", key)
        # Everything is valid: apply it all, then one refresh (one new balancer).
        p, b = found
        changes = []
        if "weight" in body:
            changes.append(f"weight {b.weight} → {body['weight']}")
            b.weight = body["weight"]
        if "enabled" in body:
            b.enabled = body["enabled"]
            changes.append("enabled" if b.enabled else "disabled")
        if "drain" in body:
            b.draining = body["drain"]
            changes.append("drain requested" if b.draining else "drain cancelled")
        p.refresh(", ".join(changes) + f" by {who}", who=who)
        self._edit(who, f"{pool}/{backend}: " + ", ".join(changes))
        return Result(True, value=b.to_dict())

    # -- rules ------------------------------------------------------------------------------
    def _swap_rules(self, configs: list, message: str, who: str) -> Result:
        from workbench.engine.rules.rule import RuleError
        from workbench.engine.rules.ruleset import RuleSet

        try:
            new = RuleSet.compile(configs, previous=self.engine.ruleset)
        except RuleError as exc:
            return _fail(str(exc), getattr(exc, "field", None))
        self.engine.ruleset = new
        self.engine.rule_configs = list(configs)
        self._edit(who, message)
        return Result(True)

    def _rule_op(self, op: str, *args: Any, done: str, who: str = "user") -> Result:
        """Apply ``edits.<op>(*args)``; the change log says ``rules: <done>``."""
        from workbench.config.load import ConfigError
        from workbench.engine.rules import edits
        from workbench.engine.rules.rule import RuleError

        try:
            configs = getattr(edits, op)(self.engine.rule_configs, *args)
        except (RuleError, ConfigError, ValueError) as exc:
            return _fail(str(exc), getattr(exc, "field", None))
        return self._swap_rules(configs, f"rules: {done}", who)

    def _rule_config(self, data: Any, index: int = 0):
        from workbench.config.load import ConfigError, parse_rule
        from workbench.config.model import RuleConfig

        if isinstance(data, RuleConfig):
            return data
        if not isinstance(data, dict):
            return _fail("expected a JSON object describing a rule", "body")
        bad = _rule_types(data)
        if bad is not None:
            return bad
        try:
            return parse_rule(data, f"rules[{index}]")
        except ConfigError as exc:
            first = exc.problems[0] if exc.problems else None
            field = first.path.split(".", 1)[-1] if first else None
            msg = "; ".join(f"{p.path}: {p.message}" for p in exc.problems) or str(exc)
            return _fail(msg, field)

    def add_rule(self, data: Any, index: int | None = None, who: str = "user") -> Result:
        cfg = self._rule_config(data, len(self.engine.rule_configs))
        if isinstance(cfg, Result):
            return cfg
        from workbench.engine.rules.edits import add_rule
        from workbench.engine.rules.rule import RuleError

        try:
            configs = add_rule(self.engine.rule_configs, cfg, index)
        except (RuleError, ValueError) as exc:
            return _fail(str(exc), getattr(exc, "field", "name"))
        res = self._swap_rules(configs, f"rules: added {cfg.name!r}", who)
        return Result(True, value=cfg.name) if res.ok else res

    def update_rule(self, name: str, data: Any, who: str = "user") -> Result:
        """Replace a rule; ``data`` may be partial (merged over the current rule)."""
        current = next((r for r in self.engine.rule_configs if r.name == name), None)
        if current is None:
            return _fail(f"no rule named {name!r}", "name", status=404)
        if isinstance(data, dict):
            from dataclasses import asdict

            merged = {k: v for k, v in asdict(current).items() if v is not None}
            merged.update(data)
            if "delay" in merged and isinstance(merged["delay"], float):
                merged["delay"] = f"{merged['delay']}s"
            data = merged
        cfg = self._rule_config(data)
        if isinstance(cfg, Result):
            return cfg
        from workbench.engine.rules.edits import replace_rule
        from workbench.engine.rules.rule import RuleError

        try:
            configs = replace_rule(self.engine.rule_configs, name, cfg)
        except (RuleError, ValueError) as exc:
            return _fail(str(exc), getattr(exc, "field", None))
        return self._swap_rules(configs, f"rules: edited {name!r}", who)

    def set_rule_enabled(self, name: str, enabled: bool, who: str = "user") -> Result:
        if not isinstance(enabled, bool):
            return _fail(f"enabled: expected true or false, got {enabled!r}", "enabled")
        done = f"{'enabled' if enabled else 'disabled'} {name!r}"
        return self._rule_op("set_enabled", name, enabled, done=done, who=who)

    def move_rule(self, name: str, delta: int, who: str = "user") -> Result:
        where = ""
        if isinstance(delta, int) and not isinstance(delta, bool):  # edits checks the rest
            where = ("up" if delta < 0 else "down") + (
                f" {abs(delta)} places" if abs(delta) > 1 else ""
            )
        return self._rule_op(
            "move_rule", name, delta, done=f"moved {name!r} {where}".rstrip(), who=who
        )

    def delete_rule(self, name: str, who: str = "user") -> Result:
        return self._rule_op("delete_rule", name, done=f"deleted {name!r}", who=who)

    # -- cache ------------------------------------------------------------------------------
    def purge_cache(self, prefix: str | None = None, who: str = "user") -> Result:
        cache = self.engine.cache
        if cache is None:
            return _fail("the cache is not configured", "cache")
        if prefix is not None and not isinstance(prefix, str):
            return _fail(f"prefix: expected a string, got {prefix!r}", "prefix")
        n = cache.purge(prefix or None)
        self._edit(
            who,
            f"cache: purged {n} entr{'y' if n == 1 else 'ies'}"
            + (f" under {prefix}" if prefix else ""),
        )
        return Result(True, value=n)

    def set_privacy(self, mode: Any, who: str = "user") -> Result:
        """Switch the forward proxy's privacy mode (transparent, anonymous, elite) live."""
        from workbench.config.model import PRIVACY_MODES

        forward = self.engine.forward
        if forward is None:
            return _fail("no forward proxy is running", "forward")
        if mode not in PRIVACY_MODES:
            return _fail(
                f"privacy: expected one of {', '.join(PRIVACY_MODES)}, got {mode!r}", "privacy"
            )
        old = forward.privacy
        forward.privacy = mode
        self._edit(who, f"forward privacy {old} → {mode}")
        return Result(True, value=mode)

    def set_cache_enabled(self, proxy: str, enabled: bool, who: str = "user") -> Result:
        target = {"reverse": self.engine.reverse, "forward": self.engine.forward}.get(proxy)
        if target is None:
            return _fail(f"no {proxy!r} proxy is running", "proxy")
        if not isinstance(enabled, bool):
            return _fail(f"enabled: expected true or false, got {enabled!r}", "enabled")
        target.cache_enabled = enabled
        self._edit(who, f"cache {'on' if enabled else 'off'} for the {proxy} proxy")
        return Result(True, value=enabled)

    # -- demo world (classroom): traffic and fault injection --------------------------------
    def _demo(self):
        demo = getattr(self.engine, "demo", None)
        if demo is None:
            return _fail("no demo world is running (start workbench without a config)", "demo")
        return demo

    def set_traffic(self, running: Any, who: str = "user") -> Result:
        """Start or stop the built-in traffic generator."""
        demo = self._demo()
        if isinstance(demo, Result):
            return demo
        if not isinstance(running, bool):
            return _fail(f"running: expected true or false, got {running!r}", "running")
        gen = demo.traffic
        if gen is None:
            return _fail("the demo has no traffic generator", "traffic")
        if running and not gen.running:
            gen.start()
        elif not running and gen.running:
            self.engine.spawn(gen.stop())
        self._edit(who, f"demo traffic {'on' if running else 'off'}")
        return Result(True, value=running)

    def set_traffic_rate(self, rate: Any, who: str = "user") -> Result:
        demo = self._demo()
        if isinstance(demo, Result):
            return demo
        if demo.traffic is None:
            return _fail("the demo has no traffic generator", "traffic")
        ok, message = demo.traffic.set_rate(rate)
        if not ok:
            return _fail(message, "rate")
        self._edit(who, f"demo traffic rate {demo.traffic.rate:g} req/s")
        return Result(True, value=demo.traffic.rate)

    def burst(self, n: Any = 50, path: str = "/api/items", who: str = "user") -> Result:
        """Send ``n`` concurrent requests for one URL (collapsing / least-connections demo)."""
        demo = self._demo()
        if isinstance(demo, Result):
            return demo
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 500:
            return _fail(f"n: expected an integer from 1 to 500, got {n!r}", "n")
        if demo.traffic is None:
            return _fail("the demo has no traffic generator", "traffic")
        self.engine.spawn(demo.traffic.burst(n, path))
        self._edit(who, f"demo burst of {n} requests to {path}")
        return Result(True, value=n)

    def fault(self, backend: Any, kind: str, value: Any = True, who: str = "user") -> Result:
        """Inject a fault into a demo backend.

        ``kind``: ``kill`` / ``revive`` (value ignored), ``latency`` (seconds), ``error_rate``
        (0..1), ``health_fail`` (bool), ``flap`` (bool).
        """
        demo = self._demo()
        if isinstance(demo, Result):
            return demo
        if not isinstance(backend, str):
            return _fail(f"backend: expected a demo backend name, got {backend!r}", "backend")
        if not isinstance(kind, str):
            return _fail(f"kind: expected a string, got {kind!r}", "kind")
        faults = demo.faults
        sync = {
            "latency": faults.set_latency,
            "error_rate": faults.set_error_rate,
            "health_fail": faults.set_health_fail,
            "flap": faults.set_flap,
        }
        if kind in ("kill", "revive"):
            if backend not in demo.backends:
                return _fail(f"no demo backend named {backend!r}", "backend", status=404)
            coro = faults.kill(backend) if kind == "kill" else faults.revive(backend)
            self.engine.spawn(coro)
            self._edit(who, f"fault: {kind} {backend}")
            return Result(True, value=kind)
        if kind not in sync:
            return _fail(
                "kind: expected kill, revive, latency, error_rate, health_fail or flap; "
                f"got {kind!r}",
                "kind",
            )
        ok, message = sync[kind](backend, value)
        if not ok:
            return _fail(message, kind)
        self._edit(who, f"fault: {message}")
        return Result(True, value=value)

    # -- reading without changing anything ----------------------------------------------------
    def dry_run(
        self,
        method: str,
        url: str,
        headers: Any = None,
        status: int | None = None,
        content_type: str | None = None,
    ) -> Result:
        """What each rule would do for a made-up request (and response); changes nothing.

        ``value`` is a tuple of :class:`~workbench.engine.snapshot.DryRunLine` in evaluation
        order. Disabled rules say whether they *would* match; ``status`` and ``content_type``
        describe the response that response-phase rules see.
        """
        from workbench.engine.rules.dryrun import explain

        if not isinstance(method, str) or not method.strip():
            return _fail("method: expected an HTTP method such as GET", "method")
        if not isinstance(url, str) or not url.strip():
            return _fail("url: expected a URL such as http://example.test/", "url")
        if status is not None and (
            isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599
        ):
            return _fail(
                f"status: expected a status code from 100 to 599, got {status!r}", "status"
            )
        return Result(
            True, value=explain(self.engine.ruleset, method, url, headers, status, content_type)
        )

    # -- marks --------------------------------------------------------------------------------
    def mark(self, record_id: int, marked: bool = True) -> Result:
        """Mark (or unmark) a record: kept with its details past the ring's eviction."""
        return mark_record(self.engine.records, record_id, marked)

    # -- replay -----------------------------------------------------------------------------
    def replay(self, record_id: Any, overrides: Any = None, who: str = "user") -> Result:
        """Send a recorded request again through the proxy that handled it; value: the new id.

        ``overrides`` may set ``method``, ``url``, ``headers`` (``[[name, value], …]``, replacing
        all) and ``body`` (text) or ``body_base64``. The new record arrives when the proxy has
        handled the replay; it carries ``replay_of`` and a "replay of #N" trace step.
        """
        from workbench.engine.replay import Replayer, ReplayError

        if isinstance(record_id, bool) or not isinstance(record_id, int):
            return _fail(f"id: expected a record id, got {record_id!r}", "id")
        rec = self.engine.records.find(record_id)
        if rec is None:
            return _fail(f"request {record_id} is not in the record buffer", "id", status=404)
        try:
            new_id = Replayer(self.engine).start(rec, overrides)
        except ReplayError as exc:
            return _fail(str(exc), exc.field, status=exc.status)
        self._edit(who, f"replay of #{record_id} → #{new_id}")
        return Result(True, value=new_id)

    # -- intercept (hold) -------------------------------------------------------------------
    def _hold_call(self, fn, *args: Any) -> Result:
        from workbench.engine.hold import HoldError

        try:
            return Result(True, value=fn(*args))
        except HoldError as exc:
            return _fail(str(exc), exc.field, status=exc.status)

    def set_hold(
        self,
        expression: Any,
        phase: Any = None,
        timeout: Any = None,
        on_timeout: Any = None,
        who: str = "user",
    ) -> Result:
        """Hold exchanges matching ``expression`` (None/"" stops) in ``phase`` (request|response).

        Everything is validated before anything changes; value: the hold summary.
        """
        from workbench.engine.hold import HoldError, HoldPoint

        hold = self.engine.hold
        try:
            probe = HoldPoint(hold.config)  # validate on a scratch copy: all or nothing
            probe.set_filter(expression, phase)
            if timeout is not None or on_timeout is not None:
                probe.set_timeout(hold.timeout if timeout is None else timeout, on_timeout)
        except HoldError as exc:
            return _fail(str(exc), exc.field)
        hold.set_filter(expression, phase)
        if timeout is not None or on_timeout is not None:
            hold.set_timeout(hold.timeout if timeout is None else timeout, on_timeout)
        what = f"{hold.phase}s matching {hold.expression!r}" if hold.expression else "nothing"
        self._edit(who, f"intercept: holding {what}")
        return Result(True, value=hold.summary())

    def held(self) -> list[dict[str, Any]]:
        """The exchanges held now (headers, body when editable, phase, deadline)."""
        return self.engine.hold.list()

    def edit_held(self, held_id: Any, patch: Any, who: str = "user") -> Result:
        """Edit a held exchange: ``{"headers": [[n, v], …], "body": TEXT, "status": N,
        "method": M, "url": URL}`` (see :meth:`HoldPoint.edit`)."""
        res = self._hold_call(self.engine.hold.edit, held_id, patch)
        return Result(True, value=res.value.to_dict()) if res.ok else res

    def resume_held(self, held_id: Any, who: str = "user") -> Result:
        """Let a held exchange go on (with its edits)."""
        res = self._hold_call(self.engine.hold.resume, held_id)
        return Result(True, value=held_id) if res.ok else res

    def resume_all_held(self, who: str = "user") -> Result:
        """Let every held exchange go on (with its edits); value: the ids resumed."""
        ids = self.engine.hold.resume_all()
        if ids:
            self._edit(who, f"intercept: resumed all ({len(ids)})")
        return Result(True, value=ids)

    def kill_held(self, held_id: Any, who: str = "user") -> Result:
        """Drop a held exchange: its client connection is closed without an answer."""
        res = self._hold_call(self.engine.hold.kill, held_id)
        if res.ok:
            self._edit(who, f"intercept: killed #{held_id}")
        return Result(True, value=held_id) if res.ok else res


def mark_record(records: Any, record_id: int, marked: bool) -> Result:
    """:meth:`Control.mark` on a record log (shared with the read-only capture viewer)."""
    rec = records.find(record_id)
    if rec is None:
        return _fail(f"request {record_id} is no longer kept", "id", status=404)
    error = records.set_marked(rec, marked)
    if error:
        return _fail(error, "marked", status=409)
    return Result(True, value=marked)
