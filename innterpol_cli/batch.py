"""Batches for ``innterpol predict``: the parameter CSV, output names, and writing many models.

The CSV has a header row and one model per row.  Columns (case-insensitive, surrounding
spaces ignored):

=========  =================================================  ==========================
column     meaning                                            also accepted as
=========  =================================================  ==========================
teff       effective temperature [K], required                t_eff
logg       log10 surface gravity [cgs], required               log_g
mh         [M/H] [dex]; 0 if absent                           feh, m_h, [M/H], [Fe/H]
am         [alpha/M] [dex]; 0 if absent                       alpha, a_m, [a/M], [alpha/M]
cm         [C/M] [dex]; 0 if absent                           c_m, [C/M]
name       output file name (optional)                        --
=========  =================================================  ==========================

Other columns are ignored (with a warning).  Blank lines and lines starting with ``#`` are
skipped; "row N" in messages is the N-th data row after the header.  A column for an axis the
grid lacks must be all zeros.  A ``name`` gets the format's suffix (``.dat``, ``.mod``,
``.fits``) unless it has one; without a ``name`` column, file names come from the parameters
(``t05750_g+4.50_z+0.00_a+0.00.dat``, see :func:`formats.model_filenames`).

The whole file is validated before anything is written: the first problem is an error, or,
with ``skip_invalid``, bad rows are dropped and listed.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from formats.errors import InnterpolError

from .coverage import AXES, LABELS, REQUIRED, missing_axis, value_problem

#: Accepted column names (lower case, spaces removed) and the parameter each one means.
ALIASES = {
    "teff": "teff", "t_eff": "teff",
    "logg": "logg", "log_g": "logg",
    "mh": "mh", "feh": "mh", "m_h": "mh", "fe_h": "mh", "[m/h]": "mh", "[fe/h]": "mh",
    "am": "am", "alpha": "am", "a_m": "am", "alpha_m": "am", "[a/m]": "am", "[alpha/m]": "am",
    "cm": "cm", "c_m": "cm", "[c/m]": "cm",
    "name": "name",
}


class BatchError(InnterpolError):
    """A parameter file that cannot be used: a missing column, a bad row, clashing names."""


@dataclass
class Batch:
    """Validated rows of a parameter file."""

    params: np.ndarray  # (N, P) on the grid's axes
    rows: list[int]  # data-row number (1-based) of each kept row
    names: list[str] | None  # the ``name`` column, when given
    source: str
    problems: list[str] = field(default_factory=list)  # one message per dropped row (skip_invalid)
    ignored_columns: list[str] = field(default_factory=list)

    def drop(self, keep: np.ndarray, problems: list[str]) -> None:
        """Keep only the rows where ``keep`` is true, recording why the others went."""
        self.problems += problems
        self.params, self.rows = self.params[keep], [r for r, k in zip(self.rows, keep) if k]
        if self.names is not None:
            self.names = [n for n, k in zip(self.names, keep) if k]


#: A plain decimal number (Python's float() also takes "5_777", "inf" and non-ASCII digits).
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_number(text: str, what: str) -> float:
    """A finite float from ``text``, written as a plain decimal number, or BatchError naming
    ``what``.  -0 is 0 (no "-0.00" in names and titles)."""
    stripped = text.strip() if isinstance(text, str) else ""
    if not stripped:
        raise BatchError(f"{what}: empty")
    if stripped.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise BatchError(f"{what}: {stripped!r} is not finite")
    if not _DECIMAL.fullmatch(stripped):
        raise BatchError(f"{what}: {text!r} is not a number")
    value = float(stripped)
    if not math.isfinite(value):
        raise BatchError(f"{what}: {stripped!r} is not finite")
    return value + 0.0


def check_value(key: str, value: float, what: str) -> None:
    """BatchError naming ``what`` for a value no atmosphere has (:func:`coverage.value_problem`)."""
    problem = value_problem(key, value, bounds=True)
    if problem:
        raise BatchError(f"{what}: {problem}")


def read_text(path: str) -> str:
    """The text of ``path`` ("-" is stdin)."""
    import sys

    if path == "-":
        # The bytes, decoded as a file is (utf-8-sig: a byte-order mark is dropped), whatever the locale.
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:  # a text stream without bytes underneath (tests, embedding)
            return sys.stdin.read().removeprefix("\ufeff")
        try:
            return stream.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BatchError("<stdin>: not a text (UTF-8) CSV file") from None
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return handle.read()
    except OSError as exc:
        raise BatchError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise BatchError(f"{path}: not a text (UTF-8) CSV file") from None


def parse_csv(text: str, axes, source: str = "<stdin>", skip_invalid: bool = False, grid: str = "the grid") -> Batch:
    """Validate every row of a parameter CSV against the grid's ``axes``."""
    text = text.removeprefix("\ufeff")  # however it was read
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise BatchError(f"{source}: no header row (expected columns {', '.join(REQUIRED)}, ...)")
    reader = _rows(csv.reader(io.StringIO("\n".join(lines))), source)
    header = [h.strip() for h in next(reader)]
    columns: dict[str, int] = {}
    ignored = []
    for position, raw in enumerate(header):
        key = ALIASES.get(raw.lower().replace(" ", ""))
        if key is None:
            ignored.append(raw or f"#{position + 1}")
            continue
        if key in columns:
            raise BatchError(f"{source}: columns {header[columns[key]]!r} and {raw!r} both give {LABELS.get(key, key)}")
        columns[key] = position
    missing = [key for key in REQUIRED if key not in columns]
    if missing:
        raise BatchError(
            f"{source}: missing column {', '.join(missing)} (found: {', '.join(header) or 'none'}; "
            f"columns are teff, logg, mh|feh, am|alpha, cm, name)"
        )
    extra_axes = [key for key in AXES if key in columns and key not in axes]
    width = len(header)
    params, rows, names, problems = [], [], [], []
    for number, cells in enumerate(reader, start=1):
        try:
            if len(cells) != width:
                raise BatchError(f"{source}, row {number}: {len(cells)} fields, the header has {width}")
            values = []
            for key in axes:
                if key not in columns:
                    values.append(0.0)
                    continue
                what = f"{source}, row {number}, column {header[columns[key]]}"
                value = parse_number(cells[columns[key]], what)
                check_value(key, value, what)
                values.append(value)
            for key in extra_axes:
                what = f"{source}, row {number}, column {header[columns[key]]}"
                if parse_number(cells[columns[key]], what) != 0.0:
                    raise BatchError(f"{what}: {missing_axis(key, axes, grid)}")
            name = cells[columns["name"]].strip() if "name" in columns else None
            if name is not None:
                check_name(name, f"{source}, row {number}, column {header[columns['name']]}")
        except BatchError as exc:
            if not skip_invalid:
                raise
            problems.append(str(exc))
            continue
        params.append(values)
        rows.append(number)
        names.append(name)
    if not rows and not problems:
        raise BatchError(f"{source}: no data rows after the header")
    array = np.array(params, dtype=float).reshape(len(params), len(axes))
    return Batch(array, rows, names if "name" in columns else None, source, problems, ignored)


