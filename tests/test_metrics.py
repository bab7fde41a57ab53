"""Error statistics on constructed cases whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from innterpol_cli.evaluation.halfstep import half_step_positions
from innterpol_cli.evaluation.metrics import channel_errors, depth_bands, error_unit, summarize
from innterpol_cli.evaluation.record import json_safe
from innterpol_cli.evaluation.spectra import spectrum_differences


def test_log_channels_err_in_percent_others_in_absolute_units():
    true = np.array([100.0, 200.0, 50.0])
    pred = np.array([101.0, 190.0, 50.0])
    np.testing.assert_allclose(channel_errors(pred, true, "log"), [1.0, -5.0, 0.0])
    np.testing.assert_allclose(channel_errors(pred, true, "linear"), [1.0, -10.0, 0.0])
    np.testing.assert_allclose(channel_errors(pred, true, "asinh"), [1.0, -10.0, 0.0])
    assert error_unit("log", "K") == "%"
    assert error_unit("asinh", "cm / s") == "cm / s"
    assert error_unit("linear", "") == "abs"


def test_summary_statistics_of_absolute_errors_ignore_nan():
    errors = np.array([[-3.0, 1.0], [2.0, np.nan], [0.0, -4.0]])  # |e|: 3, 1, 2, 0, 4
    s = summarize(errors)
    assert s["median"] == 2.0
    assert s["max"] == 4.0
    assert s["rms"] == pytest.approx(math.sqrt((9 + 1 + 4 + 0 + 16) / 5))
    assert s["p95"] == pytest.approx(np.percentile([0, 1, 2, 3, 4], 95))  # 3.8 by linear interpolation
    assert s["p95"] == pytest.approx(3.8)


def test_summary_of_nothing_is_nan():
    assert all(math.isnan(v) for v in summarize(np.array([np.nan])).values())


def test_constant_percentage_error_gives_that_percentage_everywhere():
    true = np.linspace(3000, 9000, 50)
    s = summarize(channel_errors(1.02 * true, true, "log"))
    for stat in ("median", "rms", "p95", "max"):
        assert s[stat] == pytest.approx(2.0)


def test_depth_bands_are_median_and_mean_plus_minus_sigma():
    errors = np.array([[1.0, 0.0], [3.0, 0.0], [8.0, 6.0]])  # per depth: mean 4, 2; std sqrt(26/3), sqrt(8)
    median, lower, upper = depth_bands(errors)
    np.testing.assert_allclose(median, [3.0, 0.0])
    np.testing.assert_allclose(lower, [4 - math.sqrt(26 / 3), 2 - math.sqrt(8)])
    np.testing.assert_allclose(upper, [4 + math.sqrt(26 / 3), 2 + math.sqrt(8)])


def test_spectrum_differences_on_the_true_wavelengths():
    wave = np.linspace(5000, 5100, 101)
    true = np.ones_like(wave)
    other_wave = np.linspace(5000, 5100, 201)
    other = np.ones_like(other_wave)
    other[100] = 0.9  # 5050 A, a true wavelength too
    peak, rms = spectrum_differences(wave, true, other_wave, other)
    assert peak == pytest.approx(0.1)
    assert rms == pytest.approx(math.sqrt(0.01 / 101))


def _line_grid():
    teff = np.arange(5000.0, 6001.0, 250.0)
    logg = np.array([4.0, 4.5])
    return np.array([[t, g] for g in logg for t in teff])


def test_half_step_positions_of_a_smooth_and_of_a_nearest_neighbour_method():
    nodes = _line_grid()
    held = np.array([[5500.0, 4.0], [5500.0, 4.5]])
    ref = nodes[~np.isin(nodes[:, 0], [5500.0])]  # the held-out Teff is missing on both lines

    def smooth(params):  # profiles linear in Teff: position = fraction of the way from lo to hi
        return (params[:, 0][:, None, None] * np.ones((1, 1, 5)))

    def nearest(params):
        snapped = ref[:, 0][np.argmin(np.abs(params[:, :1] - ref[None, :, 0]), axis=1)]
        return snapped[:, None, None] * np.ones((1, 1, 5))

    lin = half_step_positions(smooth, held, ref, 0)
    assert lin["n"] == 2
    assert lin["minus_half_step"]["median"] == pytest.approx(0.25)
    assert lin["plus_half_step"]["median"] == pytest.approx(0.75)
    assert lin["linear_minus"] == pytest.approx(0.25)
    nn = half_step_positions(nearest, held, ref, 0)
    assert nn["minus_half_step"]["median"] == pytest.approx(0.0)
    assert nn["plus_half_step"]["median"] == pytest.approx(1.0)


def test_gradient_boosting_steps_from_node_to_node():
    pytest.importorskip("sklearn")
    from innterpol_cli.baselines.gbm import GradientBoosting

    teff = np.arange(4000.0, 8001.0, 250.0)
    params = np.array([[t, g] for g in (4.0, 4.5, 5.0) for t in teff])
    depth = np.linspace(0, 1, 6)
    values = (np.log10(params[:, :1]) + 0.1 * params[:, 1:2] * depth)[:, None, :]  # (N, 1, D), smooth in Teff
    held = params[:, 0] == 6000.0
    gbm = GradientBoosting(params[~held], values[~held], ["teff", "logg"], np.zeros((1, 6)), np.ones(1),
                           components=2, max_iter=100)
    pos = half_step_positions(gbm.predict, params[held], params[~held], 0)
    smooth = half_step_positions(lambda p: (np.log10(p[:, :1]) + 0.1 * p[:, 1:2] * depth)[:, None, :], params[held],
                                 params[~held], 0)
    assert smooth["plus_half_step"]["median"] == pytest.approx(0.75, abs=0.01)
    # Trees cannot put Teff + half a step between the neighbours' models: it lands on a node's.
    assert min(abs(pos["plus_half_step"]["median"] - 1.0), abs(pos["plus_half_step"]["median"])) < 0.05


def test_json_safe_turns_nan_into_null():
    assert json_safe({"a": [1.0, float("nan")], "b": {"c": float("inf"), "d": "x"}}) == {"a": [1.0, None], "b": {"c": None, "d": "x"}}
