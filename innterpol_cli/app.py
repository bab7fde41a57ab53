"""The Typer application that every command registers on (imported by :mod:`innterpol_cli.cli`
and by each module of :mod:`innterpol_cli.commands`, so that the two never import each other)."""

from __future__ import annotations

import typer

from . import __version__

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="Model atmospheres between grid nodes: train, evaluate, predict, convert, check.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"innterpol {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool | None = typer.Option(None, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """(--debug is read from argv by :func:`main` before Typer runs.)"""
