"""``innterpol predict``: atmospheres at new parameters, one or a CSV of thousands, to files or stdout.

The options are declared once, in :data:`innterpol_cli.prediction.OPTIONS`; the work is
:func:`innterpol_cli.prediction.run`.
"""

from __future__ import annotations

import typer

from ..app import app
from ..prediction import OPTIONS, run

_BY_NAME = {option.name: option for option in OPTIONS}


def _option(name: str):
    o = _BY_NAME[name]
    return typer.Option(o.default, *o.decls, help=o.help, metavar=o.metavar)


@app.command()
def predict(
    grid: str = _option("grid"),
    teff: str | None = _option("teff"),
    logg: str | None = _option("logg"),
    mh: str | None = _option("mh"),
    am: str | None = _option("am"),
    cm: str | None = _option("cm"),
    params: str | None = _option("params"),
    output: str = _option("output"),
    fmt: str | None = _option("fmt"),
    extrapolate: bool = _option("extrapolate"),
    max_sigma: str | None = _option("max_sigma"),
    force: bool = _option("force"),
    skip_invalid: bool = _option("skip_invalid"),
) -> None:
    """Predict model atmospheres with the trained network.

    One model from --teff/--logg/..., or one per row of --params. Parameters are checked
    against the grid: inside it, or within one grid step of its populated nodes, the model is
    predicted with its calibrated 1-sigma uncertainty, silently unless sigma(T) exceeds
    --max-sigma percent somewhere (the warning gives the number, the depths and why); farther
    away the command refuses unless --extrapolate. Files carry the uncertainty: FITS as
    <QUANTITY>_SIGMA columns, ATLAS9 and MARCS as a one-line summary in their header.
    Every predicted model must pass the physical-consistency check (innterpol check), extrapolated
    ones too: a model that fails is an error naming it and the test. Everything is validated
    before anything is written, and every file is written atomically.

    Examples: innterpol predict --teff 5777 --logg 4.44 -o sun.dat;
    innterpol predict --grid marcs --params stars.csv -o models/;
    innterpol predict --params stars.csv -o all.fits
    """
    run(grid, teff, logg, mh, am, cm, params, output, fmt, extrapolate, max_sigma, force, skip_invalid)
