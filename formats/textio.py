"""Reading input (plain, gzip, stdin) and writing to stdout and other streams."""

from __future__ import annotations

import contextlib
import io
import os
import sys

from .errors import FormatError

#: The most bytes one input file may hold (gunzipped): the whole CK04 grid file of one
#: metallicity is about 1 MB; /dev/zero or a gzip bomb is refused, not read until memory runs out.
MAX_INPUT_BYTES = 256 * 2**20


def read_bytes(path: str | os.PathLike) -> bytes:
    """All bytes of ``path`` ("-" is stdin), gunzipped when they are gzip; at most
    :data:`MAX_INPUT_BYTES`."""
    import zlib

    name = str(path)
    too_big = f"more than {MAX_INPUT_BYTES // 2**20} MB: not a model file"
    try:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with open(name, "rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise FormatError(f"cannot read: {exc.strerror or exc}", name) from None
    if len(data) > MAX_INPUT_BYTES:
        raise FormatError(too_big, name)
    if data[:2] == b"\x1f\x8b":
        out, rest = [], data
        try:
            while rest:  # concatenated gzip members, as gzip.decompress takes them
                inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out.append(inflate.decompress(rest, MAX_INPUT_BYTES + 1 - sum(map(len, out))))
                if inflate.unconsumed_tail or sum(map(len, out)) > MAX_INPUT_BYTES:
                    raise FormatError(too_big + " once unzipped", name)
                if not inflate.eof:
                    raise EOFError("compressed file ended before the end-of-stream marker was reached")
                rest = inflate.unused_data.lstrip(b"\x00")
        except (zlib.error, EOFError) as exc:
            raise FormatError(f"corrupt gzip data ({exc})", name) from None
        data = b"".join(out)
    return data


def read_text(path: str | os.PathLike) -> str:
    data = read_bytes(path)
    return data.decode("latin-1")


def output_error(exc: OSError, name: str) -> FormatError:
    """An OSError while writing ``name`` as the one-line error the user sees."""
    import errno

    if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
        _silence_stdout()
        return FormatError("the reader closed the pipe before all output was written", name)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return FormatError(f"cannot write: {exc.strerror} (disk full); nothing was written", name)
    return FormatError(f"cannot write: {exc.strerror or exc}", name)


def _silence_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone: Python flushes stdout again at exit,
    and that flush would fail once more with a traceback-like "Exception ignored" message."""
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def write_stdout(data: str | bytes) -> None:
    """All of ``data`` to stdout, or an OSError.  Straight to the descriptor: a buffered stream's
    large write returns a short count, without an error, when the reader closes the pipe."""
    if sys.stdout is None:  # the process was started with its stdout closed (``>&-``)
        import errno

        raise OSError(errno.EBADF, "stdout is closed; nothing was written")
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        fd = None
    if fd is None:  # not a real file (a test's capture, an embedding)
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        sys.stdout.flush()
        return
    sys.stdout.flush()
    view = memoryview(data if isinstance(data, bytes) else data.encode(sys.stdout.encoding or "utf-8"))
    while len(view):
        view = view[os.write(fd, view):]


def stream_kind(path: str | os.PathLike) -> str | None:
    """What kind of stream an existing output ``path`` is ("a FIFO", "a character device"; also
    through a link such as /dev/stdout), or None for a regular file, a directory or a new name.
    A stream is written into, never replaced: ``--force`` must not turn /dev/null into a file."""
    import stat

    if str(path) == "-":
        return "stdout"
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


def write_stream(name: str, pieces) -> None:
    """All of ``pieces`` (str or bytes) into the existing stream ``name`` (opened without creating
    or truncating)."""
    kind = stream_kind(name)
    if kind in ("a block device", "a socket"):
        raise FormatError(f"is {kind}: innterpol writes models into files, FIFOs and character devices only", name)
    fd = os.open(name, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
    try:
        for piece in pieces:
            view = memoryview(piece if isinstance(piece, bytes) else piece.encode("ascii"))
            while len(view):
                view = view[os.write(fd, view):]
    finally:
        os.close(fd)
