"""The shipped weights' predictions and sigma are pinned (tests/data/pinned-*.npz, made by
tests/pin_predictions.py): a speed-up or a refactor must leave a whole batch unchanged to 1e-12
relative (sigma to 1e-10), and one model per call to 1e-9 (one point takes a scalar path through
the stencils)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pin_predictions import QUANTITIES, predict, weights_sha256

from innterpol_cli.interpolate import load

DATA = Path(__file__).resolve().parent / "data"
RTOL = 1e-12  # the batch, as pinned
#: sigma is built from differences of nearly equal profiles (network - stencil, cubic - linear): the
#: last bits of the grid models the blend cached (1e-16, which depend on the batch that first
#: needed them) reach it magnified, up to 5e-12 after other tests have filled the caches.
RTOL_SIGMA = 1e-10
RTOL_ONE = 1e-9  # one model per call (scalar arithmetic) against the batch


@pytest.fixture(scope="module", params=["atlas9", "marcs"])
def pinned(request):
    grid = request.param
    interp = load(grid)  # the shipped weights: the pins belong to them
    reference = dict(np.load(DATA / f"pinned-{grid}.npz"))
    assert str(reference.pop("sha256")) == weights_sha256(interp.weights.path), (
        f"tests/data/pinned-{grid}.npz was made from other weights: after a deliberate retrain, "
        f"regenerate it with `python tests/pin_predictions.py {grid}`"
    )
    return interp, reference


def _compare(got: dict, reference: dict, rows=slice(None), rtol: float = RTOL) -> None:
    assert set(got) == set(reference) - {"params"}
    for key, value in got.items():
        want = reference[key][rows].astype(float)
        scale = np.maximum(np.abs(want), 1e-30)
        worst = float(np.max(np.abs(value - want) / scale))
        limit = max(rtol, RTOL_SIGMA) if key.endswith("_sigma") else rtol
        assert worst <= limit, f"{key}: changed by {worst:.2e} relative (pinned to {limit:g})"


def test_batch_predictions_pinned(pinned):
    interp, reference = pinned
    _compare(predict(interp, reference["params"]), reference)


def test_one_model_per_call_pinned(pinned):
    interp, reference = pinned
    params = reference["params"]
    for i in range(0, len(params), 29):  # every kind of point, one call each
        _compare(predict(interp, params[i: i + 1]), reference, slice(i, i + 1), RTOL_ONE)


def test_pins_cover_every_quantity_a_grid_has(pinned):
    interp, reference = pinned
    assert len(reference["params"]) == 1000
    assert "temperature" in reference and "temperature_sigma" in reference
    assert sum(q in reference for q in QUANTITIES) >= 4
