"""Where ``predict`` and ``convert`` write: one file, stdout or a directory of files; checked
before any work and held under the output lock until the last write."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from .paramfile import BatchError


@dataclass(frozen=True)
class Target:
    """An output: ``path`` as given; ``stdout`` for "-"; ``directory`` for a path ending in "/"
    (or an existing directory), which gets one file per model."""

    path: str
    stdout: bool
    directory: bool

    @property
    def file(self) -> bool:
        return not (self.stdout or self.directory)

    @property
    def shown(self) -> str:
        return "stdout" if self.stdout else self.path


def plan(output: str, what: str = "-o/--output") -> Target:
    """The kind of output ``output`` names; an empty one is a BatchError naming ``what``."""
    if not output.strip():
        raise BatchError(f"{what} is empty: give a file, '-' for stdout, or a directory ending in '/'")
    stdout = output == "-"
    return Target(output, stdout, not stdout and (output.endswith(("/", "\\")) or Path(output).is_dir()))


@contextlib.contextmanager
def hold(target: Target, force: bool, warn=None):
    """Check that ``target`` can be written, then hold its output lock for the block: a second run
    on it fails at once, and a file that appeared meanwhile is refused (checked again, locked)."""
    from formats.transaction import output_lock

    if target.directory:
        check_writable_directory(target.path)
    elif target.file:
        check_writable_file(target.path, force)
    with output_lock(target.path, directory=target.directory, warn=warn):
        if target.file:
            check_writable_file(target.path, force)  # again, now that no other run can create it
        yield target


def check_writable_file(target: str, force: bool) -> None:
    """Refuse an existing file without ``force`` and a path that cannot be written, before any work.
    An existing FIFO or character device is written into (never replaced), without ``force``."""
    from formats.textio import stream_kind

    kind = stream_kind(target)
    if kind in ("a block device", "a socket"):
        raise BatchError(f"{target} is {kind}: innterpol writes models into files, FIFOs and character devices only")
    if kind:
        return
    path = Path(target)
    if path.is_dir():
        raise BatchError(f"{target} is a directory: end it with '/' to write one file per model into it")
    if path.exists() and not force:
        raise BatchError(f"{target} exists: pass --force to overwrite")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise BatchError(f"cannot write {target}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BatchError(f"cannot write {target}: directory {parent} is not writable")


def check_writable_directory(directory: str) -> None:
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise BatchError(f"{directory} is a file, not a directory")
    probe = path
    while not probe.exists():  # the nearest existing ancestor must let us create the rest
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise BatchError(f"cannot write into {directory}: {probe} is not a writable directory")
