"""The ``innterpol`` command line: registers the commands on :data:`app.app`, and turns errors
into one line on stderr and an exit code.  Commands stay thin: parse, call the library, report.

Heavy imports (torch, astropy, pandas) happen inside the commands that need them.
"""

from __future__ import annotations

import sys

#: Optional dependencies by top-level module, and the extra of innterpol that installs each.
EXTRAS = {"torch": ("torch", "train"), "matplotlib": ("matplotlib", "plots"), "pysme": ("PySME", "synth"),
          "sklearn": ("scikit-learn", "eval")}


def missing_extra(exc: BaseException) -> str | None:
    """The one-line message for an optional dependency that is not installed, or None."""
    if not isinstance(exc, ModuleNotFoundError):
        return None
    known = EXTRAS.get((exc.name or "").split(".")[0])
    if known is None:
        return None
    package, extra = known
    return f"this needs {package}, which is not installed: pip install 'innterpol[{extra}]'"


def register() -> None:
    """Attach the commands (each in its own module, imported lazily by the command body)."""
    from . import commands  # noqa: F401


def main() -> None:
    from formats.errors import InnterpolError

    debug = "--debug" in sys.argv[1:]
    # --debug is global but may come anywhere, after the subcommand too: take it out for Typer.
    sys.argv[1:] = [arg for arg in sys.argv[1:] if arg != "--debug"]
    try:
        if sys.argv[1:2] == ["predict"]:  # the everyday command runs without Typer (prediction.run_fast)
            from .prediction import run_fast

            if run_fast(sys.argv[2:]):
                return
        from .app import app  # Typer, imported only when a command needs it

        register()
        # Without standalone mode Typer returns (not raises) the code of a typer.Exit.
        code = app(standalone_mode=False)
    except InnterpolError as exc:
        if debug:
            raise
        raise SystemExit(_report(str(exc))) from None
    except KeyboardInterrupt:
        if debug:
            raise
        raise SystemExit(_report("interrupted", 130)) from None
    except Exception as exc:  # Typer's exits and usage errors (click exceptions), and anything unexpected
        typer = sys.modules.get("typer")
        if typer is not None and isinstance(exc, typer.Exit):
            raise SystemExit(exc.exit_code) from None
        if typer is not None and isinstance(exc, typer.Abort):
            raise SystemExit(_report("aborted", 1)) from None
        if missing_extra(exc) and not debug:
            raise SystemExit(_report(missing_extra(exc))) from None
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            hint = ""
            ctx = getattr(exc, "ctx", None)
            if ctx is not None:
                hint = f" (see `{ctx.command_path} --help`)"
            raise SystemExit(_report(exc.format_message() + hint, exc.exit_code)) from None
        if debug:
            raise
        raise SystemExit(_report(f"unexpected internal error: {_plain(exc)} (run with --debug for the traceback, "
                                 f"and please report it)")) from None
    if code == 130:  # Click turns Ctrl-C inside a command into a silent return of 130
        raise SystemExit(_report("interrupted", 130))
    if isinstance(code, int) and code:
        raise SystemExit(code)


def _plain(exc: BaseException) -> str:
    """An unexpected exception's message, one line, at most 200 characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _report(message: str, code: int = 1) -> int:
    from .console import error

    error(message)
    return code
