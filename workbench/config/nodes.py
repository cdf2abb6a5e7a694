"""Validation over YAML nodes: every problem with FILE:LINE:COL and a dotted key path.

The loader composes YAML to *nodes* (not Python objects) so every value keeps the line and column
it came from. A :class:`Checker` walks them, collecting every :class:`Problem` instead of stopping
at the first; :class:`ConfigError` carries them all.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


@dataclass(frozen=True)
class Problem:
    """One mistake in a config: where it is (1-based line and column; 0 when unknown) and what."""

    file: str
    line: int
    col: int
    path: str
    """Dotted key path such as ``reverse.pools.web.backends[1].weight`` ("" for the whole file)."""
    message: str

    def __str__(self) -> str:
        # Editors jump to FILE:LINE:COL; a 0 position (live edits, unreadable file) would mislead.
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """A config was rejected; ``problems`` lists every mistake found, in document order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


# --------------------------------------------------------------------------------------------
# The node walker

BAD: Any = object()
"""Returned by a converter after it reported a problem; the caller drops the value."""

NULL_TAG = "tag:yaml.org,2002:null"
# Tags SafeLoader builds itself; anything else (``!!python/object``, ``!custom``) is refused.
SAFE_TAGS = frozenset(
    "tag:yaml.org,2002:" + t
    for t in ("null", "bool", "int", "float", "str", "binary", "timestamp", "seq", "map", "merge")
    + ("omap", "pairs", "set")
)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NAME_RULE = "names start with a letter or digit and use only letters, digits, '-', '_' and '.'"
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

Conv = Callable[["Checker", Node, str], Any]


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass
class Checker:
    """State of one validation run: the problems found and the facts cross-checks need."""

    file: str
    problems: list[Problem] = field(default_factory=list)
    nodes: dict[str, Node] = field(default_factory=dict)
    """Dotted path → value node, for problems found after a value was converted."""
    names: dict[str, dict[str, str]] = field(default_factory=dict)
    """Kind ("backend", "route", "rule") → name → path of its first use."""
    pool_names: set[str] = field(default_factory=set)
    route_pools: list[tuple[str, Node, str]] = field(default_factory=list)
    reported: set[str] = field(default_factory=set)
    """Paths that already have a problem, so follow-up checks do not pile on."""
    constructor: SafeConstructor = field(default_factory=SafeConstructor)

    def report(self, node: Node | None, path: str, message: str) -> Any:
        mark = node.start_mark if node is not None else None
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        self.problems.append(Problem(self.file, line, col, path, message))
        self.reported.add(path)
        return BAD

    def had_problem(self, path: str) -> bool:
        """Whether a problem was reported at ``path`` or anywhere below it."""
        return any(p == path or p.startswith((path + ".", path + "[")) for p in self.reported)

    def value(self, node: Node) -> Any:
        """The Python value of a scalar node (its raw text if YAML cannot construct it)."""
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError:
            return node.value

    @staticmethod
    def is_null(node: Node) -> bool:
        return isinstance(node, ScalarNode) and node.tag == NULL_TAG

    def describe(self, node: Node) -> str:
        """How a value reads in a "got …" message."""
        if isinstance(node, MappingNode):
            return "a mapping"
        if isinstance(node, SequenceNode):
            return "a list"
        v = self.value(node)
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return node.value
        return repr(node.value)

    def mapping(self, node: Node, path: str) -> list[tuple[str, Node, Node]] | None:
        """(key, key node, value node) of a mapping, reporting duplicate and non-text keys."""
        if not isinstance(node, MappingNode):
            self.report(node, path, f"expected a mapping, got {self.describe(node)}")
            return None
        try:
            # Resolves YAML merge keys (<<: *defaults) in place, as the normal loader would.
            self.constructor.flatten_mapping(node)
        except yaml.YAMLError as exc:
            self.report(node, path, f"invalid merge: {getattr(exc, 'problem', exc)}")
            return None
        items: list[tuple[str, Node, Node]] = []
        seen: set[str] = set()
        for knode, vnode in node.value:
            if not isinstance(knode, ScalarNode) or self.is_null(knode):
                self.report(knode, path, f"expected a key name, got {self.describe(knode)}")
                continue
            key = knode.value
            if key in seen:
                self.report(
                    knode, join_path(path, key), "duplicate key (YAML would keep only the last)"
                )
                continue
            seen.add(key)
            items.append((key, knode, vnode))
        return items

    def check_tags(self, node: Node, path: str = "") -> None:
        """Report explicit tags (``!python/object``…) that a safe loader refuses to build."""
        stack = [node]
        seen: set[int] = set()
        while stack:
            n = stack.pop()
            if id(n) in seen:  # aliases can make the tree a graph
                continue
            seen.add(id(n))
            if n.tag not in SAFE_TAGS:
                tag = n.tag.replace("tag:yaml.org,2002:", "!!")
                self.report(n, path, f"unsupported YAML tag {tag!r}")
            if isinstance(n, MappingNode):
                for k, v in n.value:
                    stack.extend((k, v))
            elif isinstance(n, SequenceNode):
                stack.extend(n.value)

    def unique(self, kind: str, name: str, path: str, hint: str = "") -> None:
        first = self.names.setdefault(kind, {}).setdefault(name, path)
        if first != path:
            node = self.nodes.get(join_path(path, "name"))
            self.report(
                node,
                join_path(path, "name"),
                f"duplicate {kind} name {name!r} (first used at {first}){hint}",
            )
