"""The parameter CSV of ``innterpol predict``: its columns, its validation, and the rows it gives.

The CSV has a header row and one model per row.  Columns (case-insensitive, surrounding
spaces ignored):

=========  =================================================  ==========================
column     meaning                                            also accepted as
=========  =================================================  ==========================
teff       effective temperature [K], required                t_eff
logg       log10 surface gravity [cgs], required               log_g
mh         [M/H] [dex]; 0 if absent                           feh, m_h, [M/H], [Fe/H]
am         [alpha/M] [dex]; 0 if absent                       alpha, a_m, [a/M], [alpha/M]
cm         [C/M] [dex]; 0 if absent                           c_m, [C/M]
name       output file name (optional)                        --
=========  =================================================  ==========================

Other columns are ignored (with a warning).  Blank lines and lines starting with ``#`` are
skipped; "row N" in messages is the N-th data row after the header.  A column for an axis the
grid lacks must be all zeros.  A ``name`` gets the format's suffix (``.dat``, ``.mod``,
``.fits``) unless it has one; without a ``name`` column, file names come from the parameters
(``t05750_g+4.50_z+0.00_a+0.00.dat``, see :func:`formats.model_filenames`).

The whole file is validated before anything is written: the first problem is an error, or,
with ``skip_invalid``, bad rows are dropped and listed.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field

import numpy as np

from formats.errors import InnterpolError

from .coverage import AXES, LABELS, REQUIRED, missing_axis, value_problem

#: Accepted column names (lower case, spaces removed) and the parameter each one means.
ALIASES = {
    "teff": "teff", "t_eff": "teff",
    "logg": "logg", "log_g": "logg",
    "mh": "mh", "feh": "mh", "m_h": "mh", "fe_h": "mh", "[m/h]": "mh", "[fe/h]": "mh",
    "am": "am", "alpha": "am", "a_m": "am", "alpha_m": "am", "[a/m]": "am", "[alpha/m]": "am",
    "cm": "cm", "c_m": "cm", "[c/m]": "cm",
    "name": "name",
}


class BatchError(InnterpolError):
    """A parameter file that cannot be used: a missing column, a bad row, clashing names."""


@dataclass
class Batch:
    """Validated rows of a parameter file."""

    params: np.ndarray  # (N, P) on the grid's axes
    rows: list[int]  # data-row number (1-based) of each kept row
    names: list[str] | None  # the ``name`` column, when given
    source: str
    problems: list[str] = field(default_factory=list)  # one message per dropped row (skip_invalid)
    ignored_columns: list[str] = field(default_factory=list)

    def drop(self, keep: np.ndarray, problems: list[str]) -> None:
        """Keep only the rows where ``keep`` is true, recording why the others went."""
        self.problems += problems
        self.params, self.rows = self.params[keep], [r for r, k in zip(self.rows, keep) if k]
        if self.names is not None:
            self.names = [n for n, k in zip(self.names, keep) if k]


#: A plain decimal number (Python's float() also takes "5_777", "inf" and non-ASCII digits).
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_number(text: str, what: str) -> float:
    """A finite float from ``text``, written as a plain decimal number, or BatchError naming
    ``what``.  -0 is 0 (no "-0.00" in names and titles)."""
    stripped = text.strip() if isinstance(text, str) else ""
    if not stripped:
        raise BatchError(f"{what}: empty")
    if stripped.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise BatchError(f"{what}: {stripped!r} is not finite")
    if not _DECIMAL.fullmatch(stripped):
        raise BatchError(f"{what}: {text!r} is not a number")
    value = float(stripped)
    if not math.isfinite(value):
        raise BatchError(f"{what}: {stripped!r} is not finite")
    return value + 0.0


def check_value(key: str, value: float, what: str) -> None:
    """BatchError naming ``what`` for a value no atmosphere has (:func:`coverage.value_problem`)."""
    problem = value_problem(key, value, bounds=True)
    if problem:
        raise BatchError(f"{what}: {problem}")


def read_text(path: str) -> str:
    """The text of ``path`` ("-" is stdin)."""
    import sys

    if path == "-":
        # The bytes, decoded as a file is (utf-8-sig: a byte-order mark is dropped), whatever the locale.
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:  # a text stream without bytes underneath (tests, embedding)
            return sys.stdin.read().removeprefix("\ufeff")
        try:
            return stream.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BatchError("<stdin>: not a text (UTF-8) CSV file") from None
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return handle.read()
    except OSError as exc:
        raise BatchError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise BatchError(f"{path}: not a text (UTF-8) CSV file") from None


def parse_csv(text: str, axes, source: str = "<stdin>", skip_invalid: bool = False, grid: str = "the grid") -> Batch:
    """Validate every row of a parameter CSV against the grid's ``axes``."""
    text = text.removeprefix("\ufeff")  # however it was read
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise BatchError(f"{source}: no header row (expected columns {', '.join(REQUIRED)}, ...)")
    reader = _rows(csv.reader(io.StringIO("\n".join(lines))), source)
    header = [h.strip() for h in next(reader)]
    columns: dict[str, int] = {}
    ignored = []
    for position, raw in enumerate(header):
        key = ALIASES.get(raw.lower().replace(" ", ""))
        if key is None:
            ignored.append(raw or f"#{position + 1}")
            continue
        if key in columns:
            raise BatchError(f"{source}: columns {header[columns[key]]!r} and {raw!r} both give {LABELS.get(key, key)}")
        columns[key] = position
    missing = [key for key in REQUIRED if key not in columns]
    if missing:
        raise BatchError(
            f"{source}: missing column {', '.join(missing)} (found: {', '.join(header) or 'none'}; "
            f"columns are teff, logg, mh|feh, am|alpha, cm, name)"
        )
    extra_axes = [key for key in AXES if key in columns and key not in axes]
    width = len(header)
    params, rows, names, problems = [], [], [], []
    for number, cells in enumerate(reader, start=1):
        try:
            if len(cells) != width:
                raise BatchError(f"{source}, row {number}: {len(cells)} fields, the header has {width}")
            values = []
            for key in axes:
                if key not in columns:
                    values.append(0.0)
                    continue
                what = f"{source}, row {number}, column {header[columns[key]]}"
                value = parse_number(cells[columns[key]], what)
                check_value(key, value, what)
                values.append(value)
            for key in extra_axes:
                what = f"{source}, row {number}, column {header[columns[key]]}"
                if parse_number(cells[columns[key]], what) != 0.0:
                    raise BatchError(f"{what}: {missing_axis(key, axes, grid)}")
            name = cells[columns["name"]].strip() if "name" in columns else None
            if name is not None:
                check_name(name, f"{source}, row {number}, column {header[columns['name']]}")
        except BatchError as exc:
            if not skip_invalid:
                raise
            problems.append(str(exc))
            continue
        params.append(values)
        rows.append(number)
        names.append(name)
    if not rows and not problems:
        raise BatchError(f"{source}: no data rows after the header")
    array = np.array(params, dtype=float).reshape(len(params), len(axes))
    return Batch(array, rows, names if "name" in columns else None, source, problems, ignored)


