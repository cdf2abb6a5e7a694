"""A footer of the keys that work right now, drawn as one line of text.

Textual's ``Footer`` mounts a widget per key and rebuilds them whenever focus moves; measured
here under load that cost 100–200 ms per view switch. This bar renders the same information
(the screen's active bindings, with remapped keys) as a single line, so switching views only
repaints one row.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.screen import Screen
from textual.widget import Widget


class KeyBar(Widget):
    """The active bindings of the focused widget chain, plus the command palette key.

    When the keys do not fit one line (80 columns) the bar grows to two lines, breaking between
    keys, never inside one; past two lines the rest is left to help (``?``) and the palette.
    """

    MAX_LINES = 2

    COMPONENT_CLASSES = {"keybar--key", "keybar--description", "keybar--disabled"}

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: auto;
        max-height: 2;
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
            # The number of lines may change with the keys.
            self.refresh(layout=True)

    def on_resize(self) -> None:
        self.refresh(layout=True)

    def render(self) -> Text:
        app = self.app
        key_style = self.get_component_rich_style("keybar--key")
        desc_style = self.get_component_rich_style("keybar--description")
        off_style = self.get_component_rich_style("keybar--disabled")
        active = self.screen.active_bindings
        items: list[Text] = []
        seen: set[str] = set()
        palette = None
        for key, (_node, binding, enabled, _tooltip) in active.items():
            if key == app.COMMAND_PALETTE_BINDING and app.ENABLE_COMMAND_PALETTE:
                palette = binding
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            items.append(
                _item(
                    app.get_key_display(binding),
                    binding.description,
                    off_style if not enabled else key_style,
                    off_style if not enabled else desc_style,
                )
            )
        right = None
        if palette is not None:
            right = _item(app.get_key_display(palette), palette.description, key_style, desc_style)
        width = self.size.width or 80
        lines: list[Text] = [Text(end="")]
        for item in items:
            if lines[-1].cell_len + item.cell_len > width:
                if len(lines) == self.MAX_LINES:
                    break
                lines.append(Text(end=""))
            lines[-1].append_text(item)
        if right is not None:
            gap = width - lines[-1].cell_len - right.cell_len
            if gap <= 0 and len(lines) < self.MAX_LINES:
                # No room beside the last keys: the palette key gets the next line.
                lines.append(Text(end=""))
                gap = width - right.cell_len
            if gap > 0:
                lines[-1].append(" " * gap)
                lines[-1].append_text(right)
        text = Text("\n", no_wrap=True, overflow="ellipsis", end="").join(lines)
        return text

    def get_content_height(self, container, viewport, width: int) -> int:
        return max(1, len(self.render().plain.split("\n")))


def _item(key: str, description: str, key_style: Style, desc_style: Style) -> Text:
    """`` key description `` with no run of one style starting with a space: an exported SVG
    draws each run as one <text>, and viewers drop leading spaces (the key would then sit
    next to the previous description)."""
    return Text.assemble((" ", desc_style), (f"{key} ", key_style), (f"{description} ", desc_style))
