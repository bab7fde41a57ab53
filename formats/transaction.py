"""All-or-nothing output: a file appears complete or not at all (:func:`atomic_output`), and a
target is written by one run at a time (:func:`output_lock`), which first finishes or removes
what killed runs left on it (:func:`recover`).  Directory batches commit as :mod:`formats.commit`
describes."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from . import lockfiles
from .commit import STAGING_PREFIX, crash_point, finish_exchange, finish_staged
from .errors import FormatError
from .textio import output_error, stream_kind, write_stdout, write_stream

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
                    write_stream(name, _pieces(staged))
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
    in the target's lock file when this process holds that lock (:func:`formats.lockfiles.note_part`)."""
    import secrets

    while True:
        tmp = str(directory / f".{target.name}.{secrets.token_hex(4)}{lockfiles.PART_SUFFIX}")
        lockfiles.note_part(target, os.path.basename(tmp))
        try:
            return os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), tmp
        except FileExistsError:
            continue


def write_hdulist(hdulist, path) -> None:
    """Write an astropy HDUList atomically ("-" is stdout; a ``.gz`` name is gzipped)."""
    import gzip

    buffer = io.BytesIO()
    hdulist.writeto(buffer)
    data = buffer.getvalue()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with atomic_output(path, "wb") as handle:
        handle.write(data)


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
    lock = lockfiles.lock_path(name, directory)
    if lockfiles.held_here(lock):
        yield
        return
    created = _create_directory(Path(name)) if directory else []
    try:
        with lockfiles.holding(lock, name, wait) as previous:
            if not directory:
                lockfiles.refuse_during_batch(Path(os.path.abspath(name)).parent, name)
            for message in recover(name, directory, previous):
                if warn is not None:
                    warn(message)
            yield
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


def recover(target: str | os.PathLike, directory: bool, previous: bytes = b"") -> list[str]:
    """Finish or remove what killed runs left on ``target``; one message per leftover.

    Call it only with the target's lock held (:func:`output_lock`), so that no live run owns
    them; ``previous`` is what the lock file held before this run took it.  Only what a journal of
    innterpol's names is touched: a directory's staging folders that carry their journal are
    rolled forward when their batch had committed and back otherwise (see :mod:`formats.commit`);
    a partial file is removed when a killed run's lock file names it; a lock file is removed only
    when it is one of innterpol's (it starts with :data:`formats.lockfiles.LOCK_MAGIC`) and nobody
    holds it.  Anything else that merely looks like a leftover (a folder named
    ``.innterpol-notes``, a ``.draft.abcdefgh.part``, an empty ``.x.lock``) is the user's and stays.
    """
    path = Path(target)
    messages = []
    if directory:
        if not path.is_dir():
            return messages
        messages += finish_exchange(path)
        for entry in sorted(path.iterdir()):
            if entry.name.startswith(STAGING_PREFIX) and entry.is_dir():
                message = finish_staged(entry, path)
                if message:
                    messages.append(message)
            elif (lockfiles.lock_owner(entry.name) and entry.name != lockfiles.DIRECTORY_LOCK
                  and lockfiles.is_lock_file(entry)):
                messages += lockfiles.remove_if_free(entry, path / lockfiles.lock_owner(entry.name))
        return messages
    return lockfiles.remove_parts(path, previous)


def write_text(path, text: str) -> None:
    """``text`` to ``path`` ("-" is stdout), atomically (:func:`atomic_output`)."""
    with atomic_output(path) as handle:
        handle.write(text)


def the_one_model(atmospheres, path, holder: str, hint: str = ": write to a directory"):
    """The single model of a format whose file holds one (``holder``: "a MARCS file"), or
    FormatError naming ``path``."""
    atmospheres = list(atmospheres)
    if len(atmospheres) != 1:
        raise FormatError(f"{holder} holds one model, not {len(atmospheres)}{hint}", str(path))
    return atmospheres[0]
