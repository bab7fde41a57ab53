"""The one stderr console: stdout is for data only.

``err`` is a Rich Console on stderr, created on first use.  ``warn``, ``info`` and ``error``
print plain text (square brackets such as "[M/H]" are shown as they are); when stderr is not
a terminal they skip Rich altogether, which keeps a scripted ``innterpol predict`` fast.
"""

from __future__ import annotations

import sys


def __getattr__(name: str):
    if name == "err":
        from rich.console import Console

        console = Console(stderr=True, highlight=False)
        globals()["err"] = console
        return console
    raise AttributeError(name)


#: Control characters (C0, DEL, C1) shown escaped: a name read from a file (a weights file's
#: meta.json, a model's TITLE) must not move the cursor, clear the screen or fake a line.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


def printable(text: str) -> str:
    """``text`` with every control character written as ``\\xNN``."""
    return text.translate(_CONTROL)


def _emit(label: str, style: str, message: str) -> None:
    message = printable(message)
    if not sys.stderr.isatty():
        sys.stderr.write(f"{label}{message}\n")
        sys.stderr.flush()
        return
    from rich.markup import escape

    from . import console

    prefix = f"[{style}]{label}[/{style}]" if label else ""
    console.err.print(prefix + escape(message), soft_wrap=True)


def warn(message: str) -> None:
    """A warning line on stderr."""
    _emit("warning: ", "yellow", message)


def info(message: str) -> None:
    _emit("", "", message)


def error(message: str) -> None:
    """The one-line error of a failed command."""
    _emit("error: ", "red", message)
