"""How a batch of files commits into a directory, all or nothing even if the process is killed
at any moment, and how the next run finishes or undoes what a killed batch left.

A batch is staged in a folder ``DIRECTORY/.innterpol-XXXX/`` (``new/`` holds the files) whose
``journal.json`` says how far it got; it then commits in one of two ways:

* by exchange, where the file system can swap two folders in one step (Linux ``renameat2``): the
  directory's new version is built beside it and swapped in, so that readers never see a mix;
* by moves otherwise: once the journal says "commit", each target that exists is moved into
  ``old/`` and the new file moved onto it; a failure moves the backups back.

:func:`crash_point` marks every step, for the tests that kill a batch there.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from .errors import FormatError, OutputBusyError
from .lockfiles import held_elsewhere, is_lock_file, lock_owner, size_text
from .textio import output_error

#: Staging folders of a batch start so, inside the output directory.
STAGING_PREFIX = ".innterpol-"
#: Marks a journal as innterpol's: recovery touches nothing that a journal of this version does not name.
JOURNAL_VERSION = 1

_crash_hits: dict[str, int] = {}


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


def replace_file(path: Path, text: str, crash_label: str | None = None) -> None:
    """Write ``text`` to ``PATH.tmp``, then rename it onto ``path``: a reader of ``path`` sees the
    old content or the new, never a part (``crash_label`` names the moment in between)."""
    part = path.with_name(path.name + ".tmp")
    part.write_text(text)
    if crash_label is not None:
        crash_point(crash_label)
    os.replace(part, path)


def start_staging(directory: Path) -> Path:
    """A new, empty staging folder in ``directory`` (write its journal first: :func:`write_journal`)."""
    import tempfile

    try:
        return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=directory))
    except OSError as exc:
        raise output_error(exc, str(directory)) from None


def write_journal(staging: Path, journal: dict) -> None:
    """The staging folder's journal: ``state`` ("staging", "commit" or "rollback"), the file
    ``names`` and whether each target ``existed``.  A staging folder is innterpol's (and its
    recovery's to remove) only once its journal says so."""
    replace_file(staging / "journal.json", json.dumps(dict(journal, innterpol=JOURNAL_VERSION)), "journal-write")


def commit_by_moves(staging: Path, directory: Path, names: list[str], existed: list[bool]) -> None:
    """Commit a staged batch whose journal says "commit": move the files in, or, on a failure,
    put everything back (FormatError: nothing was changed)."""
    crash_point("journal")
    try:
        _move_staged(staging, directory, names)
    except BaseException as exc:
        try:
            _roll_back(staging, directory, names, existed)
        except OSError:
            raise output_error(exc if isinstance(exc, OSError) else OSError(str(exc)), str(directory)) from None
        if isinstance(exc, OSError):
            raise FormatError(f"cannot write: {exc.strerror or exc}; nothing was changed", str(directory)) from None
        raise
    crash_point("cleanup")
    shutil.rmtree(staging, ignore_errors=True)


def _move_staged(staging: Path, directory: Path, names: list[str]) -> None:
    """Move the staged files onto their targets, the targets into ``old/``; run again after a
    crash it finishes what is left."""
    new, old = staging / "new", staging / "old"
    old.mkdir(exist_ok=True)
    for name in names:
        staged, target = new / name, directory / name
        if not os.path.lexists(staged):
            continue  # moved before the crash
        if os.path.lexists(target) and not os.path.lexists(old / name):
            os.rename(target, old / name)
            crash_point("backup")
        os.replace(staged, target)
        crash_point("commit")


def _roll_back(staging: Path, directory: Path, names: list[str], existed: list[bool]) -> None:
    """Undo :func:`_move_staged`: the backups go back, new files whose targets did not exist are removed."""
    write_journal(staging, {"state": "rollback", "names": names, "existed": existed})
    new, old = staging / "new", staging / "old"
    for name, was in zip(names, existed):
        target = directory / name
        if os.path.lexists(old / name):
            os.replace(old / name, target)
        elif not was and not os.path.lexists(new / name) and os.path.lexists(target):
            os.unlink(target)
        crash_point("rollback")
    shutil.rmtree(staging, ignore_errors=True)


def finish_staged(staging: Path, directory: Path) -> str | None:
    """Finish or undo the batch a killed run left in ``staging`` and remove the folder; says what
    was done.  A folder without innterpol's journal is not ours: it is left alone (None).  Only
    with the directory's lock held."""
    entries = sorted(p.name for p in staging.iterdir()) if staging.is_dir() else []
    if not entries:  # killed between creating the folder and writing its journal: nothing in it
        with contextlib.suppress(OSError):
            staging.rmdir()
            return f"removed {staging}, the empty staging folder of a batch killed as it started"
        return None
    # Killed while the first journal was being written: only its temporary is there.
    first = entries == ["journal.json.tmp"]
    try:
        journal = json.loads((staging / ("journal.json.tmp" if first else "journal.json")).read_text())
        if not isinstance(journal, dict) or journal.get("innterpol") != JOURNAL_VERSION:
            return None
        if first and journal.get("state") != "staging":
            return None
        names, state = [str(n) for n in journal["names"]], str(journal["state"])
        existed = [bool(e) for e in journal.get("existed", [False] * len(names))]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if any("/" in n or n in ("", ".", "..") for n in names):
        return None
    if state == "staging":
        size = size_text(staging)
        shutil.rmtree(staging, ignore_errors=True)
        return f"removed {staging} ({size}), the staging folder of a batch killed before it was complete"
    if state == "commit":
        _move_staged(staging, directory, names)
        shutil.rmtree(staging, ignore_errors=True)
        return f"finished the batch of {len(names)} files a killed run had committed in {directory} (from {staging.name})"
    _roll_back(staging, directory, names, existed)
    return f"rolled back the batch a killed run was undoing in {directory} (from {staging.name}): the previous files are back"


