"""The hybrid of grid and network at prediction time (numpy only): the blend of
:class:`Blend`, what a prediction's uncertainty is made of (:class:`Signals`), and the int16 code
of the network's residuals at the grid nodes (:func:`quantise`, :func:`dequantise`).  Fitting
the blend at training time is :mod:`innterpol_cli.hybridfit`.

Everything here is in each channel's *standard* representation (log10 of positive quantities,
log10 RHOX rather than its learned increments; see :meth:`Channel.standard`), where grid models
are usually interpolated.  With N the network, r = grid - N its residuals at the grid nodes and
S the interpolation stencil of :class:`~innterpol_cli.stencil.NodeSet` (cubic along every axis
where two grid values lie on each side, else linear), a prediction is

    y(p) = S[r](p) + S[N](p) + alpha * (N(p) - S[N](p)).

Since S[r] + S[N] = S[grid], this is cubic interpolation of the grid models plus alpha times the
part of the network's curvature that the stencil misses.  At a node the grid model comes back;
a stencil node that is absent from the grid is filled in by the network (residual 0).  alpha
is stored per axis and channel, one weight where the stencil along the axis is cubic and one
where it is linear only (chosen on validation rebuilds, see :mod:`innterpol_cli.hybridfit`); a
point interpolated along several axes takes the smallest alpha of those axes.  Where no stencil
exists (beyond the populated grid) the network alone answers.

Channels marked ``zero_floor`` (convection) are exactly zero where every grid node of the
stencil is zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .stencil import NodeSet, Packed


def quantise(values: np.ndarray) -> dict[str, np.ndarray]:
    """int16 codes of ``values`` (M, K) with per-column asinh companding: v = s sinh(q / k).

    s is the column's median |value|, k maps the largest |value| to the top code; a residual v
    comes back to about asinh(max / s) / 32767 of itself (3e-4 for max / s = 1e4), or s / k
    near zero.
    """
    top = 32767
    a = np.abs(values)
    s = np.maximum(np.median(a, axis=0), 1e-12) if len(a) else np.ones(values.shape[1])
    k = top / np.maximum(np.arcsinh(a.max(axis=0, initial=0.0) / s), 1e-9)
    q = np.clip(np.round(k * np.arcsinh(values / s)), -top, top).astype(np.int16)
    return {"q": q, "s": s, "k": k}


def dequantise(q: np.ndarray, s: np.ndarray, k: np.ndarray) -> np.ndarray:
    return s * np.sinh(q.astype(np.float64) / k)


class _NetworkCache:
    """The network's residual channels (F,) at lattice points, each computed once, on first use,
    and kept in a dense table (rows are only touched, hence only take memory, once filled).
    Shared by a blend and the blends derived from it (the network is the same)."""

    def __init__(self, network, size: int, features: int):
        self.network = network
        self.values = np.zeros((size, features))
        self.done = np.zeros(size, dtype=bool)

    def fill(self, keys: np.ndarray, points) -> None:
        """Compute the rows of ``keys`` not yet known; ``points(keys)`` gives their parameters."""
        new = np.unique(keys[~self.done[keys]])
        if len(new):
            self.values[new] = self.network(points(new))
            self.done[new] = True


class Blend:
    """The hybrid at prediction time, from the weights file's arrays.

    ``network(params)`` gives the residual channels (N, F) in standard units; :meth:`__call__`
    blends them for many points.  :meth:`without` drops nodes (held-out test nodes, for
    evaluation).

    A grid model in the blend is the network at its node plus the node's stored residual; both
    are computed once per node, on first use, and kept (:class:`_NetworkCache`, ``_model``), so
    that a stencil is one gather from dense tables.
    """

    def __init__(self, arrays: dict[str, np.ndarray], network, n_depth: int, keep: np.ndarray | None = None,
                 caches: dict | None = None):
        self.arrays = arrays
        self.network = network
        self.n_depth = n_depth
        nodes = np.asarray(arrays["residual/nodes"], dtype=float)
        self.keep = np.ones(len(nodes), dtype=bool) if keep is None else keep
        self.channels = np.asarray(arrays["residual/channels"]).astype(int)
        self.alpha = np.asarray(arrays["residual/alpha"], dtype=float)
        self.alpha_linear = np.asarray(arrays.get("residual/alpha_linear", self.alpha), dtype=float)
        self.nodes = NodeSet(nodes[self.keep])
        self._rows = np.where(self.keep)[0]  # node row -> row in the stored arrays
        self.zero_channels = np.asarray(arrays.get("zero/channels", np.zeros(0))).astype(int)
        features = len(self.channels) * n_depth
        self._caches = {} if caches is None else caches  # lattice shape -> _NetworkCache
        shape = self.nodes.shape
        if shape not in self._caches:
            self._caches[shape] = _NetworkCache(network, int(np.prod(shape)), features)
        self._net = self._caches[shape]
        # per node: the grid model (network + residual; a last row of zeros pads the gathers)
        self._model = np.zeros((len(self._rows) + 1, features))
        self._model_done = np.zeros(len(self._rows) + 1, dtype=bool)
        self._model_done[-1] = True
        self._nonzero = None  # per node, where its zero-floor channels are not zero (on first use)

    def stencil_only(self) -> Blend:
        """The same blend with every alpha 0: the interpolation stencil of the grid models alone."""
        arrays = dict(self.arrays)
        arrays["residual/alpha"] = np.zeros_like(self.alpha)
        arrays["residual/alpha_linear"] = np.zeros_like(self.alpha_linear)
        return Blend(arrays, self.network, self.n_depth, self.keep, self._caches)

    def without(self, nodes: np.ndarray) -> Blend:
        """The same blend with the given nodes (rows of parameters) removed."""
        stored = np.round(np.asarray(self.arrays["residual/nodes"], dtype=float), 4)
        drop = {tuple(r) for r in np.round(np.atleast_2d(nodes), 4)}
        keep = self.keep & np.array([tuple(r) not in drop for r in stored])
        return Blend(self.arrays, self.network, self.n_depth, keep, self._caches)

    def scalar(self, name: str, params: np.ndarray) -> np.ndarray | None:
        """A per-node scalar (``scalar/NAME`` in the weights, e.g. log10 PRADK) interpolated at
        ``params`` with the same stencils (NaN where there is none), or None if the file has none."""
        values = self.arrays.get(f"scalar/{name}")
        if values is None:
            return None
        out, _ = self.nodes.interpolate(params, np.asarray(values, dtype=float)[self._rows], cubic=True, fallback=True)
        return out

    def residuals(self, rows: np.ndarray) -> np.ndarray:
        """Decoded residuals (len(rows), F) of node rows of :attr:`nodes`."""
        unique, where = np.unique(rows, return_inverse=True)
        a = self.arrays
        return dequantise(a["residual/q"][self._rows[unique]], a["residual/s"], a["residual/k"])[where]

    def zero_mask(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), Z * D) True where a node's zero-floor channel is exactly zero."""
        packed = self.arrays["zero/mask"][self._rows[rows]]
        return np.unpackbits(packed, axis=1, count=len(self.zero_channels) * self.n_depth).astype(bool)

    def _models(self, rows: np.ndarray) -> None:
        """Make sure the grid models of node rows ``rows`` are in ``_model``."""
        new = np.unique(rows[~self._model_done[rows]])
        if len(new):
            keys = self.nodes.node_keys[new]
            self._net.fill(keys, self.nodes.lattice_points)
            self._model[new] = self._net.values[keys] + self.residuals(new)
            self._model_done[new] = True

    def grid_models(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The grid models (R, F) of node rows ``rows`` (every node by default) in the blended
        channels' standard units, as the blend uses them."""
        rows = np.arange(len(self._rows)) if rows is None else np.asarray(rows, dtype=np.intp)
        self._models(rows)
        return self._model[rows]

    def _nonzero_nodes(self) -> np.ndarray:
        """(nodes + 1, Z * D) True where a node's zero-floor channel is not zero (a last row of False)."""
        if self._nonzero is None:
            rows = np.arange(len(self._rows))
            self._nonzero = np.concatenate([~self.zero_mask(rows), np.zeros((1, len(self.zero_channels) * self.n_depth), bool)])
        return self._nonzero

    def __call__(self, params: np.ndarray, own: np.ndarray, widen: int | None = None,
                 signals: bool = False) -> tuple[np.ndarray, np.ndarray | None, Signals | None]:
        """Blended residual channels (N, F) from the network's own (N, F), the zero mask
        (N, Z * D) of the zero-floor channels (None without any) and, with ``signals``, what the
        uncertainty is made of (:class:`Signals`).  ``widen=j`` rebuilds points on nodes along
        axis ``j`` only (evaluation)."""
        st = self.nodes.stencils(params, cubic=True, impute=True, fallback=widen is None, widen=widen)
        zeros = None
        found_signals = Signals.empty(len(params), st.spans.shape[1], own.shape[1]) if signals else None
        if not st.found.any():
            return own, zeros, found_signals
        live = st.weight != 0.0
        present = live & ~st.missing
        missing = st.missing & live
        packed = Packed(live)
        pad = len(self._model) - 1
        # Every live slot's network value and, for nodes present in the grid, its grid model
        # (absent nodes gather the padding row of zeros), packed (N, W, F).
        keys = packed.take(st.keys, 0)
        self._net.fill(keys[packed.used], self.nodes.lattice_points)
        net = np.take(self._net.values, keys, axis=0)
        rows = packed.take(np.where(present, st.index, pad), pad)
        self._models(rows[packed.used])
        model = np.take(self._model, rows, axis=0)
        weight = packed.take(st.weight, 0.0)
        is_present = packed.take(present, False)
        is_missing = packed.take(missing, False)
        w_present = np.where(is_present, weight, 0.0)
        w_missing = np.where(is_missing, weight, 0.0)
        has_missing = bool(is_missing.any())
        if has_missing:
            # An absent node is filled in by the network plus the mean residual of the nodes that
            # are present (weighted by |stencil weight|): the network's local bias is taken out.
            size = np.abs(w_present)
            fill = packed.sums(size[None], model - net)[0]
            fill /= np.maximum(size.sum(axis=1), 1e-300)[:, None]

        def models_sum(weight_sets: np.ndarray) -> np.ndarray:
            """Sums (K, N, F) over every live slot's grid model (absent ones filled in) of K weight sets (K, N, W)."""
            total = packed.sums(np.where(is_present, weight_sets, 0.0), model)
            if has_missing:
                on_missing = np.where(is_missing, weight_sets, 0.0)
                total += packed.sums(on_missing, net) + on_missing.sum(axis=2)[..., None] * fill
            return total

        # The stencil of the grid models, with the signals' weight sets when asked for (one product).
        axes = np.where(st.spans.any(axis=0))[0] if signals else []
        weight_sets = [weight] + [packed.take(st.signal_weights(j, kind), 0.0) for j in axes for kind in ("curve", "slope")]
        sums = models_sum(np.stack(weight_sets))
        stencil = sums[0]
        stencil_net = packed.sums(weight[None], net)[0]
        # alpha of the axes each point is interpolated along (the cubic or the linear-stencil
        # weight of each): the smallest of them.
        per_axis = np.where(st.cubic[:, :, None], self.alpha[None], self.alpha_linear[None])
        alpha = np.where(st.spans[:, :, None], per_axis, np.inf).min(axis=1)
        alpha = np.where(np.isfinite(alpha), alpha, 0.0)
        blended = stencil + alpha * (own - stencil_net)
        if len(self.zero_channels) and "zero/mask" in self.arrays:
            nonzero = self._nonzero_nodes()[rows]  # (N, W, Z * D); absent slots are the False padding row
            zeros = ~nonzero.any(axis=1) & st.found[:, None]
        if signals:
            for i, j in enumerate(axes):
                found_signals.curve[:, j] = np.abs(sums[1 + 2 * i])
                found_signals.slope[:, j] = np.abs(sums[2 + 2 * i])
            found_signals.network[:] = np.abs(own - stencil_net)
            # each node's residual, less the stencil's, written over ``net`` (no longer needed): a
            # fresh (N, W, F) array would cost more in page faults than the arithmetic
            spread_r = np.subtract(model, net, out=net)
            spread_r -= (stencil - stencil_net)[:, None, :]
            np.abs(spread_r, out=spread_r)
            found_signals.rough[:] = packed.sums(np.abs(w_present)[None], spread_r)[0]
            found_signals.cubic[:] = st.cubic
            found_signals.bump[:] = st.bump
            found_signals.missing[:] = np.sum(np.abs(w_missing), axis=1)
            found_signals.found[:] = st.found
        return np.where(st.found[:, None], blended, own), zeros, found_signals


@dataclass
class Signals:
    """What a prediction's uncertainty is made of, per point, in standard units.

    ``curve`` and ``slope`` (N, P, F): per axis the point is interpolated along (see
    :meth:`~innterpol_cli.stencil.NodeSet._axis`), |cubic minus linear interpolation| where the
    axis stencil is cubic (``cubic`` (N, P); else 0), and the change across the grid cell times
    4t(1 - t); ``bump`` (N, P): 4t(1 - t) alone, t the point's place in its cell on each axis;
    ``missing`` (N,): the summed |weight| of stencil nodes absent from the grid (filled in by the
    network); ``found`` (N,): whether a stencil exists (else the network alone answered).
    """

    curve: np.ndarray
    slope: np.ndarray
    network: np.ndarray
    rough: np.ndarray
    cubic: np.ndarray
    bump: np.ndarray
    missing: np.ndarray
    found: np.ndarray

    FIELDS = ("curve", "slope", "network", "rough", "cubic", "bump", "missing", "found")

    @classmethod
    def empty(cls, n: int, p: int, f: int) -> Signals:
        return cls(np.zeros((n, p, f)), np.zeros((n, p, f)), np.zeros((n, f)), np.zeros((n, f)),
                   np.zeros((n, p), dtype=bool), np.zeros((n, p)), np.zeros(n), np.zeros(n, dtype=bool))

    def take(self, rows) -> Signals:
        return Signals(*(getattr(self, k)[rows] for k in self.FIELDS))

    @classmethod
    def concatenate(cls, parts: list[Signals]) -> Signals:
        return cls(*(np.concatenate([getattr(s, k) for s in parts]) for k in cls.FIELDS))
