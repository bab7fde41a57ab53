"""Domain errors.  The library raises them; only the CLI turns them into messages and exit codes."""

from __future__ import annotations


class InnterpolError(Exception):
    """Base of every error innterpol reports to the user as one line."""


class FormatError(InnterpolError):
    """A file cannot be read or written in a format.  Names the file and, where known, the line."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.reason = message
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)


class MissingQuantityError(InnterpolError):
    """The target format needs a quantity that the source lacks and physics cannot supply."""