def _rows(reader, source: str):
    """The rows of a csv reader; a row the csv module cannot parse is a BatchError naming it
    (row 0 is the header)."""
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            where = "the header" if number == 0 else f"row {number}"
            raise BatchError(f"{source}, {where}: {exc}") from None
        yield cells
        number += 1


def report_skipped(problems: list[str], warn, what: str = "bad rows") -> None:
    """Each skipped row or model as a warning, the first ten in full."""
    for problem in problems[:10]:
        warn(f"skipped: {problem}")
    if len(problems) > 10:
        warn(f"skipped {len(problems) - 10} more {what}")


def keep_valid(atmospheres: list, fmt: str, job: Batch, skip_invalid: bool = False) -> list:
    """The predicted ``atmospheres`` that pass the physical-consistency check as ``fmt`` would write
    them; ``job`` keeps their rows and names.  A failing model is a CheckError naming its row and
    test, or, with ``skip_invalid``, is dropped and listed in ``job.problems``."""
    from .check import require_valid

    if len(atmospheres) == 1 and job.source == "command line":
        labels = [atmospheres[0].describe()]
    else:
        labels = [f"{job.source}, row {row} ({atm.describe()})" for row, atm in zip(job.rows, atmospheres)]
    keep, problems = require_valid(atmospheres, fmt, labels, skip_invalid)
    if problems:
        job.problems += problems
        job.params, job.rows = job.params[keep], [job.rows[i] for i in keep]
        if job.names is not None:
            job.names = [job.names[i] for i in keep]
        if not keep:
            raise BatchError(f"{job.source}: no model passes the physical-consistency check (first: {problems[0]})")
    return [atmospheres[i] for i in keep]


