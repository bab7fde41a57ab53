"""The paper's "adding 125 K" test (Sect. 3.2, Fig. 3): does a method interpolate between grid
nodes, or jump from one node's model to the next like a nearest-neighbour lookup?"""

from __future__ import annotations

import numpy as np


def half_step_positions(predict, truth_params: np.ndarray, ref_params: np.ndarray, channel: int) -> dict:
    """Where a method puts Teff +- half a step, along the way between the two grid neighbours.

    For each truth model at Teff T whose neighbours lo < T < hi along Teff are in the reference,
    the method predicts at lo, hi and T -+ s/2 (s the step to that neighbour), the paper's
    "adding 125 K" test (Sect. 3.2, Fig. 3).  The position is the projection of
    p(q) - p(lo) onto p(hi) - p(lo) for channel ``channel`` (learned units): a smooth
    interpolator gives about 0.25 and 0.75 when T is midway, nearest-neighbour gives 0 or 1
    (or the value it gives at T itself).
    """
    rows = []
    for q in truth_params:
        line = np.all(np.isclose(ref_params[:, 1:], q[1:], atol=1e-6), axis=1)
        teffs = ref_params[line, 0]
        below, above = teffs[teffs < q[0] - 1e-6], teffs[teffs > q[0] + 1e-6]
        if not len(below) or not len(above):
            continue
        lo, hi = below.max(), above.min()
        rows.append((q, lo, hi))
    if not rows:
        return {"n": 0}
    queries = []
    for q, lo, hi in rows:
        for teff in (lo, hi, q[0] - (q[0] - lo) / 2, q[0] + (hi - q[0]) / 2):
            p = q.copy()
            p[0] = teff
            queries.append(p)
    pred = predict(np.array(queries))[:, channel].reshape(len(rows), 4, -1)
    span = pred[:, 1] - pred[:, 0]
    norm = np.sum(span**2, axis=1)
    ok = norm > 0
    minus = np.sum((pred[:, 2] - pred[:, 0]) * span, axis=1)[ok] / norm[ok]
    plus = np.sum((pred[:, 3] - pred[:, 0]) * span, axis=1)[ok] / norm[ok]
    expected_minus = np.array([((q[0] - (q[0] - lo) / 2) - lo) / (hi - lo) for q, lo, hi in rows])[ok]
    expected_plus = np.array([((q[0] + (hi - q[0]) / 2) - lo) / (hi - lo) for q, lo, hi in rows])[ok]

    def stats(a):
        return {"median": float(np.median(a)), "p05": float(np.percentile(a, 5)), "p95": float(np.percentile(a, 95))}

    return {"n": int(ok.sum()), "minus_half_step": stats(minus), "plus_half_step": stats(plus),
            "linear_minus": float(np.median(expected_minus)), "linear_plus": float(np.median(expected_plus))}
