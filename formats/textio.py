"""Reading text (plain, gzip, stdin) and writing files atomically."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
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
