"""Fitting the hybrid at training time (numpy only; :func:`innterpol_cli.train.finalize` calls
it): the blend weights alpha, chosen on validation rebuilds, and the weights-file arrays that
store the network's residuals at every grid node as int16 codes.  The blend they serve, at
prediction time, is :class:`innterpol_cli.hybrid.Blend`.

alpha (in ``y(p) = S[r](p) + S[N](p) + alpha * (N(p) - S[N](p))``, see :mod:`innterpol_cli.hybrid`)
is chosen per axis and channel among 0, 1/4, ..., 1 on validation nodes rebuilt along that axis
alone, separately for rebuilds whose stencil along the axis is cubic and those where it is
linear only (an edge plane, a hole), to minimise the median over models of each model's largest
error plus five times the median error: alpha = 0, the stencil alone, wherever the network does
not help.
"""

from __future__ import annotations

import numpy as np

from .hybrid import quantise
from .stencil import NodeSet, row_sums

#: The blend weights tried per axis and channel.
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def fit_alpha(nodes: np.ndarray, truth: np.ndarray, network: np.ndarray, fit_idx: np.ndarray, val_idx: np.ndarray,
              n_depth: int, log=None, names=None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Blend weights (P, F), one row per axis (constant over each channel's depths), where the
    stencil along the axis is cubic and where it is linear only, and the count of validation
    nodes each axis was fitted on.

    ``truth`` and ``network`` are (N, F) in standard units at every node; each validation node is
    rebuilt from the ``fit_idx`` nodes by widening one axis (its own value removed, the
    neighbours on either side used).  The rebuilds whose stencil along the axis is linear (an
    edge plane, a hole) fit the linear row on their own when there are at least
    :data:`MIN_LINEAR` of them, else share the cubic row's fit.  An axis with no such rebuild
    gets alpha 0: the stencil alone.  ``names`` (one per channel) ties the :data:`TIED` channels.
    """
    p = nodes.shape[1]
    n_channels = truth.shape[1] // n_depth
    alpha = np.zeros((p, truth.shape[1]))
    alpha_linear = np.zeros((p, truth.shape[1]))
    counts = []
    grid = NodeSet(nodes[fit_idx])
    tied = [c for c in range(n_channels) if names is not None and names[c] in TIED]
    for j in range(p):
        st = grid.stencils(nodes[val_idx], cubic=True, widen=j)
        rows = np.where(st.found)[0]
        counts.append(int(len(rows)))
        if not len(rows):
            continue
        live = st.weight[rows] != 0.0
        picked = st.index[rows][live]
        s_truth = row_sums(live, st.weight[rows], truth[fit_idx][picked], (len(rows), truth.shape[1]))
        s_net = row_sums(live, st.weight[rows], network[fit_idx][picked], (len(rows), truth.shape[1]))
        miss = (truth[val_idx[rows]] - s_truth).reshape(len(rows), n_channels, n_depth)
        curvature = (network[val_idx[rows]] - s_net).reshape(len(rows), n_channels, n_depth)
        linear = ~st.cubic[rows, j]
        for target, subset in ((alpha, ~linear if (~linear).sum() >= MIN_LINEAR else np.ones_like(linear)),
                               (alpha_linear, linear if linear.sum() >= MIN_LINEAR else np.ones_like(linear))):
            scores = {c: _scores(miss[subset, c], curvature[subset, c]) for c in range(n_channels)}
            for c in range(n_channels):
                target[j, c * n_depth:(c + 1) * n_depth] = ALPHAS[int(np.argmin(scores[c]))]
            if tied:
                # One weight for the tied channels: the one that minimises the sum of their scores,
                # each relative to its own score at alpha 0 (the stencil alone).
                joint = sum(scores[c] / max(scores[c][0], 1e-30) for c in tied)
                for c in tied:
                    target[j, c * n_depth:(c + 1) * n_depth] = ALPHAS[int(np.argmin(joint))]
        if log:
            mean = [round(float(alpha[j, c * n_depth:(c + 1) * n_depth].mean()), 2) for c in range(n_channels)]
            mean_linear = [round(float(alpha_linear[j, c * n_depth:(c + 1) * n_depth].mean()), 2) for c in range(n_channels)]
            log(f"hybrid blend along axis {j}: {len(rows)} validation nodes ({int(linear.sum())} with a linear "
                f"stencil), mean alpha per channel {mean}, linear stencil {mean_linear}")
    return alpha, alpha_linear, counts


# One weight over each channel's whole profile: weights chosen per band of 12 depths were tried
# and put kinks in the profiles at the band edges, which the smoothness test then refused in 1% of
# in-grid ATLAS9 predictions.
#: Channels blended with one weight per axis, chosen jointly (:func:`fit_alpha`): hydrostatic
#: equilibrium, P_gas + P_rad = g RHOX, holds in the stencil and, nearly, in the network, and where
#: P_rad is small it ties log P_gas to log RHOX, so the same share of the network's correction goes
#: to both.  The radiative terms (radiation_pressure, radiative_acceleration) come from the main
#: network, which is less accurate than the structure network's RHOX and P: tying them too (the
#: smallest of the four weights, as before) held RHOX and P at alpha 0 where the stencil is cubic,
#: for a P median 2-4x the bare network's; they now take their own weights, with no more
#: hydrostatic refusals (measured: README, Method, Hybrid).
TIED = ("column_mass", "gas_pressure")
#: Fewest validation rebuilds with a linear stencil that get a blend weight of their own.
MIN_LINEAR = 20


def _scores(miss: np.ndarray, curvature: np.ndarray) -> np.ndarray:
    """Per alpha of :data:`ALPHAS`, the median over models of each model's largest error plus five
    times the median error, for the stencil's misses (M, D) and the network's curvature the
    stencil does not see (M, D): the score :func:`fit_alpha` minimises."""
    scores = []
    for a in ALPHAS:
        error = np.abs(miss - a * curvature)
        scores.append(np.median(error.max(axis=1)) + 5.0 * np.median(error))
    return np.array(scores)


def residual_arrays(nodes: np.ndarray, residual: np.ndarray, channels: np.ndarray, alpha: np.ndarray,
                    zero: np.ndarray | None, zero_channels: np.ndarray,
                    alpha_linear: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The weights-file arrays of the hybrid: coded residuals (N, len(channels) * D), alpha, and
    the packed zero masks (N, Z * D) of the zero-floor channels."""
    coded = quantise(residual)
    out = {"residual/nodes": nodes, "residual/channels": channels.astype(np.int64), "residual/alpha": alpha,
           "residual/q": coded["q"], "residual/s": coded["s"], "residual/k": coded["k"],
           "zero/channels": zero_channels.astype(np.int64)}
    if alpha_linear is not None:
        out["residual/alpha_linear"] = alpha_linear
    if zero is not None and len(zero_channels):
        out["zero/mask"] = np.packbits(zero, axis=1)
    return out
