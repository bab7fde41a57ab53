"""Reading text (plain, gzip, stdin) and writing files atomically."""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import re
import sys
import tempfile
from pathlib import Path

from .errors import FormatError


def read_bytes(path: str | os.PathLike) -> bytes:
    """All bytes of ``path`` ("-" is stdin), gunzipped when they are gzip."""
    name = str(path)
    try:
        if name == "-":
            data = sys.stdin.buffer.read()
        else:
            data = Path(name).read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read: {exc.strerror or exc}", name) from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise FormatError(f"corrupt gzip data ({exc})", name) from None
    return data


def read_text(path: str | os.PathLike) -> str:
    data = read_bytes(path)
    return data.decode("latin-1")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w"):
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds.

    ``"-"`` writes to stdout (buffered in memory first, so a failure writes nothing).
    """
    name = str(path)
    binary = "b" in mode
    if name == "-":
        buffer = io.BytesIO() if binary else io.StringIO()
        yield buffer
        if binary:
            sys.stdout.buffer.write(buffer.getvalue())
        else:
            sys.stdout.write(buffer.getvalue())
        sys.stdout.flush()
        return
    target = Path(name)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise FormatError(f"cannot write: {exc.strerror or exc}", name) from None
    try:
        with os.fdopen(fd, mode, **({} if binary else {"encoding": "ascii", "newline": "\n"})) as handle:
            yield handle
        if target.suffix == ".gz" and not binary:
            with open(tmp, "rb") as src:
                raw = src.read()
            with open(tmp, "wb") as dst:
                dst.write(gzip.compress(raw, mtime=0))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
    if values is not None and (count is None or len(values) == count) and all(math.isfinite(v) for v in values):
        return values
    garbage = NUMBER.sub(" ", line).split()
    if garbage:
        raise FormatError(f"non-numeric field {garbage[0]!r} in {line.strip()[:60]!r}", path, lineno)
    values = [float(tok.replace("D", "E").replace("d", "e")) for tok in NUMBER.findall(line)]
    if count is not None and len(values) != count:
        raise FormatError(f"expected {count} numbers, found {len(values)}: {line.strip()[:60]!r}", path, lineno)
    return values


def write_hdulist(hdulist, path) -> None:
    """Write an astropy HDUList atomically ("-" is stdout; a ``.gz`` name is gzipped)."""
    buffer = io.BytesIO()
    hdulist.writeto(buffer)
    data = buffer.getvalue()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with atomic_output(path, "wb") as handle:
        handle.write(data)
