"""Fixed-width number fields, read and written: the numbers of a Fortran-formatted line (columns
can touch: ``1.776E+06-3.737E-04``), and rows of fields that keep their columns or say which value
would not fit."""

from __future__ import annotations

import functools
import math
import re

import numpy as np

from .errors import FieldOverflowError, FormatError

# NaN and Infinity are read as numbers: a grid with a broken model is still readable, and
# training skips that model with a warning naming the file (it is not a parse error).
# Columns can touch ("1.776E+06-3.737E-04"), so numbers are found by pattern, not by blanks.
NUMBER = re.compile(r"[-+]?(?:(?:\d+\.\d*|\.\d+|\d+)(?:[EeDd][-+]?\d+)?|[Nn][Aa][Nn]|[Ii]nf(?:inity)?)")


def parse_numbers(line: str, path: str, lineno: int, count: int | None = None) -> list[float]:
    """The numbers of a fixed-format line, or FormatError naming the file and line."""
    # Fast path: blank-separated plain numbers (almost every line); the pattern handles the rest.
    try:
        values = [float(tok) for tok in line.split()]
    except ValueError:
        values = None
    # (a non-finite sum: a NaN or an infinity among them, or an overflowing sum; the pattern decides)
    if values is not None and (count is None or len(values) == count) and math.isfinite(sum(values)):
        return values
    garbage = NUMBER.sub(" ", line).split()
    if garbage:
        raise FormatError(f"non-numeric field {garbage[0]!r} in {line.strip()[:60]!r}", path, lineno)
    values = [float(tok.replace("D", "E").replace("d", "e")) for tok in NUMBER.findall(line)]
    if count is not None and len(values) != count:
        raise FormatError(f"expected {count} numbers, found {len(values)}: {line.strip()[:60]!r}", path, lineno)
    return values


@functools.lru_cache(maxsize=64)
def _spec(spec: str) -> tuple[int, int, str]:
    """Width, precision and kind of a format spec such as ``"9.3E"`` or ``"8.1f"``."""
    width, _, rest = spec.partition(".")
    return int(width), int(rest[:-1]), rest[-1]


def _format(value: float, spec: str) -> str:
    """``format(value, spec)``, but a negative value that prints as zero ("-0.00000") and has no room
    for its sign in the field is written as 0: MARCS prints "-0.00000" in its F8.5 Fconv/F field,
    where the '-' takes the blank before it."""
    text = format(value, spec)
    if len(text) > _spec(spec)[0] and text.lstrip().startswith("-") and float(text) == 0.0:
        text = format(0.0, spec)
    return text


def printed_width(values, spec: str) -> np.ndarray:
    """How many characters ``format(v, spec)`` takes for every value, without formatting them.

    ``spec`` is ``"W.PE"`` or ``"W.Pf"``.  A value fits its field when the result is at most W;
    more widens the field.  Non-finite values (printed ``nan``/``inf``) count as not fitting.
    """
    width, precision, kind = _spec(spec)
    v = np.asarray(values, dtype=float)
    magnitude = np.abs(v)
    sign = np.signbit(v).astype(int)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if kind in "Ee":
            exponent = np.where(magnitude > 0, np.floor(np.log10(np.where(magnitude > 0, magnitude, 1.0))), 0.0)
            mantissa = np.round(magnitude / 10.0**exponent, precision)
            exponent = np.where(mantissa >= 10.0, exponent + 1, exponent)
            digits = np.maximum(2, np.floor(np.log10(np.maximum(np.abs(exponent), 1.0))) + 1)
            length = sign + 1 + (precision + 1 if precision else 0) + 2 + digits
        else:
            rounded = np.round(magnitude, precision)
            digits = np.where(rounded >= 1.0, np.floor(np.log10(np.where(rounded >= 1.0, rounded, 1.0))) + 1, 1.0)
            length = sign + digits + (precision + 1 if precision else 0)
    prints_zero = magnitude < (0.5 * 10.0**-precision if kind in "fF" else np.finfo(float).tiny)
    length = np.where(prints_zero & (length > width), length - sign, length)  # written as 0: see _format
    return np.where(np.isfinite(v), length, width + 1).astype(int)


def overflowing_fields(columns) -> list[tuple[str, int, float, int]]:
    """Of ``columns`` (name, values along depth, spec): each one with a value wider than its field, as
    (name, depth (1-based) of the first such value, the value, the field width).  Columns of one spec
    are measured together (one call per spec, not per column)."""
    by_spec: dict[str, list] = {}
    for name, values, spec in columns:
        by_spec.setdefault(spec, []).append((name, np.asarray(values, dtype=float)))
    wide = {}
    for spec, members in by_spec.items():
        width = _spec(spec)[0]
        too_wide = printed_width(np.stack([values for _, values in members]), spec) > width
        for (name, values), row in zip(members, too_wide):
            if row.any():
                k = int(row.argmax())
                wide[name] = (name, k + 1, float(values[k]), width)
    return [wide[name] for name, _, _ in columns if name in wide]


@functools.lru_cache(maxsize=64)
def _row_template(specs: tuple[str, ...]) -> str:
    return "".join(" %" + s for s in specs)


@functools.lru_cache(maxsize=64)
def _row_width(specs: tuple[str, ...]) -> int:
    """The characters of a row of fields of ``specs``, each with its leading blank."""
    return sum(1 + _spec(s)[0] for s in specs)


def fixed_fields(values, specs, names, depth: int | None = None) -> str:
    """The values as blank-separated fixed-width fields: each is one blank and ``format(v, spec)``.

    Raises FieldOverflowError, naming the quantity, the depth (1-based) and the value, when a
    value would take more than its width (a negative sign or a three-digit exponent in an E field,
    too many digits in an F field, NaN): the row would then lose its fixed columns.
    """
    specs = tuple(specs)
    # One %-formatting of the whole row (what format() gives each value, in one call); the field
    # by field path below only when the row is not exactly as wide as its fields.
    line = _row_template(specs) % tuple(values)
    if len(line) == _row_width(specs) and "n" not in line:
        return line
    parts = [" " + _format(v, s) for v, s in zip(values, specs)]
    line = "".join(parts)
    if len(line) != _row_width(specs) or "n" in line:
        for part, value, spec, name in zip(parts, values, specs, names):
            width = _spec(spec)[0]
            if len(part) != width + 1 or not math.isfinite(value):
                raise FieldOverflowError(name, depth, float(value), width)
    return line
