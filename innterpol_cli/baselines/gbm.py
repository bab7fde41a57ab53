"""Gradient boosting, the paper's LightGBM baseline (Sect. 3.2).

scikit-learn's HistGradientBoostingRegressor stands in for LightGBM, one regressor per principal
component of the normalised profiles.  The paper found that it behaves like nearest-neighbour
between nodes; :func:`innterpol_cli.evaluation.halfstep.half_step_positions` measures that.
"""

from __future__ import annotations

import numpy as np

from ..encoding import ProfileScaling, transform_params
from ..evaluation.errors import EvaluateError


class GradientBoosting:
    """HistGradientBoostingRegressor per principal component of the normalised profiles.

    The paper (Sect. 3.2) regressed LightGBM on the grid; with trees, every split falls between
    two grid values, so between nodes the prediction stays on one node's model.
    """

    def __init__(self, params: np.ndarray, transformed: np.ndarray, axes, mean: np.ndarray, scale: np.ndarray,
                 components: int = 12, seed: int = 0, max_iter: int = 300):
        try:
            from sklearn.ensemble import HistGradientBoostingRegressor
        except ImportError:
            raise EvaluateError("method gbm needs scikit-learn, which is not installed: pip install 'innterpol[eval]'") from None
        self.axes, self.profiles = list(axes), ProfileScaling(mean, scale)
        flat = self.profiles.normalise(transformed).reshape(len(params), -1)
        self.centre = flat.mean(axis=0)
        _, sing, vt = np.linalg.svd(flat - self.centre, full_matrices=False)
        self.basis = vt[:components]
        self.kept = float(np.sum(sing[:components] ** 2) / np.sum(sing**2))
        coeffs = (flat - self.centre) @ self.basis.T
        x = transform_params(params, self.axes)
        self.models = [
            HistGradientBoostingRegressor(max_iter=max_iter, learning_rate=0.1, early_stopping=False, random_state=seed).fit(x, coeffs[:, k])
            for k in range(len(self.basis))
        ]
        self.shape = transformed.shape[1:]

    def predict(self, params: np.ndarray) -> np.ndarray:
        """Learned (transformed) values (N, C, D) at ``params``."""
        x = transform_params(np.atleast_2d(params), self.axes)
        coeffs = np.stack([m.predict(x) for m in self.models], axis=1)
        flat = coeffs @ self.basis + self.centre
        return self.profiles.denormalise(flat.reshape((len(x),) + self.shape))

    def predict_physical(self, params: np.ndarray, channels) -> np.ndarray:
        """Physical values (N, C, D) at ``params``, through each of ``channels``' inverse transform."""
        learned = self.predict(params)
        return np.stack([ch.inverse(learned[:, c]) for c, ch in enumerate(channels)], axis=1)
