"""``innterpol convert IN OUT``: convert model atmospheres between formats."""

from __future__ import annotations

from pathlib import Path

import typer

from ..app import app


@app.command()
def convert(
    source: str = typer.Argument(..., metavar="IN", help="Model file to read ('-' for stdin); the format is detected from its content."),
    target: str = typer.Argument(
        ..., metavar="OUT", help="File to write ('-' for stdout), or a directory (existing, or ending in '/') for one file per model."
    ),
    to: str | None = typer.Option(None, "--to", help="Output format: atlas9, marcs, phoenix, fits or moog. Default: from OUT's suffix."),
    from_format: str | None = typer.Option(None, "--from", help="Input format, when detection is not wanted."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Write the models that pass the physical-consistency check and list the others, instead of writing nothing."
    ),
) -> None:
    """Convert model atmospheres between ATLAS9, MARCS, PHOENIX, MOOG and FITS-table files.

    Quantities the target needs and the source lacks are derived by physics where physics
    gives them (Pe = Ne kT, kappa_Ross = d tau / d RHOX, ...); otherwise the conversion fails,
    naming the missing quantity. Every model must pass the physical-consistency check (innterpol
    check) as the output format would hold it; one that fails is an error naming it and the test,
    unless --skip-invalid. Nothing is written unless the whole conversion succeeds.
    """
    import formats
    from formats.errors import InnterpolError

    from ..console import warn
    from ..target import hold, plan

    out = plan(target, "OUT")
    to_directory = out.directory
    fmt = to.lower() if to else (None if to_directory else formats.format_from_suffix(target))
    if fmt is None:
        hint = " (.mod is used by both ATLAS9 and MARCS)" if target.lower().endswith(".mod") else ""
        raise InnterpolError(f"cannot tell the output format of {target!r}{hint}: pass --to with one of {formats.known_formats()}")
    formats.get_format(fmt)  # unknown names fail here, listing the known ones
    with hold(out, force, warn):  # locked from here to the last write
        _convert(source, target, fmt, from_format, force, skip_invalid, to_directory)


def _convert(source: str, target: str, fmt: str, from_format: str | None, force: bool, skip_invalid: bool,
             to_directory: bool) -> None:
    import formats
    from formats import derive
    from formats.errors import InnterpolError

    from ..check import require_valid
    from ..console import info, warn
    from ..paramfile import report_skipped

    models = formats.read(source, from_format.lower() if from_format else None)
    if not models:
        raise InnterpolError(f"{source}: no models in the file")
    derived: set[str] = set()
    filled: set[str] = set()
    for atm in models:
        # Raises MissingQuantityError, naming the quantity, before anything is written.
        for name, values in formats.derived_quantities(atm, fmt).items():
            (derived if values.any() else filled).add(name)
    shown = "<stdin>" if source == "-" else source
    labels = [shown + (f", model {i + 1}" if len(models) > 1 else "") + f" ({atm.describe()})" for i, atm in enumerate(models)]
    keep, problems = require_valid(models, fmt, labels, skip_invalid)
    if problems:
        report_skipped(problems, warn, "models that fail the check")
        if not keep:
            raise InnterpolError(f"{source}: no model passes the physical-consistency check")
        models = [models[i] for i in keep]

    options = {}
    if fmt == "fits":
        name = "<stdin>" if source == "-" else Path(source).name
        options["provenance"] = {"gridname": _grid_name(name), "source": name, "command": "innterpol convert"}
    if to_directory:
        written = formats.write_directory(models, target, fmt, force=force, warn=warn, **options)
        where = f"{len(written)} files in {target}"
    else:
        if len(models) > 1 and not formats.is_multi_model(fmt):
            raise InnterpolError(f"{source} holds {len(models)} models and a {fmt} file holds one: give a directory as OUT (ending in '/')")
        formats.write(models, target, fmt, **options)
        where = "stdout" if target == "-" else target
    for name in sorted(derived):
        info(f"derived {name} ({derive.how(name)})")
    if filled:
        warn(f"not in the source, written as 0 (diagnostics that synthesis codes do not use): {', '.join(sorted(filled))}")
    skipped = f" ({len(problems)} failing the check skipped)" if problems else ""
    info(f"wrote {len(models)} model{'s' if len(models) != 1 else ''} as {fmt} to {where}{skipped}")


def _grid_name(filename: str) -> str:
    for suffix in (".gz", ".fits", ".dat", ".mod"):
        if filename.endswith(suffix):
            filename = filename[: -len(suffix)]
    return filename
