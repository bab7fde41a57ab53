"""innterpol's lock files: taking and holding them (re-entrant within a process), what they
record (the holder's process id, the partial files of the write in progress), whether another
run holds one, and removing the stale lock file of a killed run with the partial files it names.

The lock of a file ``NAME`` is ``.NAME.lock`` beside it; the lock of a directory is
``.innterpol.lock`` inside it.  Only a file that starts with :data:`LOCK_MAGIC` is ever written
or removed: anything else of that name is the user's and is only locked.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputBusyError
from .textio import output_error

#: Temporary files of :func:`formats.transaction.atomic_output` end so: ``.NAME.RANDOM.part``.
PART_SUFFIX = ".part"
#: The lock of a directory lies inside it; the lock of a file ``NAME`` beside it, ``.NAME.lock``.
DIRECTORY_LOCK = ".innterpol.lock"
LOCK_SUFFIX = ".lock"
#: A lock file of innterpol's starts with this and the holder's process id.
LOCK_MAGIC = "innterpol-lock"
#: ``.NAME.XXXXXXXX.part`` as :func:`formats.transaction.atomic_output` names them, and ``.NAME.lock``.
_PART = re.compile(r"\.(.+)\.[A-Za-z0-9_]{8}" + re.escape(PART_SUFFIX))
_LOCK = re.compile(r"\.(.+)" + re.escape(LOCK_SUFFIX))


@dataclass
class _Held:
    fd: int
    ours: bool  # the file is innterpol's (empty or LOCK_MAGIC when taken): written, and removed on release


_held: dict[str, _Held] = {}  # lock file -> how this process holds it


def lock_path(target: str | os.PathLike, directory: bool) -> Path:
    path = Path(os.path.abspath(target))
    return path / DIRECTORY_LOCK if directory else path.parent / f".{path.name}{LOCK_SUFFIX}"


def held_here(lock: Path) -> bool:
    """Whether this process holds the lock file ``lock``."""
    return str(lock) in _held


@contextlib.contextmanager
def holding(lock: Path, name: str, wait: float = 0.0):
    """Hold the lock file ``lock`` of the output ``name`` for the block, waiting up to ``wait``
    seconds for another run to let it go (then OutputBusyError).  Yields what the lock file held
    before this run took it.  Not re-entrant: see :func:`held_here`."""
    import time

    deadline = time.monotonic() + wait
    while True:
        try:
            fd = _try_lock(lock)
        except OSError as exc:
            raise output_error(exc, name) from None
        if fd is not None or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if fd is None:
        raise OutputBusyError(f"another innterpol run is writing it{_holder(lock)}: wait for it to finish, "
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
    _held[str(lock)] = _Held(fd, ours)
    try:
        yield previous
    finally:
        _release(lock, fd, remove=_held.pop(str(lock)).ours)


def note_part(target: Path, part: str) -> None:
    """Name the partial file ``part`` of ``target`` in the target's lock file, when this process
    holds it: the journal by which the next run knows the leftover of a killed run as ours (and
    nothing else that merely looks like one)."""
    held = _held.get(str(lock_path(target, False)))
    if held is not None and held.ours:
        os.write(held.fd, f"part {part}\n".encode())


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


def _held_by_another(lock: Path) -> bool:
    """Whether another process holds ``lock`` (tested with a shared lock, which takes nothing away)."""
    import fcntl

    if held_here(lock):
        return False
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def refuse_during_batch(directory: Path, name: str) -> None:
    """OutputBusyError if a directory batch of another run holds ``directory``: a single file
    written into it meanwhile would be replaced by, or mixed with, the batch."""
    lock = directory / DIRECTORY_LOCK
    if _held_by_another(lock):
        raise OutputBusyError(f"another innterpol run is writing a batch into {directory}{_holder(lock)}: wait for it "
                              f"to finish, or choose another output", name)


def held_elsewhere(directory: Path, names) -> str | None:
    """The first of ``names`` in ``directory`` whose file lock another run holds (a single-file
    write in progress), or None; a batch checks this before it commits."""
    for name in names:
        if _held_by_another(lock_path(directory / name, False)):
            return name
    return None


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


def parts_named(content: bytes) -> list[str]:
    """The partial files a lock file's content names (see :func:`note_part`)."""
    if not content.startswith(LOCK_MAGIC.encode()):
        return []
    names = []
    for line in content.decode("ascii", "replace").splitlines()[1:]:
        kind, _, name = line.partition(" ")
        if kind == "part" and _PART.fullmatch(name) and "/" not in name:
            names.append(name)
    return names


def remove_parts(target: Path, content: bytes) -> list[str]:
    """Remove the partial files of ``target`` that a killed run's lock file ``content`` names."""
    messages = []
    parent = target.parent if str(target.parent) else Path(".")
    for name in parts_named(content):
        entry = parent / name
        if _PART.fullmatch(name).group(1) != target.name or not entry.is_file():
            continue
        size = size_text(entry)
        with contextlib.suppress(OSError):
            entry.unlink()
            messages.append(f"removed {entry} ({size}), the partial file of a killed run")
    return messages


def remove_if_free(lock: Path, owner: Path) -> list[str]:
    """Remove the stale lock file ``lock`` of ``owner``, and the partial files it names, if nobody holds it."""
    if held_here(lock):
        return []
    try:
        fd = _try_lock(lock)
    except OSError:
        return []
    if fd is None:
        return []
    try:
        return remove_parts(owner, os.pread(fd, 65536, 0))
    except OSError:
        return []
    finally:
        _release(lock, fd)


def size_text(path: Path) -> str:
    """The size of a file or folder, as the recovery messages give it."""
    if path.is_dir():
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    else:
        size = path.stat().st_size
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.0f} kB"
