"""``innterpol predict``'s work, without Typer: its options (one table, which the Typer command
in :mod:`innterpol_cli.commands.predict` declares and :func:`run_fast` parses), the checks of its
arguments, and the batch from parameters to files.

The everyday command runs through :func:`run_fast` (argparse): building the Typer command costs
more than predicting one model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Batches at least this long get a progress bar (when stderr is a terminal).
PROGRESS_MIN = 200


@dataclass(frozen=True)
class Option:
    """One option of ``innterpol predict``: its parameter name, flags, default (``...``:
    required; a bool: a switch), help text and metavar."""

    name: str
    decls: tuple[str, ...]
    default: Any
    help: str
    metavar: str | None = None


OPTIONS = (
    Option("grid", ("--grid", "-g"), "atlas9", "atlas9, marcs, phoenix, or the path of a weights file (.npz)."),
    Option("teff", ("--teff",), None, "Effective temperature [K]."),
    Option("logg", ("--logg",), None, "log10 surface gravity [cgs]."),
    Option("mh", ("--mh", "--feh"), None, "[M/H] [dex] (default 0)."),
    Option("am", ("--am", "--alpha"), None, "[alpha/M] [dex] (default 0)."),
    Option("cm", ("--cm",), None, "[C/M] [dex] (default 0), for grids with that axis."),
    Option("params", ("--params", "-p"), None,
           "A CSV of parameters, one model per row ('-' for stdin): columns teff, logg, mh (feh), am (alpha), cm, name.",
           metavar="CSV"),
    Option("output", ("--output", "-o"), ...,
           "Output file, '-' for stdout, or a directory (existing, or ending in '/') for one file per model."),
    Option("fmt", ("--format", "-f"), None, "atlas9, marcs or fits. Default: fits for a .fits name, else the grid's own format."),
    Option("extrapolate", ("--extrapolate",), False,
           "Predict beyond one grid step from the populated grid (the header says so)."),
    Option("max_sigma", ("--max-sigma",), None,
           "Warn about models whose 1-sigma uncertainty of T exceeds this many percent at some depth (default 1).",
           metavar="PERCENT"),
    Option("force", ("--force",), False, "Overwrite existing output files."),
    Option("skip_invalid", ("--skip-invalid",), False,
           "Write the valid rows of a CSV and report the bad ones (unreadable, outside the grid, or failing the "
           "physical-consistency check), instead of writing nothing."),
)


def run(grid: str, teff: str | None, logg: str | None, mh: str | None, am: str | None, cm: str | None,
        params: str | None, output: str, fmt: str | None, extrapolate: bool, max_sigma: str | None, force: bool,
        skip_invalid: bool) -> None:
    """``innterpol predict`` with its options as parsed (see the command's help): check them, then
    predict, check and write under the output's lock."""

    from . import paramfile
    from .console import warn  # both print plain text ("[M/H]" is not Rich markup)
    from .interpolate import MAX_SIGMA, load
    from .target import hold, plan

    single = {"teff": teff, "logg": logg, "mh": mh, "am": am, "cm": cm}
    if params is not None and any(v is not None for v in single.values()):
        given = ", ".join(f"--{k}" for k, v in single.items() if v is not None)
        raise paramfile.BatchError(f"give either --params or single-model parameters, not both ({given} with --params)")
    if params is None and (teff is None or logg is None):
        raise paramfile.BatchError("give --teff and --logg (and optionally --mh, --am, --cm), or --params CSV")

    target = plan(output)
    threshold = MAX_SIGMA if max_sigma is None else paramfile.parse_number(max_sigma, "--max-sigma")
    if threshold <= 0:
        raise paramfile.BatchError(f"--max-sigma: must be a positive percentage, not {max_sigma}")
    interp = load(grid)
    fmt = _output_format(fmt, output, not target.file, interp.native_format)
    import formats

    formats.get_format(fmt)  # an unknown name fails here, listing the known ones
    with hold(target, force, warn):  # locked from here to the last write
        _predict(interp, fmt, single, params, target, extrapolate, force, skip_invalid, threshold)


def _predict(interp, fmt, single, params, target, extrapolate, force, skip_invalid, max_sigma) -> None:
    from pathlib import Path

    import numpy as np

    import formats

    from . import batch, paramfile
    from .console import info, warn
    from .coverage import missing_axis

    if params is None:
        rows = [[_number(single[axis], axis) if single[axis] is not None else 0.0 for axis in interp.axes]]
        for key, value in single.items():
            if key not in interp.axes and value is not None and _number(value, key) != 0.0:
                raise paramfile.BatchError(f"--{key}: {missing_axis(key, interp.axes, f'the {interp.name} grid')}")
        job = paramfile.Batch(np.array(rows, dtype=float), [1], None, "command line")
    else:
        source = "<stdin>" if params == "-" else params
        job = paramfile.parse_csv(paramfile.read_text(params), interp.axes, source, skip_invalid, f"the {interp.name} grid")
        if job.ignored_columns:
            warn(f"{source}: ignoring column(s) {', '.join(job.ignored_columns)}")

    many = len(job.rows) > 1
    if many and not target.directory and not formats.is_multi_model(fmt):
        raise paramfile.BatchError(
            f"{len(job.rows)} models cannot go into one {fmt} file ({target.shown}): a {fmt} file holds one model; "
            f"write to a directory (-o DIR/) or use --format atlas9 (concatenated decks) or fits (one table)"
        )

    if skip_invalid and not extrapolate and len(job.rows):
        job.drop(*interp.drop_outside(job.params, job.rows, job.source))
    if not len(job.rows):
        paramfile.report_skipped(job.problems, warn)
        raise paramfile.BatchError(f"{job.source}: no valid rows to predict")

    if target.directory and job.names is not None:  # every name is known: check them all before predicting
        formats.check_targets(target.path, batch.file_names(None, fmt, job.names, job.rows, job.source), force)
    provenance = {"gridname": interp.name, "weights": Path(interp.weights.path).name, "command": "innterpol predict"}
    options = {"provenance": provenance} if fmt == "fits" else {}
    # Predicted, checked and written chunk by chunk (batch.CHUNK rows): the output changes only
    # once the last chunk is in (formats.write_chunks, write_directory_chunks).
    chunks = batch.predict_chunks(interp, job, fmt, extrapolate, skip_invalid, warn=warn, max_sigma=max_sigma)
    tally = batch.Tally()
    with _progress(len(job.rows), "writing") as advance:
        if target.directory:
            files = ((c.written, None if c.names is None else batch.file_names(None, fmt, c.names, c.rows, job.source))
                     for c in tally.follow(chunks))
            written = formats.write_directory_chunks(files, target.path, fmt, force=force, progress=advance, warn=warn,
                                                     **options)
            where = f"{len(written)} file{'s' if len(written) != 1 else ''} in {target.path}"
        else:
            formats.write_chunks((_named(c, fmt) for c in tally.follow(chunks, advance)), target.path, fmt, **options)
            where = target.shown
    paramfile.report_skipped(job.problems, warn)
    skipped = f" ({len(job.problems)} bad row{'s' if len(job.problems) != 1 else ''} skipped)" if job.problems else ""
    info(f"wrote {tally.models} model{'s' if many else ''} as {fmt} to {where}{skipped}")
    sigmas = tally.peak_sigmas
    if many and len(sigmas):
        above = int(np.sum(interp.warns(sigmas, max_sigma)))
        info(f"uncertainty: {above} of {len(sigmas)} models may be off by more than {max_sigma:g}% in T "
             f"({interp.guard_z:g} x max sigma(T) above it; median of the models' max sigma(T): {np.median(sigmas):.2g}%)")


def _named(chunk, fmt: str) -> list:
    """The models of a chunk as the writer takes them: the views the check judged (formatted once);
    in one FITS table, the models themselves, the CSV's names in its NAME column."""
    if fmt == "fits" and chunk.names is not None:
        for atm, name in zip(chunk.models, chunk.names):
            atm.extra["name"] = name
        return chunk.models
    return chunk.written


def _number(text: str, key: str) -> float:
    from .paramfile import check_value, parse_number

    value = parse_number(text, f"--{key}")
    check_value(key, value, f"--{key}")
    return value


def _output_format(fmt: str | None, output: str, no_suffix: bool, native: str) -> str:
    if fmt:
        return fmt.lower()
    if not no_suffix:
        import formats

        guessed = formats.format_from_suffix(output)
        if guessed:
            return guessed
    return native


class _progress:
    """A Rich progress bar on stderr for long batches when stderr is a terminal; else nothing."""

    def __init__(self, total: int, what: str):
        self.total, self.what, self.bar = total, what, None

    def __enter__(self):
        import sys

        if self.total < PROGRESS_MIN or not sys.stderr.isatty():
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        from .console import err

        self.bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=err, transient=True)
        self.bar.start()
        task = self.bar.add_task(self.what, total=self.total)
        return lambda done: self.bar.update(task, completed=done)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


def run_fast(argv: list[str]) -> bool:
    """Run ``predict`` from ``argv`` with argparse, without Typer.

    Typer and its parameter machinery cost more than predicting one model.  The parser is built
    from :data:`OPTIONS`, which the Typer command declares too (tested), so the two cannot drift
    apart.  Anything unusual (``--help``, an unknown option, a missing value) returns False: the
    caller then runs the full Typer app, which gives the usual help and usage errors.
    """
    import argparse

    if any(arg == "-h" or arg.startswith("--help") for arg in argv):
        return False

    class Fallback(Exception):
        pass

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            raise Fallback(message)

    parser = Parser(prog="innterpol predict", add_help=False, allow_abbrev=False)
    for option in OPTIONS:
        if isinstance(option.default, bool):
            parser.add_argument(*option.decls, dest=option.name, action="store_true")
        else:
            required = option.default is ...
            parser.add_argument(*option.decls, dest=option.name, required=required,
                                default=None if required else option.default)
    try:
        arguments = parser.parse_args(argv)
    except Fallback:
        return False
    run(**vars(arguments))
    return True
