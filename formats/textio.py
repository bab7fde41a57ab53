"""Reading text (plain, gzip, stdin) and writing files atomically."""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import re
import sys
from pathlib import Path

import numpy as np

from .errors import FieldOverflowError, FormatError

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


def _write_stream(name: str, pieces) -> None:
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


#: Staged output goes to stdout or a stream in pieces of this many bytes (or characters).
COPY_BLOCK = 1 << 20


def _pieces(handle):
    """The content of an open temporary file, from its start, in pieces of :data:`COPY_BLOCK`."""
    handle.flush()
    handle.seek(0)
    return iter(lambda: handle.read(COPY_BLOCK), handle.read(0))


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "w"):
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds.

    ``"-"`` writes to stdout, and an existing FIFO or character device (/dev/null, /dev/stdout) is
    written into (never replaced), both staged in an anonymous temporary file first (in the
    temporary folder, $TMPDIR) and copied into the stream at the end, so that a failure writes
    nothing and a large output never sits in memory; a reader that closes the pipe early is an
    error, not a success.  A text file ending in ``.gz`` is gzipped as it is written.  Errors of
    the file system (a full disk) are FormatErrors naming the file.
    """
    import tempfile

    name = str(path)
    binary = "b" in mode
    if name == "-" or stream_kind(name):
        # Text as StringIO took it (any str), decoded back unchanged before it is written out.
        text = {} if binary else {"encoding": "utf-8", "errors": "surrogatepass", "newline": "\n"}
        try:
            with tempfile.TemporaryFile("w+b" if binary else "w+", **text) as staged:
                yield staged
                if name == "-":
                    for piece in _pieces(staged):
                        write_stdout(piece)
                else:
                    _write_stream(name, _pieces(staged))
        except OSError as exc:  # $TMPDIR full, or the stream failing
            raise output_error(exc, "stdout" if name == "-" else name) from None
        return
    target = Path(name)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = _create_part(target, directory)
    except OSError as exc:
        raise output_error(exc, name) from None
    try:
        if target.suffix == ".gz" and not binary:
            with os.fdopen(fd, "wb") as raw, io.TextIOWrapper(Gzipping(raw), encoding="ascii", newline="\n") as handle:
                yield handle
        else:
            with os.fdopen(fd, mode, **({} if binary else {"encoding": "ascii", "newline": "\n"})) as handle:
                yield handle
        os.chmod(tmp, 0o644)
        crash_point("rename")
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise output_error(exc, name) from None
        raise


class Gzipping(io.BufferedIOBase):
    """A write-only stream that gzips into ``raw`` what is written to it, as it comes: the same
    bytes as ``gzip.compress(everything, mtime=0)`` (deflate's output does not depend on how its
    input is cut).  Closing it ends the gzip stream; ``raw`` stays open."""

    def __init__(self, raw):
        import zlib

        super().__init__()
        self._raw = raw
        self._deflate = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip header, mtime 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._raw.write(self._deflate.compress(data))
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._raw.write(self._deflate.flush())
        super().close()


@contextlib.contextmanager
def spool_file(path: str | os.PathLike):
    """An anonymous temporary file (binary, read and write) for what a writer of ``path`` must hold
    until the end: beside a file ``path`` (on the file system that gets the output, not in memory;
    named in the target's lock file for the instant it has a name, so that a kill then leaves
    nothing that the next run does not remove), in $TMPDIR for stdout and streams."""
    import tempfile

    name = str(path)
    try:
        if name == "-" or stream_kind(name):
            with tempfile.TemporaryFile("w+b") as handle:
                yield handle
        else:
            target = Path(name)
            fd, tmp = _create_part(target, target.parent if str(target.parent) else Path("."))
            os.unlink(tmp)
            with os.fdopen(fd, "w+b") as handle:
                yield handle
    except OSError as exc:
        raise output_error(exc, "stdout" if name == "-" else name) from None


def _create_part(target: Path, directory: Path) -> tuple[int, str]:
    """Create the temporary file ``.NAME.XXXXXXXX.part`` of ``target`` (exclusively), after naming it
    in the target's lock file when this process holds that lock: the journal by which the next run
    knows the leftover of a killed run as ours (and nothing else that merely looks like one)."""
    import secrets

    lock = str(lock_path(target, False))
    while True:
        tmp = str(directory / f".{target.name}.{secrets.token_hex(4)}{PART_SUFFIX}")
        if lock in _held and _held[lock][2]:
            os.write(_held[lock][0], f"part {os.path.basename(tmp)}\n".encode())
        try:
            return os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), tmp
        except FileExistsError:
            continue


# ------------------------------------------------------------------------ locks and leftovers
#: Temporary files of :func:`atomic_output` end so: ``.NAME.RANDOM.part``.
PART_SUFFIX = ".part"
#: Staging folders of :func:`formats.write_directory` start so, inside the output directory.
STAGING_PREFIX = ".innterpol-"
#: The lock of a directory lies inside it; the lock of a file ``NAME`` beside it, ``.NAME.lock``.
DIRECTORY_LOCK = ".innterpol.lock"
LOCK_SUFFIX = ".lock"

_held: dict[str, list] = {}  # lock file -> [descriptor, depth]: a lock is re-entrant within a process
_crash_hits: dict[str, int] = {}


class OutputBusyError(FormatError):
    """Another innterpol run is writing the same output."""


def crash_point(label: str) -> None:
    """Fail at the moment named by $INNTERPOL_CRASH_AT, for the tests that check that a crash at
    any moment leaves the old output or the complete new one.

    The variable holds comma-separated ``LABEL[:N[:error]]``: at the N-th time (default 1) the
    point LABEL is reached, this process is killed with SIGKILL (as by ``kill -9``), or, with
    ``:error`` or ``:enospc``, an OSError (EIO, or ENOSPC as from a full disk) is raised there.
    """
    spec = os.environ.get("INNTERPOL_CRASH_AT")
    if not spec:
        return
    for item in spec.split(","):
        wanted, _, rest = item.strip().partition(":")
        if wanted != label:
            continue
        count, _, how = rest.partition(":")
        _crash_hits[item] = _crash_hits.get(item, 0) + 1
        if _crash_hits[item] != int(count or 1):
            continue
        if how in ("error", "enospc"):
            import errno

            code = errno.ENOSPC if how == "enospc" else errno.EIO
            raise OSError(code, os.strerror(code) if how == "enospc" else f"injected failure at {label}")
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def lock_path(target: str | os.PathLike, directory: bool) -> Path:
    path = Path(os.path.abspath(target))
    return path / DIRECTORY_LOCK if directory else path.parent / f".{path.name}{LOCK_SUFFIX}"


def _try_lock(path: Path) -> int | None:
    """A descriptor holding the exclusive lock of ``path`` (created if missing), or None if another
    process holds it.  A lock file is removed on release, so the lock is taken on the file that
    still bears the name (another process may have removed the one we opened)."""
    import fcntl

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            return fd
        os.close(fd)


def _release(path: Path, fd: int, remove: bool = True) -> None:
    if remove:
        with contextlib.suppress(OSError):
            os.unlink(path)  # still holding the lock: see _try_lock
    os.close(fd)


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return f" (process {int(path.read_text().split()[1])})"
    return ""


def _refuse_during_batch(directory: Path, name: str) -> None:
    """OutputBusyError if a directory batch of another run holds ``directory``: a single file
    written into it meanwhile would be replaced by, or mixed with, the batch."""
    import fcntl

    lock = directory / DIRECTORY_LOCK
    if str(lock) in _held:
        return
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return  # no batch there
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise OutputBusyError(f"another innterpol run is writing a batch into {directory}{_holder(lock)}: wait for it "
                              f"to finish, or choose another output", name) from None
    finally:
        os.close(fd)


def held_elsewhere(directory: Path, names) -> str | None:
    """The first of ``names`` in ``directory`` whose file lock another run holds (a single-file
    write in progress), or None; a batch checks this before it commits."""
    import fcntl

    for name in names:
        lock = lock_path(directory / name, False)
        if str(lock) in _held:
            continue
        try:
            fd = os.open(lock, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return name
        finally:
            os.close(fd)
    return None


@contextlib.contextmanager
def output_lock(target: str | os.PathLike, directory: bool = False, wait: float = 0.0, warn=None):
    """Hold the lock of an output ``target`` (a file, or a ``directory`` of files) for the block.

    Another innterpol run writing the same target makes this an OutputBusyError (after waiting up
    to ``wait`` seconds for it).  Under the lock, leftovers of killed runs on that target are
    finished or removed, each named through ``warn``: see :func:`recover`.  A directory that
    does not exist is created, and removed again if nothing was written into it.  Re-entrant
    within one process; without ``fcntl`` (Windows) no lock is taken.
    """
    name = str(target)
    if name == "-" or (not directory and stream_kind(name)):  # streams are written into, not replaced
        yield
        return
    try:
        import fcntl  # noqa: F401
    except ImportError:
        yield
        return
    path = lock_path(name, directory)
    key = str(path)
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    created = _create_directory(Path(name)) if directory else []
    fd = None
    try:
        import time

        deadline = time.monotonic() + wait
        while True:
            try:
                fd = _try_lock(path)
            except OSError as exc:
                raise output_error(exc, name) from None
            if fd is not None or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        if fd is None:
            raise OutputBusyError(f"another innterpol run is writing it{_holder(path)}: wait for it to finish, "
                                  f"or choose another output", name)
        previous = b""
        with contextlib.suppress(OSError):
            previous = os.pread(fd, 65536, 0)
        # A file of that name that innterpol did not make (not empty, no LOCK_MAGIC) is only locked:
        # never truncated, written or removed.
        ours = previous == b"" or previous.startswith(LOCK_MAGIC.encode())
        if ours:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.write(fd, f"{LOCK_MAGIC} {os.getpid()}\n".encode())
        _held[key] = [fd, 1, ours]
        try:
            if not directory:
                _refuse_during_batch(Path(os.path.abspath(name)).parent, name)
            for message in recover(name, directory, previous):
                if warn is not None:
                    warn(message)
            yield
        finally:
            ours = _held.pop(key)[2]
            _release(path, fd, remove=ours)
    finally:
        for folder in reversed(created):  # deepest first; stops at the first that is not empty
            try:
                folder.rmdir()
            except OSError:
                break


def _create_directory(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents; the ones created, outermost first."""
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(exc, str(path)) from None
    return list(reversed(missing))


