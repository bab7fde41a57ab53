"""Readers and writers of model-atmosphere files, behind one registry.

Each format module exposes ``identify(head, name)``, ``read(path)`` (a list of
:class:`Atmosphere`) and ``write(atmospheres, path)``; they are registered in
:data:`FORMATS`.  Identification is by content, because ATLAS9 and MARCS files
both use ``.mod``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import FormatError, InnterpolError, MissingQuantityError
from .model import LAYER_UNITS, PARAMETER_NAMES, Atmosphere

__all__ = [
    "FORMATS", "Atmosphere", "FormatError", "InnterpolError", "MissingQuantityError", "LAYER_UNITS",
    "PARAMETER_NAMES", "identify", "read", "write", "get_format", "format_from_suffix", "is_multi_model",
]


@dataclass(frozen=True)
class FormatInfo:
    name: str
    module: str
    description: str

    def load(self):
        return importlib.import_module(f"formats.{self.module}")


#: The registry: every supported format, in identification order.
FORMATS: dict[str, FormatInfo] = {
    "atlas9": FormatInfo("atlas9", "atlas9", "ATLAS9 / Kurucz deck (single or concatenated)"),
    "marcs": FormatInfo("marcs", "marcs", "MARCS .mod / .mod.gz"),
    "phoenix": FormatInfo("phoenix", "phoenix", "PHOENIX-ACES .ATMOS.fits structure file"),
    "fits": FormatInfo("fits", "fitstable", "innterpol FITS table (one row per model)"),
    "moog": FormatInfo("moog", "moog", "MOOG model atmosphere, KURUCZ layout"),
}


def known_formats() -> str:
    return ", ".join(FORMATS)


def get_format(name: str):
    """The module of format ``name``, or FormatError listing the known ones."""
    info = FORMATS.get(name.lower())
    if info is None:
        raise FormatError(f"unknown format {name!r}; known formats: {known_formats()}")
    return info.load()


def identify_bytes(head: bytes, name: str = "") -> list[str]:
    """Names of every format whose identifier accepts ``head`` (identifiers never raise)."""
    matches = []
    for info in FORMATS.values():
        try:
            if info.load().identify(head, name):
                matches.append(info.name)
        except Exception:  # an identifier must never break detection
            continue
    return matches


def identify(path) -> str:
    """The one format of the file at ``path`` ("-" is stdin, which is then buffered)."""
    from .textio import read_bytes

    name = str(path)
    data = read_bytes(path)
    if not data.strip():
        raise FormatError("file is empty", name)
    matches = identify_bytes(data[:65536], name)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise FormatError(f"unknown format (content matches none of: {known_formats()})", name, 1)
    raise FormatError(f"ambiguous format: matches {', '.join(matches)}; pass the format explicitly", name)


def read(path, format: str | None = None) -> list[Atmosphere]:
    """All models in ``path``; the format is detected from content unless given."""
    if str(path) == "-":
        # stdin can be read once: buffer it, then dispatch on the buffer.
        import tempfile

        from .textio import read_bytes

        data = read_bytes("-")
        with tempfile.NamedTemporaryFile(suffix=".stdin", delete=False) as tmp:
            tmp.write(data)
        try:
            models = read(tmp.name, format or _identify_data(data, "<stdin>"))
            for m in models:
                m.source = "<stdin>"
            return models
        finally:
            Path(tmp.name).unlink(missing_ok=True)
    if not Path(path).exists():
        raise FormatError("no such file", str(path))
    fmt = format or identify(path)
    module = get_format(fmt)
    try:
        return module.read(path)
    except (InnterpolError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a damaged file that a reader's own checks did not foresee (astropy's FITS cards, ...)
        text = " ".join(str(exc).split())[:160] or "unreadable"
        raise FormatError(f"not a readable {fmt} file ({text})", str(path)) from None


def _identify_data(data: bytes, name: str) -> str:
    matches = identify_bytes(data[:65536], name)
    if len(matches) != 1:
        raise FormatError(
            f"cannot tell the format ({'none' if not matches else ', '.join(matches)} of {known_formats()} match)", name
        )
    return matches[0]


def write(atmospheres, path, format: str, **options) -> None:
    """Write ``atmospheres`` to ``path`` ("-" is stdout) in ``format``; ``options`` go to the writer
    (``provenance=`` for "fits")."""
    get_format(format).write(list(atmospheres), path, **options)


def is_multi_model(format: str) -> bool:
    """Whether one file of ``format`` can hold many models."""
    return bool(getattr(get_format(format), "MULTI_MODEL", False))


def format_from_suffix(path) -> str | None:
    """A format guessed from a file name, for choosing an *output* format only."""
    name = str(path).lower()
    if name.endswith((".fits", ".fit", ".fits.gz")):
        return "phoenix" if ".atmos." in name else "fits"
    if name.endswith((".dat", ".krz", ".atm", ".kurucz")):
        return "atlas9"
    if name.endswith(".mod.gz"):
        return "marcs"
    if name.endswith(".moog"):
        return "moog"
    return None


#: File-name endings used for directory output, by format.
OUTPUT_SUFFIX = {"atlas9": ".dat", "marcs": ".mod", "phoenix": ".ATMOS.fits", "fits": ".fits", "moog": ".moog"}


def model_filename(atm: Atmosphere, format: str) -> str:
    """A file name for one model, from its parameters: ``t05750_g+4.50_z-0.50_a+0.40.dat``.

    [C/M], microturbulence and geometry appear only when they would otherwise be ambiguous
    (see :func:`model_filenames`).
    """
    name = f"t{atm.teff:05.0f}_g{atm.logg:+.2f}_z{atm.mh:+.2f}_a{atm.am:+.2f}"
    if atm.cm:
        name += f"_c{atm.cm:+.2f}"
    return name + OUTPUT_SUFFIX.get(format, "." + format)


def model_filenames(atmospheres, format: str) -> list[str]:
    """Distinct file names for ``atmospheres``: :func:`model_filename`, plus the microturbulence
    where that tells clashing models apart, plus a counter for true duplicates (``_2``)."""
    from collections import Counter

    atmospheres = list(atmospheres)
    suffix = OUTPUT_SUFFIX.get(format, "." + format)
    names = [model_filename(atm, format) for atm in atmospheres]
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


def write_directory(atmospheres, directory, format: str, force: bool = False, names: list[str] | None = None,
                    progress=None, warn=None, **options) -> list[Path]:
    """Write each model to its own file in ``directory`` (created if missing); all or nothing, even
    if the process is killed at any moment.

    Existing files are an error unless ``force``.  ``names`` default to :func:`model_filenames`;
    ``progress`` is called with the number of files written so far; ``warn`` gets one message per
    leftover of a killed run that is finished or removed first.  The directory's lock is held
    throughout (another run on it is an error: :func:`formats.textio.output_lock`).

    How the batch commits (a write-ahead journal, as in a database):

    1. every file is written into a staging folder ``DIRECTORY/.innterpol-XXXX/new/``;
    2. ``journal.json`` is written (atomically) listing the names and which targets existed:
       from this moment the batch is committed;
    3. each target that exists is moved into ``old/``, and the new file moved onto it.

    A run that dies before (2) leaves only its staging folder, which the next run on the directory
    removes: the old state.  A run that dies after (2) is finished by the next run (step 3 again
    for the files not yet moved): the complete new state.  A failure during (3) in a live run
    (a file system error, Ctrl-C) moves the backups in ``old/`` back and removes the new files,
    after marking the journal as rolling back, so that a crash during the roll-back is rolled
    back too.  :func:`write_directory_chunks` does the same for a batch that arrives in chunks.
    """
    atmospheres = list(atmospheres)
    names = list(names) if names is not None else model_filenames(atmospheres, format)
    written = write_directory_chunks([(atmospheres, names)], directory, format, force, progress, warn, **options)
    return [Path(directory) / name for name in written]


def write_directory_chunks(chunks, directory, format: str, force: bool = False, progress=None, warn=None,
                           **options) -> list[str]:
    """:func:`write_directory` for a batch that arrives in chunks, with one chunk in memory at a time.

    ``chunks`` yields ``(models, names)``: the file names of the chunk's models, or None in every
    chunk, for names from the parameters (:func:`model_filenames` over the whole batch, given once
    the last chunk is in; until then the files are staged under their numbers).  Each chunk's
    files are staged as it comes; the directory changes only once the last one is in, as in
    :func:`write_directory`, so that an exception from ``chunks`` (a model failing its check)
    leaves it as it was.  Returns the names of the files written.
    """
    from .textio import output_lock

    directory = Path(directory)
    with output_lock(directory, directory=True, warn=warn):
        return _write_directory(chunks, directory, format, force, progress, options)


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


#: What a file name from the parameters is made of (see :func:`model_filename`): all a batch keeps
#: of each model once its file is staged.
_NAME_FIELDS = ("teff", "logg", "mh", "am", "cm", "vmic")


def _write_directory(chunks, directory: Path, format: str, force: bool, progress, options) -> list[str]:
    import shutil
    import tempfile
    from collections import namedtuple

    import numpy as np

    from .textio import STAGING_PREFIX, crash_point, output_error

    try:
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=directory))
    except OSError as exc:
        raise output_error(exc, str(directory)) from None
    try:
        # The journal first: a staging folder is innterpol's (and its recovery's to remove) only if
        # its journal says so; nothing else in the directory is ever touched by recovery.
        _write_journal(staging, {"state": "staging", "names": []})
        new, numbered = staging / "new", staging / "numbered"
        new.mkdir()
        module = get_format(format)
        text_writer = getattr(module, "format_model", None)
        names: list[str] = []
        parameters: list = []  # per chunk without names: the (N, 6) _NAME_FIELDS of its models
        count = 0
        for models, chunk_names in chunks:
            if count == 0 and chunk_names is None:
                numbered.mkdir()
            if (chunk_names is None) != numbered.is_dir():
                raise ValueError("either every chunk of a batch names its models or none does")
            if chunk_names is None:
                parameters.append(np.array([[getattr(m, f) for f in _NAME_FIELDS] for m in models], dtype=float))
            else:
                check_targets(directory, chunk_names, force)  # fail early; again for them all below
                names += chunk_names
            for i, atm in enumerate(models):
                name = None if chunk_names is None else chunk_names[i]
                path = numbered / str(count) if name is None else new / name
                if text_writer is not None and not options and not (name or "").endswith(".gz"):
                    # Text formats: the staging folder already makes the batch atomic, so skip the
                    # per-file temporary that module.write would add (half the syscalls).
                    with open(path, "w", encoding="ascii", newline="\n") as handle:
                        handle.write(text_writer(atm))
                else:
                    module.write([atm], path, **options)
                count += 1
                crash_point("stage")
                if progress is not None:
                    progress(count)
        if parameters:
            stand_in = namedtuple("Model", _NAME_FIELDS)
            names = model_filenames((stand_in(*row) for part in parameters for row in part.tolist()), format)
            del parameters
        check_targets(directory, names, force)
        if numbered.is_dir():
            for i, name in enumerate(names):
                os.rename(numbered / str(i), new / name)
            numbered.rmdir()
        existed = [os.path.lexists(directory / name) for name in names]
        # A single-file run may have written into the directory while this batch staged (it
        # refuses once it sees this batch's lock, but it may have started before).
        from .textio import OutputBusyError, held_elsewhere

        busy = held_elsewhere(directory, names)
        if busy:
            raise OutputBusyError(f"another innterpol run is writing {busy} in it: nothing was written", str(directory))
        if not force and any(existed):
            appeared = names[existed.index(True)]
            raise FormatError(f"{appeared} appeared while this batch was being written: nothing was written "
                              f"(pass --force to overwrite)", str(directory))
        exchange = _can_exchange(directory, staging)
        if not exchange:
            _write_journal(staging, {"state": "commit", "names": names, "existed": existed})
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise output_error(exc, str(directory)) from None
        raise
    if exchange:
        try:
            _exchange_commit(staging, directory, names)
        except OSError as exc:
            raise FormatError(f"cannot write: {exc.strerror or exc}; nothing was changed", str(directory)) from None
        return names
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
    return names


def write_chunks(chunks, path, format: str, **options) -> None:
    """Write every model of ``chunks`` (an iterable of lists of models) into the one file ``path``
    ("-" is stdout) in ``format``, with one chunk in memory at a time, all or nothing: nothing
    reaches ``path`` before the last chunk is in, so that an exception from ``chunks`` (a model
    failing its check) or a kill leaves it as it was (:func:`formats.textio.atomic_output`)."""
    module = get_format(format)
    if hasattr(module, "write_chunks"):
        module.write_chunks(chunks, path, **options)
        return
    text_writer = getattr(module, "format_model", None)
    if text_writer is None or options or not getattr(module, "MULTI_MODEL", False):
        module.write([m for models in chunks for m in models], path, **options)
        return
    from .textio import atomic_output

    # As the text writers write many models: their decks one after the other.
    with atomic_output(path) as handle:
        for models in chunks:
            handle.write("".join(text_writer(atm) for atm in models))


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
            import shutil

            shutil.rmtree(probe, ignore_errors=True)
    return _exchange_ok[device]


def _can_exchange(directory: Path, staging: Path) -> bool:
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


def _exchange_commit(staging: Path, directory: Path, names: list[str]) -> None:
    """Commit a staged batch in one step for readers: build the directory's new version beside it
    (hard links of every file that stays, the new files moved in), then swap the two with
    ``renameat2(RENAME_EXCHANGE)``, and remove the old version.  A journal beside them,
    ``.NAME.innterpol-XXXXXXXX.journal``, names the new version and the directory's inode, so that
    the next run on a killed batch removes the new version (not swapped yet: the old state) or the
    old one (swapped: the new state); the files are never a mix."""
    import json
    import shutil
    import stat
    import tempfile

    from .textio import OutputBusyError, crash_point, held_elsewhere, is_lock_file, lock_owner

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
        _write_file_atomically(journal, json.dumps(record))
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
    _write_file_atomically(journal, json.dumps(dict(record, state="swapped")))
    crash_point("cleanup")
    shutil.rmtree(version, ignore_errors=True)  # the old version now, with the staging folder in it
    journal.unlink()


def _write_file_atomically(path: Path, text: str) -> None:
    part = path.with_name(path.name + ".tmp")
    part.write_text(text)
    os.replace(part, path)


def finish_exchange(directory: Path) -> list[str]:
    """Finish the exchange commits that killed runs left beside ``directory`` (their journals
    name them; see :func:`_exchange_commit`); one message each.  Only with the directory's lock held."""
    import json
    import shutil

    from .textio import glob_escape

    directory = Path(os.path.abspath(directory))
    parent = directory.parent
    messages = []
    pattern = f".{glob_escape(directory.name)}.innterpol-*.journal"
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


