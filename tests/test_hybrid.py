"""The shipped weights' hybrid: grid nodes come back (former test nodes too), predictions are
monotone and in-grid points predict silently."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from innterpol_cli.grid import build_grid, family_for_format, read_grid_files
from innterpol_cli.interpolate import load

GRIDS = {"atlas9": "atlas9-ck04", "marcs": "marcs-sdss"}


@pytest.fixture(scope="module", params=["atlas9", "marcs"])
def grid_and_weights(request, shared):
    name = request.param
    directory = shared / "grids" / GRIDS[name]
    files = sorted(directory.glob("ap00k2odfnew.dat" if name == "atlas9" else "*_z+0.00_*.mod.gz"))
    models, fmt, report = read_grid_files(files)
    return name, build_grid(models, family_for_format(fmt), report), load(name)


def test_grid_nodes_come_back_to_file_precision(grid_and_weights):
    """Every node stores its residual, so its model comes back: T to 0.1 K or 2e-5 (the files
    print 0.1 K; int16 residual codes keep about 2e-5 of T at worst), pressures and densities
    to their printed 4th (ATLAS9) or 5th (MARCS) digit, RHOX to 1e-4, depth to 5e-4.
    Nodes of the recorded test split (held out while the network trained) are included."""
    name, grid, interp = grid_and_weights
    test_nodes = {tuple(p) for p in np.round(interp.meta["provenance"]["test_nodes"], 4).tolist()}
    keys = [tuple(p) for p in grid.params.round(4).tolist()]
    held = [i for i, k in enumerate(keys) if k in test_nodes]
    assert len(held) > 10, "the recorded test split should hold nodes of this file"
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.choice(held, 20, replace=False), rng.choice(len(keys), 20, replace=False)])
    predicted = interp.predict_physical(grid.params[rows])
    names = [ch.name for ch in interp.codec]
    tolerance = {"column_mass": ("rel", 1e-4)}
    for c, channel in enumerate(names):
        if channel.startswith("pp:") or channel in ("convective_flux_fraction", "convective_velocity", "sound_speed"):
            continue
        true, got = grid.values[rows, c], predicted[:, c]
        kind, limit = tolerance.get(channel, ("rel", 5e-4 if name == "atlas9" else 1e-4))
        if channel in ("log_tau_5000", "mean_molecular_weight"):
            kind, limit = "abs", 1e-4
        if channel == "depth":  # printed to 4 digits; relative errors blow up where it crosses 0 at tau = 1
            kind, limit = "rel", 5e-4
            true, got = true[np.abs(true) > 1e3], got[np.abs(true) > 1e3]
        if channel == "temperature":
            excess = np.abs(got - true) - np.maximum(0.1, 2e-5 * true)
            assert excess.max() <= 0, f"{name} T: {np.abs(got - true).max():.3g} K off"
            continue
        error = np.abs(got - true) if kind == "abs" else np.abs(got / true - 1)
        assert error.max() <= limit, f"{name} {channel}: {error.max():.3g} > {limit}"


def test_convection_is_exactly_zero_where_the_grid_is(grid_and_weights):
    name, grid, interp = grid_and_weights
    names = [ch.name for ch in interp.codec]
    rng = np.random.default_rng(1)
    rows = rng.choice(len(grid.params), 50, replace=False)
    predicted = interp.predict_physical(grid.params[rows])
    for channel in ("convective_flux_fraction", "convective_velocity"):
        c = names.index(channel)
        true = grid.values[rows, c]
        assert np.all(predicted[:, c][true == 0] == 0), channel
        scale = interp.codec[c].scale
        assert np.all(predicted[:, c][true > 1e-4 * scale] > 0), channel  # (tinier values may round to 0)
        assert np.all(predicted[:, c] >= 0)


def test_random_in_grid_points_are_monotone_and_positive(grid_and_weights):
    name, grid, interp = grid_and_weights
    rng = np.random.default_rng(2)
    lo, hi = grid.params.min(axis=0), grid.params.max(axis=0)
    params = rng.uniform(lo, hi, (3000, len(lo)))
    params = params[interp.coverage(params).status == 0][:1000]
    arrays = interp.predict_arrays(params, guard=False)
    assert np.all(np.diff(arrays["column_mass"], axis=1) > 0)
    for quantity in ("temperature", "gas_pressure", "rosseland_opacity",
                     "electron_density" if name == "atlas9" else "electron_pressure"):
        assert np.all(np.isfinite(arrays[quantity])) and np.all(arrays[quantity] > 0), quantity
    if name == "marcs":
        assert np.all(np.diff(arrays["log_tau_5000"], axis=1) > 0)
        assert np.all(np.diff(arrays["depth"], axis=1) > 0)


@pytest.mark.parametrize("grid", ["atlas9", "marcs"])
def test_the_sun_predicts_without_a_warning(grid, tmp_path):
    command = [sys.executable, "-c", "from innterpol_cli.cli import main; main()", "predict", "--grid", grid,
               "--teff", "5777", "--logg", "4.44", "-o", str(tmp_path / "sun.mod")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower(), result.stderr