def size_text(path: Path) -> str:
    """The size of a file or folder, as the recovery messages give it."""
    return _mb(_size(path))


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.0f} kB"


def recover(target: str | os.PathLike, directory: bool, previous: bytes = b"") -> list[str]:
    """Finish or remove what killed runs left on ``target``; one message per leftover.

    Call it only with the target's lock held (:func:`output_lock`), so that no live run owns
    them; ``previous`` is what the lock file held before this run took it.  Only what a journal of
    innterpol's names is touched: a directory's staging folders that carry their journal are
    rolled forward when their batch had committed and back otherwise (see
    :func:`formats.write_directory`); a partial file is removed when a killed run's lock file names
    it; a lock file is removed only when it is one of innterpol's (it starts with
    :data:`LOCK_MAGIC`) and nobody holds it.  Anything else that merely looks like a leftover (a
    folder named ``.innterpol-notes``, a ``.draft.abcdefgh.part``, an empty ``.x.lock``) is the
    user's and stays.
    """
    path = Path(target)
    messages = []
    if directory:
        if not path.is_dir():
            return messages
        from . import finish_exchange, finish_staged

        messages += finish_exchange(path)
        for entry in sorted(path.iterdir()):
            if entry.name.startswith(STAGING_PREFIX) and entry.is_dir():
                message = finish_staged(entry, path)
                if message:
                    messages.append(message)
            elif lock_owner(entry.name) and entry.name != DIRECTORY_LOCK and is_lock_file(entry):
                owner = path / lock_owner(entry.name)
                messages += _remove_if_free(entry, owner)
        return messages
    return _remove_parts(path, previous)


