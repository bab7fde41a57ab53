"""``innterpol train --calibrate-only``: refit the uncertainty calibration of an existing weights file.

The network and the hybrid's residuals stay as they are; the calibration is fitted on the
weights' recorded validation nodes (:func:`innterpol_cli.uncertaintyfit.fit`), the recorded test
nodes are scored again along each axis, and the file is replaced atomically.
"""

from __future__ import annotations

import numpy as np

from .evaluation.errors import EvaluateError


def recalibrate(weights_path, grid_paths, grid_name: str, command: str, log=None, warn=None):
    """Fit the uncertainty calibration of the weights file ``weights_path`` on the validation nodes
    it records, found in the grid files ``grid_paths``; re-score its test nodes
    (``meta["provenance"]["test_metrics"]``), record ``command`` and rewrite the file.

    Returns (the weights as written, the grid read).  The grid files must be those the weights
    were trained on (same data hash, every recorded node present).
    """
    from .evaluation.scoring import along_axes
    from .evaluation.truth import node_rows, recorded_nodes
    from .grid import build_grid, family_for_format, read_grid_files
    from .interpolate import Interpolator
    from .uncertaintyfit import fit
    from .weightsfile import load, save

    log = log or (lambda message: None)
    weights = load(weights_path)
    if weights.arrays is None or "residual/nodes" not in weights.arrays:
        raise EvaluateError(f"{weights_path}: these weights have no hybrid arrays to calibrate (retrain them)")
    log(f"reading grid files for {grid_name} ...")
    models, fmt, report = read_grid_files(grid_paths)
    data = build_grid(models, family_for_format(fmt), report, warn=warn)
    provenance = weights.meta.get("provenance", {})
    if provenance.get("data_hash") and provenance["data_hash"] != data.data_hash:
        raise EvaluateError(f"{weights_path}: the grid files differ from those the weights were trained on (data hash)")
    rows = {}
    for split in ("validation_nodes", "test_nodes"):
        found = node_rows(data.params, recorded_nodes(weights.meta, split))
        if not found or any(i is None for i in found):
            raise EvaluateError(f"{weights_path}: its recorded {split.replace('_', ' ')} are not all in the grid files")
        rows[split] = np.array(found)
    arrays, summary = fit(Interpolator(weights), data.params, data.values, rows["validation_nodes"], log=log)
    weights.arrays.update(arrays)
    summary["command"] = command
    weights.meta["uncertainty"] = summary
    log(f"scoring {len(rows['test_nodes'])} held-out test nodes along each axis ...")
    provenance["test_metrics"] = along_axes(Interpolator(weights), data.params, data.values, rows["test_nodes"], log=log)
    save(weights, weights_path)
    return weights, data
