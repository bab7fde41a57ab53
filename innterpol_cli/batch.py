"""Predicting a batch for ``innterpol predict``: chunk by chunk, each model checked as it will
be written, and the output names and targets of many models.  The rows come from
:mod:`innterpol_cli.paramfile` (the parameter CSV) or the command line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .paramfile import MAX_NAME_BYTES, Batch, BatchError


def keep_valid(atmospheres: list, fmt: str, job: Batch, skip_invalid: bool = False, written: list | None = None) -> list:
    """The predicted ``atmospheres`` that pass the physical-consistency check as ``fmt`` would write
    them; ``job`` keeps their rows and names.  A failing model is a CheckError naming its row and
    test, or, with ``skip_invalid``, is dropped and listed in ``job.problems``.  ``written``, a
    list, gets their views as ``fmt`` writes them (see :func:`check.require_valid`)."""
    from .check import require_valid

    if len(atmospheres) == 1 and job.source == "command line":
        labels = [atmospheres[0].describe()]
    else:
        labels = [f"{job.source}, row {row} ({atm.describe()})" for row, atm in zip(job.rows, atmospheres)]
    keep, problems = require_valid(atmospheres, fmt, labels, skip_invalid, written=written)
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
    #: The models as the format writes them (:class:`formats.AsWritten`, what the check judged):
    #: what the writers take, so that each model is formatted once.
    written: list


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
        written: list = []
        try:
            models = keep_valid(models, fmt, sub, skip_invalid, written)
        except BatchError:  # with skip_invalid, every model of this chunk fails: the other chunks may pass
            models, written = [], []
        job.problems += sub.problems
        if models:
            kept += len(models)
            yield Chunk(models, sub.params, sub.rows, sub.names, written)
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
