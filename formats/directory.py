"""One file per model in a directory: the files' names, and the batch that writes them all or
nothing (staged, then committed as :mod:`formats.commit` describes).  :mod:`formats` gives these
functions a format by name; here they take the :class:`~formats.registry.Format` itself."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import commit
from .aswritten import model_of, text_of
from .commit import crash_point
from .errors import FormatError, OutputBusyError
from .lockfiles import held_elsewhere
from .model import Atmosphere
from .registry import Format, TextFormat
from .textio import output_error
from .transaction import output_lock

#: What a file name from the parameters is made of (see :func:`model_filename`): all a batch keeps
#: of each model once its file is staged.
NAME_FIELDS = ("teff", "logg", "mh", "am", "cm", "vmic")


def model_filename(atm: Atmosphere, suffix: str) -> str:
    """A file name for one model, from its parameters: ``t05750_g+4.50_z-0.50_a+0.40.dat``.

    [C/M], microturbulence and geometry appear only when they would otherwise be ambiguous
    (see :func:`model_filenames`).
    """
    name = f"t{atm.teff:05.0f}_g{atm.logg:+.2f}_z{atm.mh:+.2f}_a{atm.am:+.2f}"
    if atm.cm:
        name += f"_c{atm.cm:+.2f}"
    return name + suffix


def model_filenames(atmospheres, suffix: str) -> list[str]:
    """Distinct file names for ``atmospheres``: :func:`model_filename`, plus the microturbulence
    where that tells clashing models apart, plus a counter for true duplicates (``_2``)."""
    from collections import Counter

    atmospheres = list(atmospheres)
    names = [model_filename(atm, suffix) for atm in atmospheres]
    vmics: dict[str, set] = {}
    for name, atm in zip(names, atmospheres):
        vmics.setdefault(name, set()).add(round(atm.vmic, 1))
    names = [
        name[: -len(suffix)] + f"_v{atm.vmic:.1f}" + suffix if len(vmics[name]) > 1 else name
        for name, atm in zip(names, atmospheres)
    ]
    seen: Counter = Counter()
    unique = []
    for name in names:
        seen[name] += 1
        unique.append(name if seen[name] == 1 else name[: -len(suffix)] + f"_{seen[name]}" + suffix)
    return unique


def check_targets(directory, names, force: bool) -> None:
    """FormatError if a file of a batch would replace a folder, or an existing file without ``force``."""
    directory = Path(directory)
    blocked = next((name for name in names if (directory / name).is_dir()), None)
    if blocked is not None:
        raise FormatError(f"{directory / blocked} is a directory: cannot replace it with a file")
    if not force:
        existing = [name for name in names if os.path.lexists(directory / name)]
        if existing:
            more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
            raise FormatError(f"{directory / existing[0]} exists{more}: pass --force to overwrite")


def write_directory_chunks(chunks, directory, fmt: Format, force: bool = False, progress=None, warn=None,
                           **options) -> list[str]:
    """:func:`formats.write_directory_chunks` of the format ``fmt``."""
    directory = Path(directory)
    with output_lock(directory, directory=True, warn=warn):
        return _write_batch(chunks, directory, fmt, force, progress, options)


def _write_batch(chunks, directory: Path, fmt: Format, force: bool, progress, options) -> list[str]:
    from collections import namedtuple

    import numpy as np

    staging = commit.start_staging(directory)
    try:
        # The journal first: a staging folder is innterpol's (and its recovery's to remove) only if
        # its journal says so; nothing else in the directory is ever touched by recovery.
        commit.write_journal(staging, {"state": "staging", "names": []})
        new, numbered = staging / "new", staging / "numbered"
        new.mkdir()
        names: list[str] = []
        parameters: list = []  # per chunk without names: the (N, 6) NAME_FIELDS of its models
        count = 0
        for models, chunk_names in chunks:
            if count == 0 and chunk_names is None:
                numbered.mkdir()
            if (chunk_names is None) != numbered.is_dir():
                raise ValueError("either every chunk of a batch names its models or none does")
            if chunk_names is None:
                parameters.append(np.array([[getattr(model_of(m), f) for f in NAME_FIELDS] for m in models], dtype=float))
            else:
                check_targets(directory, chunk_names, force)  # fail early; again for them all below
                names += chunk_names
            for i, atm in enumerate(models):
                name = None if chunk_names is None else chunk_names[i]
                path = numbered / str(count) if name is None else new / name
                if isinstance(fmt, TextFormat) and not options and not (name or "").endswith(".gz"):
                    # Text formats: the staging folder already makes the batch atomic, so skip the
                    # per-file temporary that fmt.write would add (half the syscalls).
                    with open(path, "w", encoding="ascii", newline="\n") as handle:
                        handle.write(text_of(atm, fmt))
                else:
                    fmt.write([model_of(atm)], path, **options)
                count += 1
                crash_point("stage")
                if progress is not None:
                    progress(count)
        if parameters:
            stand_in = namedtuple("Model", NAME_FIELDS)
            names = model_filenames((stand_in(*row) for part in parameters for row in part.tolist()), fmt.suffix)
            del parameters
        check_targets(directory, names, force)
        if numbered.is_dir():
            for i, name in enumerate(names):
                os.rename(numbered / str(i), new / name)
            numbered.rmdir()
        existed = [os.path.lexists(directory / name) for name in names]
        # A single-file run may have written into the directory while this batch staged (it
        # refuses once it sees this batch's lock, but it may have started before).
        busy = held_elsewhere(directory, names)
        if busy:
            raise OutputBusyError(f"another innterpol run is writing {busy} in it: nothing was written", str(directory))
        if not force and any(existed):
            appeared = names[existed.index(True)]
            raise FormatError(f"{appeared} appeared while this batch was being written: nothing was written "
                              f"(pass --force to overwrite)", str(directory))
        exchange = commit.can_exchange(directory, staging)
        if not exchange:
            commit.write_journal(staging, {"state": "commit", "names": names, "existed": existed})
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise output_error(exc, str(directory)) from None
        raise
    if exchange:
        commit.commit_by_exchange(staging, directory, names)
    else:
        commit.commit_by_moves(staging, directory, names, existed)
    return names
