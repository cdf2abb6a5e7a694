"""A footer of the keys that work right now, drawn as one line of text.

Textual's ``Footer`` mounts a widget per key and rebuilds them whenever focus moves; measured
here under load that cost 100–200 ms per view switch. This bar renders the same information
(the screen's active bindings, with remapped keys) as a single line, so switching views only
repaints one row.
"""

from __future__ import annotations

from rich.text import Text
from textual.screen import Screen
from textual.widget import Widget


class KeyBar(Widget):
    """The active bindings of the focused widget chain, plus the command palette key."""

    COMPONENT_CLASSES = {"keybar--key", "keybar--description", "keybar--disabled"}

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    KeyBar > .keybar--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyBar > .keybar--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    KeyBar > .keybar--disabled {
        color: $text-disabled;
    }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen:
            self.refresh()

    def render(self) -> Text:
        app = self.app
        key_style = self.get_component_rich_style("keybar--key")
        desc_style = self.get_component_rich_style("keybar--description")
        off_style = self.get_component_rich_style("keybar--disabled")
        active = self.screen.active_bindings
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        seen: set[str] = set()
        palette = None
        for key, (_node, binding, enabled, _tooltip) in active.items():
            if key == app.COMMAND_PALETTE_BINDING and app.ENABLE_COMMAND_PALETTE:
                palette = binding
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            text.append(
                f" {app.get_key_display(binding)} ", off_style if not enabled else key_style
            )
            text.append(f"{binding.description} ", off_style if not enabled else desc_style)
        if palette is not None:
            right = Text.assemble(
                (f" {app.get_key_display(palette)} ", key_style),
                (f"{palette.description} ", desc_style),
            )
            gap = self.size.width - text.cell_len - right.cell_len
            if gap > 0:
                text.append(" " * gap)
                text.append_text(right)
        return text
