"""The calibrated 1-sigma uncertainty: its pieces (stencil signals, packed sums, regression,
conformal factor), the shipped calibration on held-out nodes, the API, the files that carry it and
the coverage guard built on it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import formats
from innterpol_cli import uncertainty, uncertaintyfit
from innterpol_cli.evaluation.metrics import calibration, rank_correlation
from innterpol_cli.evaluation.scoring import along_axes
from innterpol_cli.grid import build_grid, family_for_format, read_grid_files
from innterpol_cli.interpolate import Interpolator, load
from innterpol_cli.stencil import NodeSet, Packed, row_sums
from innterpol_cli.weightsfile import WeightsError, save
from innterpol_cli.weightsfile import load as load_weights

from conftest import run_cli

# ------------------------------------------------------------------------------ the pieces


def test_stencil_signals_measure_curvature_and_change_across_the_cell():
    """On a linear function the cubic and linear stencils agree (curve = 0); the slope signal is
    4t(1 - t) times the change across the cell; on a node both vanish."""
    grid = np.arange(10.0)
    nodes = NodeSet(grid[:, None])
    values = (3.0 + 2.0 * grid)[:, None]
    for x, t in ((4.5, 0.5), (4.25, 0.25), (6.0, 0.0)):
        st = nodes.stencils(np.array([[x]]), cubic=True)
        live = st.weight != 0
        picked = values[st.index[live]]
        curve = row_sums(live, st.signal_weights(0, "curve"), picked, (1, 1))[0, 0]
        slope = row_sums(live, st.signal_weights(0, "slope"), picked, (1, 1))[0, 0]
        assert abs(curve) < 1e-12
        assert slope == pytest.approx(4 * t * (1 - t) * 2.0)
        assert st.bump[0, 0] == pytest.approx(4 * t * (1 - t))
    quadratic = (grid**2)[:, None]
    st = nodes.stencils(np.array([[4.5]]), cubic=True)
    live = st.weight != 0
    curve = row_sums(live, st.signal_weights(0, "curve"), quadratic[st.index[live]], (1, 1))[0, 0]
    # cubic is exact (20.25), linear gives 20.5: the curve signal is their difference
    assert curve == pytest.approx(20.25 - 20.5)


def test_packed_sums_equal_scattered_sums():
    rng = np.random.default_rng(0)
    mask = rng.random((30, 16)) < 0.4
    mask[3] = False
    weights = rng.normal(size=(2, 30, 16))
    values = rng.normal(size=(int(mask.sum()), 5))
    packed = Packed(mask)
    # as the blend gathers them: each slot's value by its index, absent slots a padding row of zeros
    slot = np.full(mask.shape, len(values))
    slot[mask] = np.arange(len(values))  # row-major, as np.nonzero(mask) lists the slots
    gathered = np.vstack([values, np.zeros((1, 5))])[packed.take(slot, len(values))]
    sums = packed.sums(np.stack([packed.take(w, 0.0) for w in weights]), gathered)
    for k in range(2):
        np.testing.assert_allclose(sums[k], row_sums(mask, weights[k], values, (30, 5)), atol=1e-12)


def test_spread_is_a_running_maximum_over_depth():
    x = np.zeros((1, 2 * 6))
    x[0, 2] = 1.0  # channel 0, depth 2
    x[0, 6 + 5] = 2.0  # channel 1, last depth
    out = uncertainty.spread(x, 6, reach=1)
    np.testing.assert_array_equal(out[0, :6], [0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(out[0, 6:], [0, 0, 0, 0, 2, 2])


def test_conformal_factor_of_gaussian_errors_is_one():
    rng = np.random.default_rng(1)
    ratio = np.abs(rng.normal(size=20000))
    k, _ = uncertaintyfit.conformal(ratio)
    assert 0.9 < k < 1.1
    assert 0.6 < np.mean(ratio <= k) < 0.76 and 0.9 < np.mean(ratio <= 2 * k) < 0.98


def test_regression_recovers_a_known_scaling():
    """|error| = 10**(-1 + 0.8 log10 s) |N(0, 1)| (above the floor): the signal's coefficient comes back; a column
    that would enter with a negative coefficient is dropped, not used."""
    rng = np.random.default_rng(2)
    n = 4000
    log_s = rng.uniform(-4, -1, n)
    noise = rng.uniform(-1, 1, n)  # irrelevant column
    error = 10.0 ** (-1 + 0.8 * log_s) * np.abs(rng.normal(size=n))
    columns = np.column_stack([np.ones(n), log_s, noise, np.zeros(n), np.zeros(n), np.zeros(n)])
    beta = uncertaintyfit.fit_band(columns, error, 0.8)
    assert beta[1] == pytest.approx(0.8, abs=0.08)
    assert abs(beta[2]) < 0.05
    negative = uncertaintyfit.fit_band(np.column_stack([np.ones(n), -log_s, np.zeros((n, 4))]), error, 0.8)
    assert negative[1] == 0.0


def test_rank_correlation():
    a = np.arange(10.0)
    assert rank_correlation(a, a**3) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    stats = calibration(np.array([[1.0, 2.0]]), np.array([[1.0, 1.0]]), np.array([[1.5, 4.5]]), "absolute")
    assert stats["within_1"] == 0.5 and stats["within_2"] == 0.5


# ------------------------------------------------------------------ the shipped calibration

GRIDS = {"atlas9": ("atlas9-ck04", "ap00k2odfnew.dat"), "marcs": ("marcs-sdss", "*_z+0.00_*.mod.gz")}


@pytest.fixture(scope="module", params=["atlas9", "marcs"])
def solar_plane(request, shared):
    name = request.param
    directory, pattern = GRIDS[name]
    models, fmt, report = read_grid_files(sorted((shared / "grids" / directory).glob(pattern)))
    return name, build_grid(models, family_for_format(fmt), report), load(name)


def _held(interp, params, split):
    recorded = {tuple(p) for p in np.round(interp.meta["provenance"][split], 4).tolist()}
    return np.array([i for i, p in enumerate(params.round(4).tolist()) if tuple(p) in recorded])


def test_shipped_sigma_is_calibrated_on_held_out_nodes(solar_plane):
    """The solar-metallicity test nodes, rebuilt along Teff and log g with the test nodes
    forgotten: the 1-sigma covers roughly 68% / 95% of depth points and ranks the models' worst
    errors (looser bounds than the README's full-grid figures: about 40 models per axis here)."""
    name, grid, interp = solar_plane
    held = _held(interp, grid.params, "test_nodes")
    result = along_axes(interp, grid.params, grid.values, held, methods=("innterpol",))
    checked = 0
    for axis in ("teff", "logg"):
        part = result["axes"][axis]
        if part.get("n", 0) < 15:
            continue
        for channel in ("temperature", "gas_pressure"):
            row = part["calibration"][channel]
            assert 0.5 < row["within_1"] < 0.85, (axis, channel, row)
            assert 0.85 < row["within_2"] <= 1.0, (axis, channel, row)
            assert row["rank_correlation"] > 0.3, (axis, channel, row)
            checked += 1
    assert checked >= 2


def test_refitting_the_calibration_meets_its_own_goal_on_validation_nodes(solar_plane):
    """uncertaintyfit.fit on the solar plane's validation nodes, then the same nodes rebuilt with
    the fitted calibration: in-sample coverage near the targets along Teff."""
    name, grid, interp = solar_plane
    val = _held(interp, grid.params, "validation_nodes")
    arrays, summary = uncertaintyfit.fit(interp, grid.params, grid.values, val)
    assert summary["validation_rebuilds"]["teff"] >= 30
    assert arrays["sigma/coef"].shape[-1] == uncertainty.n_columns(len(interp.axes))
    refit = Interpolator(dataclasses.replace(interp.weights, arrays={**interp.weights.arrays, **arrays}))
    forgetful = refit.without(grid.params[val])
    pred, sigma = forgetful.predict_with_sigma(grid.params[val], widen=0)
    c = [ch.name for ch in interp.codec].index("temperature")
    ok = sigma[:, c, 0] > 0
    ratio = np.abs(pred[ok, c] - grid.values[val][ok, c]) / sigma[ok, c]
    assert 0.55 < np.mean(ratio <= 1) < 0.85
    assert np.mean(ratio <= 2) > 0.85


def test_calibration_adds_little_to_the_weights():
    for name in ("atlas9", "marcs"):
        arrays = load(name).weights.arrays
        size = sum(np.asarray(v, dtype=np.float32).nbytes for k, v in arrays.items() if k.startswith("sigma/"))
        assert 0 < size < 2e6, size


def test_malformed_calibration_is_refused(tmp_path):
    weights = load_weights(load("marcs").weights.path)
    weights.arrays["sigma/coef"] = weights.arrays["sigma/coef"][:, :, :-1]
    save(weights, tmp_path / "bad.npz")
    with pytest.raises(WeightsError, match="sigma/coef"):
        load_weights(tmp_path / "bad.npz")


# ------------------------------------------------------------------------------- the API


@pytest.mark.parametrize("name", ["atlas9", "marcs"])
def test_predict_arrays_returns_sigma_in_the_units_of_each_quantity(name):
    interp = load(name)
    node = interp.nodes[len(interp.nodes) // 2]
    between = node + 0.5 * np.array([np.diff(v).min() if len(v) > 1 else 0 for v in interp.axis_values])
    between[interp.axes.index("teff")] = node[0] + 0.5 * np.diff(interp.axis_values[0])[np.searchsorted(interp.axis_values[0], node[0])]
    arrays = interp.predict_arrays(np.array([node, between]), guard=False, uncertainty=True)
    for ch in interp.codec:
        sigma = arrays[f"{ch.name}_sigma"]
        assert sigma.shape == arrays[ch.name].shape and np.all(np.isfinite(sigma)) and np.all(sigma >= 0)
    t, st = arrays["temperature"], arrays["temperature_sigma"]
    assert np.max(st[0] / t[0]) < 1e-4  # a grid node: its own model comes back
    assert np.max(st[1] / t[1]) > np.max(st[0] / t[0])
    plain = interp.predict_arrays(np.array([node, between]), guard=False)
    np.testing.assert_allclose(plain["temperature"], t, rtol=1e-12)
    assert "temperature_sigma" not in plain


def test_sigma_shrinks_continuously_towards_a_node():
    interp = load("atlas9")
    node = np.array([5750.0, 4.5, 0.0, 0.0])
    rows = np.array([node + [d, 0, 0, 0] for d in (0.0, 1.0, 10.0, 50.0, 125.0)])
    arrays = interp.predict_arrays(rows, guard=False, uncertainty=True)
    worst = (arrays["temperature_sigma"] / arrays["temperature"]).max(axis=1)
    assert worst[0] < worst[1] < worst[2] < worst[3] < worst[4]
    assert worst[1] < 0.05 * worst[4]


# ------------------------------------------------------------------------------- the files


def test_fits_sigma_columns_round_trip_with_units(tmp_path):
    interp = load("marcs")
    models = interp.atmospheres(np.array([[5777.0, 4.44, 0.0], [4286.0, 1.66, -0.52]]))
    path = tmp_path / "two.fits"
    formats.write(models, path, "fits")
    back = formats.read(path)
    for original, read in zip(models, back):
        assert set(read.uncertainty) == set(original.uncertainty) and "temperature" in read.uncertainty
        for key, values in original.uncertainty.items():
            np.testing.assert_array_equal(read.uncertainty[key], values)
    from astropy.io import fits

    from formats.fitstable import FITS_UNITS

    with fits.open(path) as hdul:
        columns = hdul[1].columns
        assert columns["TEMPERATURE_SIGMA"].unit == "K"
        assert columns["GAS_PRESSURE_SIGMA"].unit == FITS_UNITS["gas_pressure"]


@pytest.mark.parametrize("name,fmt", [("atlas9", "atlas9"), ("marcs", "marcs")])
def test_header_summary_line_and_reading_back(name, fmt, tmp_path):
    interp = load(name)
    (model,) = interp.atmospheres(teff=5777, logg=4.44)
    path = tmp_path / "sun.mod"
    formats.write([model], path, fmt)
    line = path.read_text().splitlines()[1]
    assert "sigma(T)" in line and "log tau" in line and len(line) <= 120
    percent = float(line.split("sigma(T) ")[1].split("%")[0])
    assert percent == pytest.approx(model.extra["sigma_t_max_percent"], rel=0.06)
    (back,) = formats.read(path)
    np.testing.assert_allclose(back.layers["temperature"], model.layers["temperature"], rtol=1e-4)


# ----------------------------------------------------------------------- the coverage guard


@pytest.mark.parametrize("grid", ["atlas9", "marcs"])
@pytest.mark.parametrize("star", [(5777, 4.44, 0.0), (4286, 1.66, -0.52)], ids=["sun", "arcturus"])
def test_sun_and_arcturus_predict_silently(grid, star, tmp_path, capsys, monkeypatch):
    teff, logg, mh = star
    code, _, err = run_cli(["predict", "--grid", grid, "--teff", str(teff), "--logg", str(logg), "--mh", str(mh),
                            "-o", tmp_path / "star.mod"], capsys, monkeypatch)
    assert code == 0 and "warning" not in err, err



def test_a_very_metal_poor_giant_predicts_silently_with_marcs(tmp_path, capsys, monkeypatch):
    """HD 122563 (4600 K, log g 1.4, [M/H] -2.6), a benchmark giant of Galactic archaeology, between
    MARCS's -2.5 and -3.0 planes: sigma(T) stays well below 1% (0.16%) and the guard is silent.
    (With ATLAS9, between the -2.5 and -4.0 planes, it warns about log tau < -5: README.)"""
    code, _, err = run_cli(["predict", "--grid", "marcs", "--teff", "4600", "--logg", "1.4", "--mh", "-2.6",
                            "-o", tmp_path / "hd122563.mod"], capsys, monkeypatch)
    assert code == 0 and "warning" not in err, err
    arrays = load("marcs").predict_arrays(teff=4600, logg=1.4, mh=-2.6, uncertainty=True)
    relative = arrays["temperature_sigma"][0] / arrays["temperature"][0]
    assert 0 < relative.max() < 0.005

def test_sparse_hot_low_gravity_marcs_corner_warns_with_its_number(tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(["predict", "--grid", "marcs", "--teff", "6200", "--logg", "0.4", "--mh", "-0.75", "-o",
                            tmp_path / "corner.mod"], capsys, monkeypatch)
    warning = next(line for line in err.splitlines() if line.startswith("warning"))
    assert "sigma(T) up to" in warning and "hot low-gravity corner" in warning and "few nodes nearby" in warning
    percent = float(warning.split("sigma(T) up to ")[1].split("%")[0])
    assert percent > 1.0
    # the guard warns; the physical-consistency check decides what is written: the command's
    # outcome is the check's verdict on that very model
    from innterpol_cli.check import check

    model = load("marcs").atmospheres(np.array([[6200.0, 0.4, -0.75]]))[0]
    if check([model], "marcs")[0].ok:
        assert code == 0 and (tmp_path / "corner.mod").exists(), err
    else:
        assert code == 1 and "physical-consistency" in err and not (tmp_path / "corner.mod").exists(), err


def test_batch_prints_how_many_models_are_uncertain(tmp_path, capsys, monkeypatch):
    csv = "teff,logg,mh\n5777,4.44,0\n4286,1.66,-0.52\n6200,1.1,-0.75\n"
    code, _, err = run_cli(["predict", "--grid", "marcs", "--params", "-", "-o", tmp_path / "all.fits", "--max-sigma", "0.5"],
                           capsys, monkeypatch, stdin=csv)
    assert code == 0, err
    line = next(line for line in err.splitlines() if line.startswith("uncertainty:"))
    count = int(line.split("uncertainty: ")[1].split(" of ")[0])
    sigmas = [m.extra["sigma_t_max_percent"] for m in formats.read(tmp_path / "all.fits")]
    z = load("marcs").guard_z
    assert count == sum(z * s > 0.5 for s in sigmas) and "of 3 models" in line


@pytest.mark.parametrize("value", ["0", "-1", "abc"])
def test_bad_max_sigma_is_one_line(value, tmp_path, capsys, monkeypatch):
    code, out, err = run_cli(["predict", "--teff", "5777", "--logg", "4.44", "-o", tmp_path / "x.mod", "--max-sigma", value],
                             capsys, monkeypatch)
    assert code != 0 and out == "" and len(err.strip().splitlines()) == 1 and "--max-sigma" in err


def test_weights_without_a_calibration_still_predict(tmp_path):
    weights = load_weights(load("marcs").weights.path)
    weights.arrays = {k: v for k, v in weights.arrays.items() if not k.startswith("sigma/")}
    save(weights, tmp_path / "plain.npz")
    interp = Interpolator(load_weights(tmp_path / "plain.npz"))
    assert not interp.calibrated
    with pytest.raises(WeightsError, match="--calibrate-only"):
        interp.predict_arrays(teff=5777, logg=4.44, uncertainty=True)
    (model,) = interp.atmospheres(teff=5777, logg=4.44)
    assert model.uncertainty == {} and "sigma_summary" not in model.extra
