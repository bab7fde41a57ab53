"""The codec: channel transforms round-trip, ``steps`` channels come back increasing whatever the
network puts out, and the parameter and profile scalings are the same objects in training and
inference."""

from __future__ import annotations

import numpy as np
import pytest

from innterpol_cli.encoding import Channel, ParamScaling, ProfileScaling, transform_params
from innterpol_cli.hybrid import dequantise, quantise


@pytest.mark.parametrize("channel", [
    Channel("temperature"),
    Channel("pp:H I", "linear"),
    Channel("convective_velocity", "asinh", 1e4, zero_floor=True),
    Channel("column_mass", "steps", base="log"),
    Channel("log_tau_5000", "steps", base="linear"),
    Channel("depth", "steps", 1e6, base="asinh"),
])
def test_round_trip(channel):
    rng = np.random.default_rng(0)
    if channel.transform == "steps":
        x = np.cumsum(rng.uniform(0.01, 0.3, (5, 40)), axis=1) - 3
        values = {"log": 10.0**x, "linear": x, "asinh": np.sinh(x) * channel.scale}[channel.base]
    elif channel.transform == "log":
        values = rng.uniform(3000, 9000, (5, 40))
    else:
        values = rng.normal(0, 3, (5, 40)) * channel.scale
    np.testing.assert_allclose(channel.inverse(channel.forward(values)), values, rtol=1e-12, atol=1e-9 * channel.scale)
    assert Channel.from_dict(channel.to_dict()) == channel


def test_steps_are_increasing_whatever_is_predicted():
    rhox = Channel("column_mass", "steps", base="log")
    noise = np.random.default_rng(1).normal(-1, 0.5, (200, 72))  # far noisier than any network or blend
    back = rhox.inverse(noise)
    assert np.all(np.isfinite(back)) and np.all(back > 0)
    assert np.all(np.diff(back, axis=1) > 0)


def test_valid_explains_what_cannot_be_learned():
    assert Channel("temperature").valid(np.array([5000.0, -1.0])) == "non-positive temperature"
    assert Channel("temperature").valid(np.array([5000.0, np.nan])) == "non-finite temperature"
    assert "not increasing" in Channel("column_mass", "steps").valid(np.array([1.0, 2.0, 2.0]))
    assert Channel("column_mass", "steps").valid(np.array([1.0, 2.0, 3.0])) is None


def test_standard_representation_is_log_for_positive_quantities():
    v = np.array([[1.0, 10.0, 100.0]])
    assert Channel("column_mass", "steps").standard(v).tolist() == [[0.0, 1.0, 2.0]]
    assert Channel("temperature").from_standard(np.array([3.0])) == pytest.approx(1000.0)


def test_param_scaling_round_trips_through_its_dict():
    params = np.array([[3500.0, 0.0, -4.0, 0.0], [50000.0, 5.0, 0.5, 0.4]])
    scaling = ParamScaling.fit(params, ("teff", "logg", "mh", "am"))
    np.testing.assert_allclose(scaling(params), [[-1, -1, -1, -1], [1, 1, 1, 1]])
    again = ParamScaling.from_dict(scaling.to_dict(), ("teff", "logg", "mh", "am"))
    np.testing.assert_array_equal(again(params), scaling(params))
    assert transform_params(params, ("teff", "logg", "mh", "am"))[1, 0] == pytest.approx(np.log10(50000.0))


def test_residual_codes_keep_small_and_large_values():
    rng = np.random.default_rng(3)
    values = rng.standard_t(2, (500, 6)) * 1e-3
    coded = quantise(values)
    assert coded["q"].dtype == np.int16
    back = dequantise(coded["q"], coded["s"], coded["k"])
    rel = np.abs(back - values) / np.maximum(np.abs(values), coded["s"])
    assert rel.max() < 1e-3


@pytest.mark.parametrize("per_depth", [False, True])
def test_profile_scaling_round_trips_and_keeps_the_operation_order(per_depth):
    """normalise is (x - mean) / scale and denormalise x * scale + mean, element by element as the
    weights were made: the results are those expressions bit for bit, and round-trip closely."""
    rng = np.random.default_rng(1)
    profiles = rng.normal(3.0, 0.7, (20, 3, 16)) * np.array([1.0, 10.0, 0.0])[None, :, None]
    scaling = (ProfileScaling.fit_per_depth if per_depth else ProfileScaling.fit)(profiles[:12])
    assert scaling.mean.shape == (3, 16) and scaling.scale.shape == ((3, 16) if per_depth else (3,))
    assert np.all(scaling.scale > 0)  # the constant channel gets 1 (per channel) or 1e-6 (per depth)
    scale = scaling.scale if per_depth else scaling.scale[None, :, None]
    normalised = scaling.normalise(profiles)
    assert np.array_equal(normalised, (profiles - scaling.mean[None]) / scale)
    assert np.array_equal(scaling.denormalise(normalised), normalised * scale + scaling.mean[None])
    np.testing.assert_allclose(scaling.denormalise(normalised), profiles, rtol=1e-12, atol=1e-12)
    for c in range(3):
        assert np.array_equal(scaling.normalise(profiles[:, c], channel=c), normalised[:, c])