def _write_journal(staging: Path, journal: dict) -> None:
    import json

    from .textio import crash_point

    part = staging / "journal.json.tmp"
    part.write_text(json.dumps(dict(journal, innterpol=JOURNAL_VERSION)))
    crash_point("journal-write")
    os.replace(part, staging / "journal.json")


def _move_staged(staging: Path, directory: Path, names: list[str]) -> None:
    """Step 3 of :func:`write_directory`; run again after a crash it finishes what is left."""
    from .textio import crash_point

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
    """Undo step 3: the backups go back, new files whose targets did not exist are removed."""
    from .textio import crash_point

    _write_journal(staging, {"state": "rollback", "names": names, "existed": existed})
    new, old = staging / "new", staging / "old"
    for name, was in zip(names, existed):
        target = directory / name
        if os.path.lexists(old / name):
            os.replace(old / name, target)
        elif not was and not os.path.lexists(new / name) and os.path.lexists(target):
            os.unlink(target)
        crash_point("rollback")
    import shutil

    shutil.rmtree(staging, ignore_errors=True)


#: Marks a staging folder's journal as innterpol's (see :func:`write_directory`).
JOURNAL_VERSION = 1


def finish_staged(staging: Path, directory: Path) -> str | None:
    """Finish or undo the batch a killed run left in ``staging`` (see :func:`write_directory`) and
    remove the folder; says what was done.  A folder without innterpol's journal is not ours: it
    is left alone (None).  Only with the directory's lock held."""
    import json
    import shutil

    from .textio import size_text

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


def derived_quantities(atm: Atmosphere, format: str) -> dict:
    """Layer quantities (name: values) that writing ``atm`` as ``format`` derives or fills, absent from the source.

    Raises MissingQuantityError, naming the quantity, when the format needs one that cannot be derived.
    """
    complete = getattr(get_format(format), "_complete_layers", None)
    if complete is None:
        return {}
    return {name: values for name, values in complete(atm).items() if name not in atm.layers}
