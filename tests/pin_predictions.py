"""Pinned predictions of the shipped weights: regenerate ``tests/data/pinned-<grid>.npz``.

    python tests/pin_predictions.py            # both grids

The points are drawn with a fixed seed, in the populated grid (mid-cell, on nodes) and within one
step of it (absent corners, filled in by the network), so that every path of the hybrid is pinned:
cubic and linear stencils, imputed nodes, nodes, the bare network.  The file keeps the sha256 of the
weights it was made from and the values in float64; ``tests/test_pinned.py`` compares the current
code against it to 1e-12 relative (a whole batch, as made here) and to 1e-9 one model per call
(one point takes a scalar path through the stencils).
Regenerate only when the weights change on purpose (a retrain), never to make a failing test pass.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

from innterpol_cli.interpolate import NEAR

HERE = Path(__file__).resolve().parent
QUANTITIES = ("column_mass", "temperature", "gas_pressure", "electron_density", "electron_pressure")
COUNT = 1000


def weights_sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def points(interp, count: int = COUNT, seed: int = 20261202) -> np.ndarray:
    """``count`` parameter rows: a third on nodes, a third mid-cell, a third near (one step out)."""
    rng = np.random.default_rng(seed)
    nodes = interp.nodes
    steps = np.array([np.min(np.diff(v)) if len(v) > 1 else 0.0 for v in interp.axis_values])
    third = count // 3
    on = nodes[rng.choice(len(nodes), third, replace=False)]
    rows = []
    while len(rows) < third:
        c = nodes[rng.choice(len(nodes))] + rng.uniform(0.05, 0.95, len(steps)) * steps
        if interp.cells.stencils(c[None]).found[0]:
            rows.append(c)
    mid = np.array(rows)
    near = []
    while len(near) < count - 2 * third:
        c = nodes[rng.choice(len(nodes))] + rng.uniform(-0.9, 0.9, len(steps)) * steps
        if not interp.cells.stencils(c[None]).found[0] and interp.coverage(c[None]).status[0] == NEAR:
            near.append(c)
    return np.concatenate([on, mid, np.array(near)])


def predict(interp, params: np.ndarray) -> dict[str, np.ndarray]:
    out = interp.predict_arrays(params, extrapolate=True, uncertainty=True)
    keep = {}
    for q in QUANTITIES:
        if q in out:
            keep[q] = out[q]
            keep[f"{q}_sigma"] = out.get(f"{q}_sigma", np.zeros_like(out[q]))
    return keep


def main(grids) -> None:
    from innterpol_cli.interpolate import load

    for grid in grids:
        interp = load(grid)
        params = points(interp)
        arrays = predict(interp, params)
        path = HERE / "data" / f"pinned-{grid}.npz"
        np.savez_compressed(path, params=params, sha256=np.array(weights_sha256(interp.weights.path)),
                            **{k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()})
        print(f"{path}: {len(params)} points, {len(arrays)} arrays")


if __name__ == "__main__":
    main(sys.argv[1:] or ["atlas9", "marcs"])
