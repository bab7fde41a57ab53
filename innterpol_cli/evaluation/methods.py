"""The methods an evaluation compares, and which of them a run asks for.

- ``innterpol``: the hybrid (network plus its interpolated residuals), the default predictor;
- ``network``: the network alone;
- ``linear``: linear interpolation (:mod:`innterpol_cli.baselines.linear`), always computed (it is the baseline);
- ``pca``: a second weights file trained with ``--method pca`` (the paper's PCA-NN), network alone
  (:mod:`innterpol_cli.baselines.pca`);
- ``gbm``: gradient boosting on a few principal components of the profiles
  (:mod:`innterpol_cli.baselines.gbm`).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from .errors import EvaluateError

METHODS = ("innterpol", "network", "linear", "pca", "gbm")
DEFAULT_METHODS = ("innterpol", "network", "linear")


def parse_methods(text: str | None, pca_weights: str | None) -> list[str]:
    """Methods from a comma-separated list, in METHODS order; linear is always included."""
    if not text:
        chosen = list(DEFAULT_METHODS) + (["pca"] if pca_weights else [])
    else:
        chosen = [m.strip().lower() for m in text.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise EvaluateError(f"unknown method(s) {', '.join(unknown)}: use {', '.join(METHODS)}")
    if "pca" in chosen and not pca_weights:
        raise EvaluateError("method pca needs --pca-weights PATH (weights trained with `innterpol train --method pca`)")
    if "gbm" in chosen and importlib.util.find_spec("sklearn") is None:
        raise EvaluateError("method gbm needs scikit-learn, which is not installed: pip install 'innterpol[eval]'")
    chosen = set(chosen) | {"linear"}
    return [m for m in METHODS if m in chosen]


def network_prediction(interp, params: np.ndarray, hybrid: bool) -> np.ndarray:
    """Learned (transformed) values (N, C, D) of a weights file at ``params``."""
    y = interp.predict_normalised(params, hybrid=hybrid)
    return interp.weights.profile_scaling.denormalise(y)