def _rows(reader, source: str):
    """The rows of a csv reader; a row the csv module cannot parse is a BatchError naming it
    (row 0 is the header)."""
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            where = "the header" if number == 0 else f"row {number}"
            raise BatchError(f"{source}, {where}: {exc}") from None
        yield cells
        number += 1


def report_skipped(problems: list[str], warn, what: str = "bad rows") -> None:
    """Each skipped row or model as a warning, the first ten in full."""
    for problem in problems[:10]:
        warn(f"skipped: {problem}")
    if len(problems) > 10:
        warn(f"skipped {len(problems) - 10} more {what}")


#: The longest file name (in bytes, with its suffix) that common file systems take.
MAX_NAME_BYTES = 255


def check_name(name: str, what: str) -> None:
    """A file name from the ``name`` column must be a plain, printable name of at most
    :data:`MAX_NAME_BYTES` bytes: no folders, nothing hidden, no control characters."""
    if not name:
        raise BatchError(f"{what}: empty name")
    if not name.isprintable():
        bad = next(c for c in name if not c.isprintable())
        raise BatchError(f"{what}: name {name!r} contains the control character {bad!r}: names must be printable")
    if name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise BatchError(f"{what}: {name!r} is not a plain file name")
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > MAX_NAME_BYTES:
        raise BatchError(f"{what}: name {name[:40]!r}... is {size} bytes long; file names take at most {MAX_NAME_BYTES}")
