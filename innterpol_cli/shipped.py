"""Which weights file a grid name means: the shipped ones by name (and alias), or a path."""

from __future__ import annotations

from pathlib import Path

from .weightsfile import WeightsError

#: Shipped weights by grid name (and alias).
SHIPPED = {
    "atlas9": "atlas9-ck04.npz",
    "atlas9-ck04": "atlas9-ck04.npz",
    "marcs": "marcs-sdss.npz",
    "marcs-sdss": "marcs-sdss.npz",
}


def resolve(grid: str) -> Path:
    """The weights file for a grid name, or a path to a weights file."""
    key = grid.lower()
    if key in SHIPPED:
        from importlib.resources import files

        path = Path(str(files("innterpol_cli.weights").joinpath(SHIPPED[key])))
        if not path.is_file():
            raise WeightsError(
                f"the shipped weights for {grid!r} are missing ({SHIPPED[key]}): reinstall innterpol, or train them "
                f"with `innterpol train --grid {key} GRID-FILES -o {SHIPPED[key]}`"
            )
        return path
    if key == "phoenix" or key.startswith("phoenix"):
        raise WeightsError(
            "no PHOENIX weights ship with innterpol (there is no PHOENIX grid to train them on here); train your own "
            "with `innterpol train --grid phoenix DIR-OF-ATMOS-FITS -o phoenix.npz`, then use `--grid phoenix.npz`"
        )
    path = Path(grid)
    if path.is_file():
        return path
    known = ", ".join(sorted({k.split("-")[0] for k in SHIPPED}))
    raise WeightsError(f"unknown grid {grid!r}: use one of {known}, or a path to a weights file")
