"""Which lessons a student finished, kept across restarts in the user's state directory.

The file is ``$XDG_STATE_HOME/proxy-workbench/lessons.json`` (``~/.local/state/...`` when the
variable is unset): a small JSON object ``{"completed": ["two-proxies", ...]}``. A missing,
unreadable or malformed file reads as "nothing finished"; a failed write is reported, never raised.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["Progress", "state_dir"]

APP_DIR = "proxy-workbench"


def state_dir() -> Path:
    """The workbench's state directory (not created here)."""
    base = os.environ.get("XDG_STATE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / APP_DIR


class Progress:
    """Finished lesson ids, loaded once and written back on every change."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else state_dir() / "lessons.json"
        self.completed: set[str] = set(self._read())

    def _read(self) -> list[str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        done = data.get("completed") if isinstance(data, dict) else None
        return [str(x) for x in done] if isinstance(done, list) else []

    def _write(self) -> str | None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(
                json.dumps({"completed": sorted(self.completed)}, indent=1) + "\n",
                encoding="utf-8",
            )
            tmp.replace(self.path)
        except OSError as exc:
            return f"cannot save lesson progress to {self.path}: {exc.strerror or exc}"
        return None

    def add(self, lesson_id: str) -> str | None:
        """Mark one lesson finished; an error message when the file could not be written."""
        if lesson_id in self.completed:
            return None
        self.completed.add(lesson_id)
        return self._write()

    def reset(self, keep: Iterable[str] = ()) -> str | None:
        """Forget every finished lesson (except ``keep``); an error message or None."""
        self.completed = set(keep)
        return self._write()