def _parts_named(content: bytes) -> list[str]:
    """The partial files a lock file's content names (see :func:`_create_part`)."""
    if not content.startswith(LOCK_MAGIC.encode()):
        return []
    names = []
    for line in content.decode("ascii", "replace").splitlines()[1:]:
        kind, _, name = line.partition(" ")
        if kind == "part" and _PART.fullmatch(name) and "/" not in name:
            names.append(name)
    return names


def _remove_parts(target: Path, content: bytes) -> list[str]:
    """Remove the partial files of ``target`` that a killed run's lock file ``content`` names."""
    messages = []
    parent = target.parent if str(target.parent) else Path(".")
    for name in _parts_named(content):
        entry = parent / name
        if _PART.fullmatch(name).group(1) != target.name or not entry.is_file():
            continue
        size = size_text(entry)
        with contextlib.suppress(OSError):
            entry.unlink()
            messages.append(f"removed {entry} ({size}), the partial file of a killed run")
    return messages


#: ``.NAME.XXXXXXXX.part`` as :func:`_create_part` names them, and ``.NAME.lock``; a lock file of
#: innterpol's starts with LOCK_MAGIC and the holder's process id.
_PART = re.compile(r"\.(.+)\.[A-Za-z0-9_]{8}" + re.escape(PART_SUFFIX))
_LOCK = re.compile(r"\.(.+)" + re.escape(LOCK_SUFFIX))
LOCK_MAGIC = "innterpol-lock"


