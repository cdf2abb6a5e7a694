"""What the rules would do for a made-up request: the Rules view's tester (``t``) and the API's.

Nothing here touches hit counters or traces; the live rule set is only read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from workbench.config.model import RULE_PHASES
from workbench.engine.observe.records import RequestRecord
from workbench.engine.rules.rule import FINAL_ACTIONS
from workbench.engine.rules.ruleset import RuleSet
from workbench.engine.snapshot import DryRunLine

__all__ = ["dry_run", "explain", "host_and_path", "made_up_request"]


def host_and_path(url: str) -> tuple[str, str]:
    """(lower-case host, path with query) of a URL typed by hand, however incomplete.

    The rule tester runs on every keystroke, so ``http://[::1`` (half an IPv6 literal) must give
    an answer, not an exception.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        rest = url.split("://", 1)[-1]
        authority, slash, tail = rest.partition("/")
        authority = authority.rpartition("@")[2]
        if authority.startswith("["):
            host = authority[1:].partition("]")[0]
        else:
            host = authority.partition(":")[0]
        return host.lower(), slash + tail if slash else "/"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return host, path


def made_up_request(
    method: str, url: str, headers: Iterable[tuple[str, str]] | Mapping[str, str] | None
) -> RequestRecord:
    """A record for a request typed by hand (no scheme means http://; any half-typed URL)."""
    if "://" not in url:
        url = "http://" + url
    host, path = host_and_path(url)  # the tester runs per keystroke: never raises
    header_list = list(headers.items()) if isinstance(headers, Mapping) else list(headers or ())
    return RequestRecord(
        id=0,
        start=0.0,
        client="127.0.0.1",
        proxy="reverse",
        method=method.strip().upper(),
        url=url,
        host=host,
        path=path,
        request_headers=header_list,
    )


def dry_run(
    ruleset: RuleSet,
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]] | Mapping[str, str] | None = None,
) -> list[tuple[str, bool]]:
    """Which rules would fire for a synthetic request: ``[(rule name, fires), …]`` in order.

    Follows the real semantics (disabled rules never fire; the first final rule of a phase stops
    the rest of it; a blocked or redirected request never reaches the response phase) without
    touching hit counters or any trace. Response-phase rules see a request with no response yet.
    """
    rec = made_up_request(method, url, headers)
    fires: dict[int, bool] = {}
    stopped = False
    for phase in RULE_PHASES:
        if stopped:
            break
        for rule in ruleset.rules:
            cfg = rule.config
            if cfg.enabled and cfg.phase == phase and rule.filter.predicate(rec):
                fires[id(rule)] = True
                if cfg.action in FINAL_ACTIONS:
                    stopped = cfg.action != "allow"
                    break
    return [(r.config.name, fires.get(id(r), False)) for r in ruleset.rules]


def explain(
    ruleset: RuleSet,
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]] | Mapping[str, str] | None = None,
    status: int | None = None,
    content_type: str | None = None,
) -> tuple[DryRunLine, ...]:
    """What each rule would do for a made-up request (and response), in evaluation order.

    Disabled rules say whether they *would* match; ``status`` (default 200) and ``content_type``
    describe the response that response-phase rules see. The caller has checked the method and
    URL (``engine.control.dry_run``).
    """
    rec = made_up_request(method, url, headers)
    rules = list(ruleset.rules)
    lines: list[DryRunLine] = []
    answered_by: str | None = None
    for phase in RULE_PHASES:
        if phase == "response":
            rec.status = status if status is not None else 200
            rec.content_type = content_type or None
            if content_type:
                rec.response_headers = [("Content-Type", content_type)]
        stopped_by: str | None = answered_by
        for rule in (r for r in rules if r.config.phase == phase):
            cfg = rule.config
            if stopped_by is not None:
                lines.append(DryRunLine(cfg.name, phase, "not reached", stopped_by))
                continue
            try:
                matches = bool(rule.filter(rec))
            except Exception:  # a filter that cannot judge a made-up request
                matches = False
            if not cfg.enabled:
                verdict = "disabled, would match" if matches else "disabled"
                lines.append(DryRunLine(cfg.name, phase, verdict))
                continue
            if not matches:
                lines.append(DryRunLine(cfg.name, phase, "no match"))
                continue
            lines.append(DryRunLine(cfg.name, phase, "fires"))
            if cfg.action in FINAL_ACTIONS:
                stopped_by = cfg.name
                if cfg.action != "allow" and phase == "request":
                    answered_by = cfg.name
    return tuple(lines)
