"""The PCA + network baseline (the paper's PCA-NN): a second weights file, trained with
``innterpol train --method pca``, predicting with its network alone."""

from __future__ import annotations

import numpy as np

from ..evaluation.errors import EvaluateError
from ..evaluation.truth import node_keys, recorded_nodes


def check_pca_weights(interp, pca) -> list[str]:
    """``pca`` must be for the family, axes and depth scale of the weights ``interp`` evaluated;
    weights not trained with method pca are a note."""
    if pca.family != interp.family or list(pca.axes) != list(interp.axes):
        raise EvaluateError(f"--pca-weights are for the {pca.family} family ({', '.join(pca.axes)}), the weights "
                            f"evaluated for {interp.family} ({', '.join(interp.axes)})")
    if len(pca.log_tau) != len(interp.log_tau) or np.max(np.abs(pca.log_tau - interp.log_tau)) > 1e-4:
        raise EvaluateError("--pca-weights are on a different depth scale from the weights evaluated")
    method = pca.meta.get("train_config", {}).get("method")
    return [] if method == "pca" else [f"--pca-weights were trained with method {method!r}, not 'pca'"]


def recall_notes(pca, params: np.ndarray) -> list[str]:
    """A note when some of ``params`` are not in the PCA weights' own test split (it trained on them)."""
    tests = set(node_keys(recorded_nodes(pca.meta)))
    trained = sum(k not in tests for k in node_keys(params))
    if not trained:
        return []
    return [f"{trained} evaluated model(s) are not in the PCA weights' test split: its errors there measure recall"]
