"""Held-out accuracy: every method asked for, on the truth models linear interpolation can rebuild.

Linear interpolation (:mod:`innterpol_cli.baselines.linear`) rebuilds the truth models from the
grid with the truth nodes removed, and only the truth models it can rebuild are scored, so every
method is compared on the same models.
"""

from __future__ import annotations

import numpy as np

from ..baselines.gbm import GradientBoosting
from ..baselines.linear import linear_rebuild
from ..baselines.pca import recall_notes
from .errors import EvaluateError
from .halfstep import half_step_positions
from .methods import METHODS, network_prediction
from .record import Evaluation
from .scoring import score
from .truth import Setup


def evaluate(interp, setup: Setup, methods, *, pca=None, max_models: int | None = None, seed: int = 0,
             gbm_components: int = 12, log=None) -> Evaluation:
    """Score each method on the truth models that linear interpolation can rebuild (along the
    first axis with neighbours on both sides, Teff first).  innterpol forgets the truth nodes'
    grid models first, so it interpolates rather than recalls."""
    log = log or (lambda message: None)
    grid = setup.grid
    channels = [dict(ch) for ch in interp.channels]
    ref = setup.ref_idx
    lin, used = linear_rebuild(interp.codec, grid.params[ref], grid.values[ref], grid.params[setup.truth_idx])
    ok = used >= 0
    n_without = int((~ok).sum())
    if not ok.any():
        raise EvaluateError(f"linear interpolation can rebuild none of the {len(ok)} truth models (no grid neighbours "
                            f"on both sides along any axis): nothing to compare")
    chosen = np.where(ok)[0]
    if max_models is not None and max_models < len(chosen):
        chosen = np.sort(np.random.default_rng(seed).choice(chosen, size=max_models, replace=False))
    truth_idx = setup.truth_idx[chosen]
    params = grid.params[truth_idx]
    log(f"{len(setup.truth_idx)} truth models ({setup.source}); {len(chosen)} evaluated"
        + (f"; {n_without} have no linear-interpolation neighbours and are left out" if n_without else ""))

    forgetful = interp.without(grid.params[setup.truth_idx])
    predictions: dict[str, np.ndarray] = {}
    if "innterpol" in methods:
        predictions["innterpol"] = forgetful.predict_physical(params)
    if "network" in methods:
        predictions["network"] = interp.predict_physical(params, hybrid=False)
    if "pca" in methods:
        predictions["pca"] = pca.predict_physical(params, hybrid=False)
    half_step = {}
    if "gbm" in methods:
        log(f"fitting gradient boosting on {gbm_components} principal components of {len(ref)} reference models ...")
        gbm = GradientBoosting(grid.params[ref], grid.transformed[ref], interp.axes, interp.weights.mean, interp.weights.scale,
                               components=gbm_components, seed=seed)
        predictions["gbm"] = gbm.predict_physical(params, grid.family.channels)
        channel = next((c for c, ch in enumerate(channels) if ch["name"] == "temperature"), 0)
        half_step = {
            "channel": channels[channel]["name"],
            "gbm": half_step_positions(gbm.predict, params, grid.params[ref], channel),
            "innterpol": half_step_positions(lambda p: network_prediction(forgetful, p, hybrid=True), params,
                                             grid.params[ref], channel),
            "gbm_pca_power_kept": gbm.kept,
        }
    predictions["linear"] = lin[chosen]
    order = [m for m in METHODS if m in predictions]
    physical_predictions = {m: predictions[m] for m in order}
    summary = score(interp.codec, [ch.get("unit", "") for ch in channels], grid.values[truth_idx], physical_predictions)
    summary.update(n_test=int(len(truth_idx)), n_linear=int(len(truth_idx)))
    notes = list(setup.notes)
    if "pca" in methods and pca is not None:
        notes += recall_notes(pca, params)
    return Evaluation(
        grid_name=interp.name, weights_path=str(interp.weights.path), source=setup.source, axes=list(interp.axes),
        channels=channels, log_tau=np.asarray(grid.log_tau), params=params, true=grid.values[truth_idx],
        predictions=physical_predictions, summary=summary, n_truth=int(len(setup.truth_idx)), n_without_linear=n_without,
        notes=notes, half_step=half_step,
        models=[grid.models[i] for i in truth_idx] if grid.models is not None else None,
    )
