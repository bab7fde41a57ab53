"""The baseline: linear interpolation between grid neighbours.

A held-out node is rebuilt from its two nearest neighbours along one axis (the other
parameters equal), trying the axes in order (Teff first).  Interpolation is linear in the
axis value and in each quantity's usual representation (log10 of positive quantities,
:meth:`~innterpol_cli.encoding.Channel.standard`), as is usual practice.
"""

from __future__ import annotations

import numpy as np

from ..encoding import Channel


def interpolate(ref_params: np.ndarray, ref_values: np.ndarray, query: np.ndarray,
                axes=None) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of ``ref_values`` (N, ...) at each row of ``query`` (M, P), along the
    first of ``axes`` (default: every axis in order) where a bracketing pair exists.

    Returns (values (M, ...), axis used per query or -1 where no bracketing pair exists).
    """
    out = np.full((len(query),) + ref_values.shape[1:], np.nan)
    used = np.full(len(query), -1)
    for m, q in enumerate(query):
        for axis in (range(ref_params.shape[1]) if axes is None else axes):
            others = [j for j in range(ref_params.shape[1]) if j != axis]
            line = np.all(np.isclose(ref_params[:, others], q[others], atol=1e-6), axis=1)
            if not line.any():
                continue
            coords = ref_params[line, axis]
            below = np.where(coords < q[axis] - 1e-9)[0]
            above = np.where(coords > q[axis] + 1e-9)[0]
            if not len(below) or not len(above):
                continue
            lo = below[np.argmax(coords[below])]
            hi = above[np.argmin(coords[above])]
            x0, x1 = coords[lo], coords[hi]
            idx = np.where(line)[0]
            w = (q[axis] - x0) / (x1 - x0)
            out[m] = (1 - w) * ref_values[idx[lo]] + w * ref_values[idx[hi]]
            used[m] = axis
            break
    return out, used


def linear_rebuild(codec: list[Channel], ref_params: np.ndarray, ref_values: np.ndarray, query: np.ndarray,
                   axes=None) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of physical profiles (N, C, D) at ``query``: (M, C, D) physical, axis used."""
    standard = np.stack([ch.standard(ref_values[:, c]) for c, ch in enumerate(codec)], axis=1)
    lin, used = interpolate(ref_params, standard, query, axes)
    return np.stack([ch.from_standard(lin[:, c]) for c, ch in enumerate(codec)], axis=1), used