#: Rows predicted, checked and written together: memory holds one chunk of models at a time, and
#: a batch that fails the check fails within one chunk.
CHUNK = 1000


@dataclass
class Chunk:
    """The models of consecutive rows of a batch that pass the check, with their rows and names."""

    models: list
    params: np.ndarray
    rows: list[int]
    names: list[str] | None


def predict_chunks(interp, job: Batch, fmt: str, extrapolate: bool, skip_invalid: bool, warn=None,
                   max_sigma: float | None = None, chunk: int | None = None):
    """The models of ``job``'s rows that pass the check as ``fmt`` would write them
    (:func:`keep_valid`), as an iterator of :class:`Chunk` of at most ``chunk`` rows (default
    :data:`CHUNK`), each predicted and checked when it is taken: without ``skip_invalid`` the first
    failing model stops the batch at once.  The coverage guard runs on every row before this
    returns (a row outside the grid stops the batch before any prediction).  ``job.problems``
    grows with the rows dropped; after the last chunk, a BatchError if no model passed."""
    size = CHUNK if chunk is None else chunk
    status = interp.guard(job.params, extrapolate, warn)
    options = {} if max_sigma is None else {"max_sigma": max_sigma}
    return _predicted_chunks(interp, job, fmt, skip_invalid, warn, options, status, size)


def _predicted_chunks(interp, job: Batch, fmt: str, skip_invalid: bool, warn, options: dict, status, size: int):
    import formats

    kept = 0
    for start in range(0, len(job.rows), size):
        part = slice(start, start + size)
        sub = Batch(job.params[part], job.rows[part], None if job.names is None else job.names[part], job.source)
        # Far extrapolation can overflow: the check refuses what comes out non-finite.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            models = interp.atmospheres(sub.params, status=status[part], warn=_rows_of_batch(warn, sub.rows, len(job.rows)),
                                        **options)
        if start == 0:
            formats.derived_quantities(models[0], fmt)  # MissingQuantityError, naming the quantity, before any writing
        try:
            models = keep_valid(models, fmt, sub, skip_invalid)
        except BatchError:  # with skip_invalid, every model of this chunk fails: the other chunks may pass
            models = []
        job.problems += sub.problems
        if models:
            kept += len(models)
            yield Chunk(models, sub.params, sub.rows, sub.names)
    if not kept:
        raise BatchError(f"{job.source}: no model passes the physical-consistency check (first: {job.problems[0]})")


def _rows_of_batch(warn, rows: list[int], total: int):
    """``warn`` for the messages about one chunk (rows ``rows`` of a batch of ``total``): a message
    that names its model as "row K: " (the K-th of the chunk), or not at all (the chunk's only one),
    names its row of the batch instead, as one call for every row would."""
    if warn is None or total == 1:
        return warn

    def chunk_warn(message: str) -> None:
        match = re.match(r"row (\d+): ", message)
        if match and 1 <= int(match.group(1)) <= len(rows):
            message = f"row {rows[int(match.group(1)) - 1]}: " + message[match.end():]
        elif len(rows) == 1:
            message = f"row {rows[0]}: " + message
        warn(message)

    return chunk_warn


