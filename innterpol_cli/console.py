"""The one stderr console: stdout is for data only."""

from __future__ import annotations

from rich.console import Console

err = Console(stderr=True, highlight=False)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {message}", soft_wrap=True)


def info(message: str) -> None:
    err.print(message, soft_wrap=True)