def lock_owner(name: str) -> str | None:
    """The target name whose lock file is called ``name`` (``.NAME.lock``), or None."""
    match = _LOCK.fullmatch(name)
    return match.group(1) if match else None


def is_lock_file(path: Path) -> bool:
    """Whether ``path`` is one of innterpol's lock files (it starts with LOCK_MAGIC): anything else is the user's."""
    try:
        with open(path, "rb") as handle:
            return path.is_file() and handle.read(len(LOCK_MAGIC)) == LOCK_MAGIC.encode()
    except OSError:
        return False


def glob_escape(text: str) -> str:
    import glob

    return glob.escape(text)


def _remove_if_free(lock: Path, owner: Path) -> list[str]:
    """Remove the stale lock file ``lock`` of ``owner``, and the partial files it names, if nobody holds it."""
    if str(lock) in _held:
        return []
    try:
        fd = _try_lock(lock)
    except OSError:
        return []
    if fd is None:
        return []
    try:
        return _remove_parts(owner, os.pread(fd, 65536, 0))
    except OSError:
        return []
    finally:
        _release(lock, fd)


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


def fixed_fields(values, specs, names, depth: int | None = None) -> str:
    """The values as blank-separated fixed-width fields: each is one blank and ``format(v, spec)``.

    Raises FieldOverflowError, naming the quantity, the depth (1-based) and the value, when a
    value would take more than its width (a negative sign or a three-digit exponent in an E field,
    too many digits in an F field, NaN): the row would then lose its fixed columns.
    """
    parts = [" " + _format(v, s) for v, s in zip(values, specs)]
    line = "".join(parts)
    if len(line) != sum(1 + _spec(s)[0] for s in specs) or "n" in line:
        for part, value, spec, name in zip(parts, values, specs, names):
            width = _spec(spec)[0]
            if len(part) != width + 1 or not math.isfinite(value):
                raise FieldOverflowError(name, depth, float(value), width)
    return line


def write_hdulist(hdulist, path) -> None:
    """Write an astropy HDUList atomically ("-" is stdout; a ``.gz`` name is gzipped)."""
    buffer = io.BytesIO()
    hdulist.writeto(buffer)
    data = buffer.getvalue()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with atomic_output(path, "wb") as handle:
        handle.write(data)