# ------------------------------------------------------------------ the commit by exchange
#: ``renameat2`` flag: swap two paths in one step (Linux 3.15+, most local file systems).
_RENAME_EXCHANGE = 2
_exchange_ok: dict[int, bool] = {}  # device -> whether RENAME_EXCHANGE works there


def _renameat2_exchange(a: Path, b: Path) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    function = getattr(libc, "renameat2", None)
    if function is None:
        raise OSError(38, "renameat2 is not available")
    at_fdcwd = -100
    if function(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _exchange_supported(parent: Path) -> bool:
    """Whether two folders in ``parent`` can be swapped in one step (probed once per file system)."""
    import sys
    import tempfile

    if not sys.platform.startswith("linux") or os.environ.get("INNTERPOL_COMMIT") == "moves":
        return False
    device = os.stat(parent).st_dev
    if device not in _exchange_ok:
        probe = Path(tempfile.mkdtemp(prefix=".innterpol-probe-", dir=parent))
        try:
            (probe / "a").mkdir()
            (probe / "b").mkdir()
            _renameat2_exchange(probe / "a", probe / "b")
            _exchange_ok[device] = True
        except OSError:
            _exchange_ok[device] = False
        finally:
            shutil.rmtree(probe, ignore_errors=True)
    return _exchange_ok[device]


def can_exchange(directory: Path, staging: Path) -> bool:
    """Whether a batch can commit by exchange: only plain files in ``directory`` (a folder
    cannot be hard-linked into the new version), a writable parent on a file system that swaps."""
    parent = directory.resolve().parent
    try:
        if not os.access(parent, os.W_OK | os.X_OK):
            return False
        with os.scandir(directory) as entries:
            if any(e.is_dir(follow_symlinks=False) for e in entries if e.name != staging.name):
                return False
        return _exchange_supported(parent)
    except OSError:
        return False


def commit_by_exchange(staging: Path, directory: Path, names: list[str]) -> None:
    """Commit a staged batch in one step for readers (FormatError if the file system fails:
    nothing was changed); see :func:`_exchange`."""
    try:
        _exchange(staging, directory, names)
    except OSError as exc:
        raise FormatError(f"cannot write: {exc.strerror or exc}; nothing was changed", str(directory)) from None


def _exchange(staging: Path, directory: Path, names: list[str]) -> None:
    """Build the directory's new version beside it (hard links of every file that stays, the new
    files moved in), then swap the two with ``renameat2(RENAME_EXCHANGE)``, and remove the old
    version.  A journal beside them, ``.NAME.innterpol-XXXXXXXX.journal``, names the new version
    and the directory's inode, so that the next run on a killed batch removes the new version (not
    swapped yet: the old state) or the old one (swapped: the new state); the files are never a mix."""
    import stat
    import tempfile

    directory = directory.resolve()
    parent = directory.parent
    staged_names = set(names)
    with os.scandir(directory) as scan:
        keep = [e.name for e in scan if e.name != staging.name and e.name not in staged_names]
    # A single-file run writing any file here would land in the old version and be lost.
    owners = [lock_owner(n) for n in keep if lock_owner(n) and is_lock_file(directory / n)]
    busy = held_elsewhere(directory, owners)
    if busy:
        raise OutputBusyError(f"another innterpol run is writing {busy} in it: nothing was written", str(directory))
    version = Path(tempfile.mkdtemp(prefix=f".{directory.name}.innterpol-", dir=parent))
    journal = version.with_name(version.name + ".journal")
    record = {"innterpol": JOURNAL_VERSION, "state": "linking", "directory": directory.name, "version": version.name,
              "inode": os.stat(directory).st_ino}
    try:
        replace_file(journal, json.dumps(record))
        for name in keep:
            os.link(directory / name, version / name, follow_symlinks=False)
        for name in names:
            os.rename(staging / "new" / name, version / name)
        os.chmod(version, stat.S_IMODE(os.stat(directory).st_mode))
        crash_point("exchange")
        _renameat2_exchange(version, directory)
    except BaseException:
        # Not swapped: the directory is as it was.
        shutil.rmtree(version, ignore_errors=True)
        with contextlib.suppress(OSError):
            journal.unlink()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    crash_point("swapped")
    replace_file(journal, json.dumps(dict(record, state="swapped")))
    crash_point("cleanup")
    shutil.rmtree(version, ignore_errors=True)  # the old version now, with the staging folder in it
    journal.unlink()


def finish_exchange(directory: Path) -> list[str]:
    """Finish the exchange commits that killed runs left beside ``directory`` (their journals
    name them; see :func:`_exchange`); one message each.  Only with the directory's lock held."""
    import glob

    directory = Path(os.path.abspath(directory))
    parent = directory.parent
    messages = []
    pattern = f".{glob.escape(directory.name)}.innterpol-*.journal"
    for journal in sorted(parent.glob(pattern)):
        try:
            record = json.loads(journal.read_text())
            if not isinstance(record, dict) or record.get("innterpol") != JOURNAL_VERSION:
                continue
            if record.get("directory") != directory.name:
                continue
            version = parent / str(record["version"])
            inode = int(record["inode"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if version.parent != parent or not version.name.startswith(f".{directory.name}.innterpol-"):
            continue
        swapped = record.get("state") == "swapped" or os.stat(directory).st_ino != inode
        shutil.rmtree(version, ignore_errors=True)
        with contextlib.suppress(OSError):
            journal.unlink()
        messages.append(f"finished the batch a killed run had swapped into {directory}: its new files are in place"
                        if swapped else f"removed the new version of {directory} that a killed run had not swapped "
                        f"in yet: the previous files are as they were")
    return messages
