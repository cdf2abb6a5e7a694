"""Load and validate a workbench YAML file into the frozen model of :mod:`workbench.config.model`.

The loader composes YAML to *nodes* (not Python objects) so every value keeps the line and column
it came from, then walks the node tree against a small schema. It never stops at the first mistake:
every problem is collected, each with ``FILE:LINE:COL``, a dotted key path and a message, and all
of them are raised together in one :class:`ConfigError`.

The parts: :mod:`.nodes` (the node walker and its problems), :mod:`.convert` (one converter per
kind of value), :mod:`.schema` (each section's converter and cross-field checks).

The live rule editor (admin API and UI) goes through :func:`parse_rule`, which turns its plain dict
into nodes and runs the very same converters, so both speak one grammar with one set of messages.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml.representer import SafeRepresenter

from workbench.config.convert import parse_address
from workbench.config.model import Config, RuleConfig
from workbench.config.nodes import BAD, Checker, ConfigError, Problem
from workbench.config.schema import CONFIG, RULE

__all__ = [
    "ConfigError",
    "Problem",
    "check_files",
    "load_config",
    "load_config_text",
    "parse_address",
    "parse_rule",
]


def _syntax_problem(filename: str, exc: yaml.YAMLError) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem and exc.context_mark is not None:
            message += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        if mark is not None:
            return Problem(filename, mark.line + 1, mark.column + 1, "", f"invalid YAML: {message}")
        return Problem(filename, 0, 0, "", f"invalid YAML: {message}")
    return Problem(filename, 0, 0, "", f"invalid YAML: {exc}")


def load_config_text(text: str, filename: str = "<string>") -> Config:
    """Parse and validate config text; raises ConfigError listing every problem.

    ``filename`` is used in problem messages and becomes ``Config.source`` unless it is a
    placeholder in angle brackets.
    """
    source = None if filename.startswith("<") else filename
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(filename, exc)]) from None
    if root is None or Checker.is_null(root):
        return Config(source=source)
    chk = Checker(filename)
    chk.check_tags(root)
    cfg = CONFIG(chk, root, "", source=source)
    if chk.problems:
        # Cross-checks run after their section, so restore reading order for the user.
        raise ConfigError(sorted(chk.problems, key=lambda p: (p.line, p.col)))
    assert cfg is not BAD  # every BAD comes with a reported problem
    return cfg


def load_config(path: str | Path) -> Config:
    """Read, parse and validate a config file; raises ConfigError listing every problem."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            [Problem(name, 0, 0, "", f"cannot read file: {exc.strerror or exc}")]
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [Problem(name, 0, 0, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
        ) from None
    return load_config_text(text, name)


def parse_rule(data: dict[str, Any], path: str = "rules[0]") -> RuleConfig:
    """A RuleConfig from a plain dict (a live edit), checked exactly like a rule in a config file.

    Raises ConfigError whose problems use the file name ``<live>`` and no position. Uniqueness of
    the name among existing rules is the caller's business.
    """
    chk = Checker("<live>")
    try:
        node = SafeRepresenter().represent_data(data)
    except yaml.YAMLError as exc:
        raise ConfigError([Problem("<live>", 0, 0, path, f"not plain data: {exc}")]) from None
    rule = RULE(chk, node, path)
    if chk.problems:
        raise ConfigError(chk.problems)
    assert rule is not BAD
    return rule


def check_files(
    paths: list[str],
    also: Callable[[str, Config], tuple[bool, list[str]]] | None = None,
) -> tuple[int, list[str]]:
    """Validate each file for ``workbench check``: (0, ["FILE: ok", …]) or (2, problem lines).

    A file that starts nothing fails; one that runs but makes requests fail passes with
    ``FILE: warning: …`` lines (see :mod:`workbench.config.lint`). ``also(path, config)``
    checks what lies outside the file (the interception CA): ``(ok, lines)``.
    """
    from workbench.config.lint import nothing_to_run, warnings

    if not paths:
        return 2, ["no config files given"]
    failed = False
    lines: list[str] = []
    for p in paths:
        try:
            cfg = load_config(p)
        except ConfigError as exc:
            failed = True
            lines.extend(str(problem) for problem in exc.problems)
            continue
        empty = nothing_to_run(cfg)
        if empty:
            failed = True
            lines.append(f"{p}: {empty}")
            continue
        found = warnings(cfg)
        lines.extend(f"{p}: warning: {w}" for w in found)
        if also is not None:
            ok, more = also(p, cfg)
            lines.extend(more)
            if not ok:
                failed = True
                continue
        lines.append(
            f"{p}: ok"
            + (f" ({len(found)} warnings)" if len(found) > 1 else " (1 warning)" if found else "")
        )
    return (2 if failed else 0), lines
