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


class FieldOverflowError(FormatError):
    """A value that would not fit its fixed-width field: written, it would widen the field or
    touch its neighbour, and fixed-column (Fortran E10.3) or blank-separated readers would
    misread the row.  Names the quantity, the depth (1-based) and the value."""

    def __init__(self, quantity: str, depth: int | None, value: float, width: int, path: str | None = None):
        self.quantity, self.depth, self.value, self.width = quantity, depth, value, width
        where = f" at depth {depth}" if depth is not None else ""
        super().__init__(f"{quantity} = {value:.4g}{where} does not fit its {width}-character field", path)


class MissingQuantityError(InnterpolError):
    """The target format needs a quantity that the source lacks and physics cannot supply."""


class OutputBusyError(FormatError):
    """Another innterpol run is writing the same output."""
