"""The one stderr console: stdout is for data only."""

from __future__ import annotations

from rich.console import Console

err = Console(stderr=True, highlight=False)


def warn(message: str) -> None:
    """A warning line on stderr; ``message`` is plain text (square brackets are shown as they are)."""
    from rich.markup import escape

    err.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)


def info(message: str) -> None:
    from rich.markup import escape

    err.print(escape(message), soft_wrap=True)
