"""Predicted ATLAS9 and MARCS files are accepted by PySME, which synthesises a spectrum from them."""

import os

import numpy as np
import pytest

from innterpol_cli.interpolate import load, resolve

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("grid", ["atlas9", "marcs"])
def test_predicted_file_synthesises(grid, shared, tmp_path):
    pytest.importorskip("pysme")
    from innterpol_cli.synth import synthesize_in_subprocess

    path = os.environ.get(f"INNTERPOL_TEST_{grid.upper()}")
    if not path:
        path = str(resolve(grid))  # shipped with the package: never a skip
    interp = load(path)
    target = tmp_path / ("sun.dat" if interp.native_format == "atlas9" else "sun.mod")
    import formats

    formats.write(interp.atmospheres(teff=5777, logg=4.44, extrapolate=True), target, interp.native_format)
    wave, flux = synthesize_in_subprocess(target, shared / "clients" / "atomic_lines_4995-5105.csv", (5000.0, 5100.0), timeout=240)
    # saturated line cores can dip a hair below 0 in PySME's normalised output
    assert len(wave) > 100 and np.all(np.isfinite(flux)) and -0.01 < flux.min() < 0.9 and 0.95 < flux.max() < 1.05