def predict_valid(interp, job: Batch, fmt: str, extrapolate: bool, skip_invalid: bool, warn=None,
                  max_sigma: float | None = None, chunk: int | None = None) -> list:
    """Every model of :func:`predict_chunks` in one list; ``job`` keeps the rows and names of the
    models that passed."""
    chunks = list(predict_chunks(interp, job, fmt, extrapolate, skip_invalid, warn, max_sigma, chunk))
    job.params, job.rows = np.concatenate([c.params for c in chunks]), [r for c in chunks for r in c.rows]
    if job.names is not None:
        job.names = [n for c in chunks for n in c.names]
    return [m for c in chunks for m in c.models]


class Tally:
    """What a batch streamed chunk by chunk reports at the end: how many models were written, and
    the largest sigma(T) of each (percent), the numbers only."""

    def __init__(self):
        self.models = 0
        self._peaks: list[np.ndarray] = []

    def follow(self, chunks, progress=None):
        """``chunks`` (:class:`Chunk`), counted as they pass; ``progress`` gets the number of models
        once each chunk is written (the next one is asked for)."""
        for chunk in chunks:
            self.models += len(chunk.models)
            self._peaks.append(np.array([m.extra["sigma_t_max_percent"] for m in chunk.models
                                         if "sigma_t_max_percent" in m.extra], dtype=float))
            yield chunk
            if progress is not None:
                progress(self.models)

    @property
    def peak_sigmas(self) -> np.ndarray:
        return np.concatenate(self._peaks) if self._peaks else np.zeros(0)


#: The longest file name (in bytes, with its suffix) that common file systems take.
MAX_NAME_BYTES = 255


def check_name(name: str, what: str) -> None:
    """A file name from the ``name`` column must be a plain, printable name of at most
    :data:`MAX_NAME_BYTES` bytes: no folders, nothing hidden, no control characters."""
    if not name:
        raise BatchError(f"{what}: empty name")
    if not name.isprintable():
        bad = next(c for c in name if not c.isprintable())
        raise BatchError(f"{what}: name {name!r} contains the control character {bad!r}: names must be printable")
    if name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise BatchError(f"{what}: {name!r} is not a plain file name")
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > MAX_NAME_BYTES:
        raise BatchError(f"{what}: name {name[:40]!r}... is {size} bytes long; file names take at most {MAX_NAME_BYTES}")


def file_names(atmospheres, fmt: str, names: list[str] | None = None, rows: list[int] | None = None,
               source: str = "") -> list[str]:
    """Output file names: ``names`` (given the format's suffix unless they have one), else from the parameters."""
    import formats

    if names is None:
        return formats.model_filenames(atmospheres, fmt)
    suffix = formats.OUTPUT_SUFFIX.get(fmt, "." + fmt)
    out = [name if Path(name).suffix else name + suffix for name in names]
    for i, name in enumerate(out):
        implied = formats.format_from_suffix(name)
        if implied is not None and implied != fmt:
            row = rows[i] if rows else i + 1
            raise BatchError(f"{source}, row {row}, column name: {name!r} is the name of a {implied} file, but this batch "
                             f"writes {fmt} (choose --format {implied}, or another name)")
        if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            row = rows[i] if rows else i + 1
            raise BatchError(f"{source}, row {row}: name {name[:40]!r}... with its suffix is longer than {MAX_NAME_BYTES} bytes")
    seen: dict[str, int] = {}
    for i, name in enumerate(out):
        if name in seen:
            first, this = (rows[seen[name]], rows[i]) if rows else (seen[name] + 1, i + 1)
            raise BatchError(f"{source}, rows {first} and {this}: both are named {name!r}")
        seen[name] = i
    return out


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


def write_files(atmospheres, directory, names: list[str], fmt: str, force: bool = False, progress=None, warn=None,
                **options) -> list[Path]:
    """Each model to its own file in ``directory``, all or nothing: see formats.write_directory."""
    import formats

    return formats.write_directory(atmospheres, directory, fmt, force=force, names=names, progress=progress, warn=warn,
                                   **options)
