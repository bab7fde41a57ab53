"""Interpolation stencils on a grid of nodes (numpy, no I/O): which grid models, with which
weights, rebuild the profile at a point.

A stencil is a tensor product of per-axis stencils: per axis, a 4-point Lagrange (cubic)
stencil where two grid values lie on each side and cubic is asked for, else the 2-point linear
one; a point on a grid value uses that value alone.  Lagrange weights on unevenly spaced values
reproduce any cubic along the axis exactly.  Stencils are computed for whole batches:
each node is keyed by its flat index on the lattice of unique axis values and looked up by
binary search.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

#: A coordinate within this of a grid value sits on it.
ON_NODE = 1e-6
_DIAGONAL = np.arange(4)


@dataclass
class Stencils:
    """Stencils of N points with S = 4**P slots each.

    ``index`` (N, S): node row of each slot (0 where absent); ``weight`` (N, S): its weight (0 for
    unused slots; rows not ``found`` are all zero); ``missing`` (N, S): live slots whose node is
    absent (only with ``impute``); ``keys`` (N, S): each slot's flat lattice index; ``spans``
    (N, P): the axes along which the point is interpolated (more than one grid value used);
    ``axis_weight`` (N, P, 4): each axis's own weights on its 4 positions (slot weights are their
    products, position ``(slot // 4**(P-1-j)) % 4`` on axis ``j``); ``axis_curve`` and
    ``axis_slope`` (N, P, 4): per axis, the weights of what the uncertainty measures along it
    (:meth:`NodeSet._axis`).
    """

    index: np.ndarray
    weight: np.ndarray
    found: np.ndarray
    missing: np.ndarray
    keys: np.ndarray
    spans: np.ndarray
    axis_weight: np.ndarray
    axis_curve: np.ndarray
    axis_slope: np.ndarray
    cubic: np.ndarray  # (N, P) whether each axis's stencil is cubic (and spans)

    @property
    def bump(self) -> np.ndarray:
        """(N, P) 4t(1 - t) of the point's place t in its cell along each axis (0 on a node)."""
        return self.axis_slope[:, :, 2]

    def signal_weights(self, j: int, kind: str) -> np.ndarray:
        """Slot weights (N, S) of axis ``j``'s ``curve`` or ``slope`` signal: the other axes' own
        weights times axis ``j``'s signal weights."""
        n, p, _ = self.axis_weight.shape
        own = self.axis_curve if kind == "curve" else self.axis_slope
        out = np.ones((n, 4**p))
        for i in range(p):
            digit = (np.arange(4**p) // 4 ** (p - 1 - i)) % 4
            out *= (own if i == j else self.axis_weight)[:, i, digit]
        return out


class NodeSet:
    """Grid nodes (N, P) with interpolation stencils."""

    def __init__(self, nodes: np.ndarray, cubic_axes: tuple[int, ...] | None = None):
        self.nodes = np.asarray(nodes, dtype=float)
        self.cubic_axes = tuple(range(self.nodes.shape[1])) if cubic_axes is None else tuple(cubic_axes)
        self.values = [np.unique(self.nodes[:, j]) for j in range(self.nodes.shape[1])]
        self._lists = [v.tolist() for v in self.values]  # for the one-point path of _axis
        self.shape = tuple(len(v) for v in self.values)
        positions = tuple(np.searchsorted(v, self.nodes[:, j]) for j, v in enumerate(self.values))
        keys = np.ravel_multi_index(positions, self.shape)
        self.node_keys = keys  # each node's flat lattice index
        self._strides = np.array([int(np.prod(self.shape[j + 1:])) for j in range(len(self.shape))], dtype=np.intp)
        # lattice index -> node row (-1 where the lattice point is not a node); a duplicate node
        # keeps its first row, as a stable search over sorted keys did
        self._row_of_key = np.full(int(np.prod(self.shape)), -1, dtype=np.intp)
        first = np.unique(keys, return_index=True)
        self._row_of_key[first[0]] = first[1]

    @staticmethod
    def _digits(p: int) -> np.ndarray:
        """(P, 4**P): the position on each axis of every slot (slot c is at (c // 4**(P-1-j)) % 4 on axis j)."""
        c = np.arange(4**p)
        return np.stack([(c // 4 ** (p - 1 - j)) % 4 for j in range(p)])

    def lattice_points(self, keys: np.ndarray) -> np.ndarray:
        """Parameters (K, P) of flat lattice indices."""
        positions = np.unravel_index(np.asarray(keys), self.shape)
        return np.stack([self.values[j][positions[j]] for j in range(len(positions))], axis=1)

    def _axis(self, j: int, x: np.ndarray, expand: bool | tuple[int, int], cubic: bool):
        """Per row: 4 positions on axis ``j``, their weights, whether a stencil exists, the
        ``curve`` and ``slope`` weights, and whether the stencil is cubic.

        A value on a grid value uses it alone, unless ``expand``: then the neighbouring values
        on either side are used instead (the value itself is treated as missing); ``expand=(b, a)``
        skips ``b`` more values below and ``a`` more above as well, so that the value sits at
        another fraction of a wider cell (how the uncertainty is calibrated off mid-cell).

        Two more weight sets measure how uncertain the interpolation along this axis is: ``curve``,
        for a cubic stencil, cubic minus linear weights (how much the curvature the cubic sees
        changes the answer; zero for a linear stencil); ``slope``, 4t(1 - t) times the difference
        of the two inner values (the change across the cell, largest mid-cell, zero on a node).
        """
        if len(x) == 1 and math.isfinite(x[0]):
            return self._axis_one(j, float(x[0]), expand, cubic)
        grid = self.values[j]
        n = len(grid)
        k = np.searchsorted(grid, x - 1e-9)
        on = np.minimum(k, n - 1)
        exact = (k < n) & (np.abs(grid[on] - x) < ON_NODE)
        below, above = expand if isinstance(expand, tuple) else (0, 0)
        hi = np.where(exact, k + 1 + above, k) if expand else k
        lo = np.where(exact, k - below, k) if expand else k
        pos = np.stack([lo - 2, lo - 1, hi, hi + 1], axis=1)
        use_cubic = cubic & (pos[:, 0] >= 0) & (pos[:, 3] < n)
        linear_ok = (pos[:, 1] >= 0) & (pos[:, 2] < n)
        p = np.clip(pos, 0, n - 1)
        xs = grid[p]
        # Lagrange weights: w_a = prod over b != a of (x - x_b) / (x_a - x_b), a factor 0 where
        # two positions coincide (a stencil clipped at the grid's edge, which is never cubic).
        den = xs[:, :, None] - xs[:, None, :]
        num = np.broadcast_to((x[:, None] - xs)[:, None, :], den.shape)
        factor = np.divide(num, den, out=np.zeros_like(den), where=den != 0)
        factor[:, _DIAGONAL, _DIAGONAL] = 1.0
        w_cubic = factor[:, :, 0] * factor[:, :, 1] * factor[:, :, 2] * factor[:, :, 3]
        span = xs[:, 2] - xs[:, 1]
        t = np.divide(x - xs[:, 1], span, out=np.zeros_like(x), where=span > 0)
        w_linear = np.stack([np.zeros_like(x), 1.0 - t, t, np.zeros_like(x)], axis=1)
        w = np.where(use_cubic[:, None], w_cubic, w_linear)
        slope = (4.0 * t * (1.0 - t))[:, None] * np.array([0.0, -1.0, 1.0, 0.0])
        curve = np.where(use_cubic[:, None], w_cubic - w_linear, 0.0)
        valid = use_cubic | linear_ok
        if not expand:
            w = np.where(exact[:, None], np.array([0.0, 1.0, 0.0, 0.0]), w)
            curve = np.where(exact[:, None], 0.0, curve)
            slope = np.where(exact[:, None], 0.0, slope)
            p = np.where(exact[:, None], on[:, None], p)
            valid |= exact
        return p, w, valid, curve, slope, use_cubic

    def _axis_one(self, j: int, x: float, expand: bool | tuple[int, int], cubic: bool):
        """:meth:`_axis` for one finite value, in Python floats: the same operations in the same
        order, hence the same numbers to the last bit, without the cost of ~25 numpy calls on
        arrays of one (what a fitting loop calling innterpol per step pays)."""
        grid = self._lists[j]
        n = len(grid)
        k = bisect.bisect_left(grid, x - 1e-9)
        on = min(k, n - 1)
        exact = k < n and abs(grid[on] - x) < ON_NODE
        below, above = expand if isinstance(expand, tuple) else (0, 0)
        hi = (k + 1 + above if exact else k) if expand else k
        lo = (k - below if exact else k) if expand else k
        pos = (lo - 2, lo - 1, hi, hi + 1)
        use_cubic = bool(cubic) and pos[0] >= 0 and pos[3] < n
        linear_ok = pos[1] >= 0 and pos[2] < n
        p = [min(max(v, 0), n - 1) for v in pos]
        xs = [grid[v] for v in p]
        w_cubic = []
        for a in range(4):
            product = 1.0
            for b in range(4):
                if a != b:
                    den = xs[a] - xs[b]
                    product = product * ((x - xs[b]) / den if den != 0 else 0.0)
                else:
                    product = product * 1.0
            w_cubic.append(product)
        span = xs[2] - xs[1]
        t = (x - xs[1]) / span if span > 0 else 0.0
        w_linear = [0.0, 1.0 - t, t, 0.0]
        w = w_cubic if use_cubic else w_linear
        bump = 4.0 * t * (1.0 - t)
        slope = [bump * 0.0, bump * -1.0, bump * 1.0, bump * 0.0]
        curve = [c - lin for c, lin in zip(w_cubic, w_linear)] if use_cubic else [0.0] * 4
        valid = use_cubic or linear_ok
        if not expand and exact:
            w, curve, slope, p = [0.0, 1.0, 0.0, 0.0], [0.0] * 4, [0.0] * 4, [on] * 4
            valid = True
        return (np.array([p], dtype=np.intp), np.array([w]), np.array([valid]), np.array([curve]), np.array([slope]),
                np.array([use_cubic]))

    def linear_found(self, query) -> bool:
        """``stencils([query]).found[0]`` (a linear stencil with every node present) for one finite
        point, in Python: the same positions and weights as :meth:`_axis_one` builds, without
        building the stencil (the coverage guard of one model per call asks only this)."""
        corners = [0]
        table = self._row_of_key
        for j, x in enumerate(query):
            grid = self._lists[j]
            n = len(grid)
            k = bisect.bisect_left(grid, x - 1e-9)
            on = min(k, n - 1)
            stride = int(self._strides[j])
            if k < n and abs(grid[on] - x) < ON_NODE:
                live = [on]
            elif k - 1 >= 0 and k < n:
                span = grid[k] - grid[k - 1]
                t = (x - grid[k - 1]) / span if span > 0 else 0.0
                live = [pos for pos, w in ((k - 1, 1.0 - t), (k, t)) if w != 0.0]
            else:
                return False
            corners = [c + pos * stride for c in corners for pos in live]
        return all(table[c] >= 0 for c in corners)

    def stencils(self, queries: np.ndarray, *, cubic: bool = False, impute: bool = False, fallback: bool = False,
                 widen: int | tuple[int, int, int] | None = None) -> Stencils:
        """Stencils of many points (see :class:`Stencils`).

        Attempts, each for the points still without a stencil: with ``cubic``, cubic on the first
        two axes (Teff and log g, the densely sampled ones; the others stay linear), then linear.
        With ``impute``, a stencil with absent nodes is then accepted if at least one of its nodes
        is present; the caller fills the absent ones in.  With ``fallback``, a point exactly on an
        absent node is rebuilt by widening one axis at a time (Teff first) to its neighbouring
        values.  ``widen=j`` does only that, along axis ``j``: how a held-out node is rebuilt
        along one axis; ``widen=(j, b, a)`` also skips ``b`` more grid values below and ``a`` above
        (see :meth:`_axis`).
        """
        skip = (0, 0)
        if isinstance(widen, tuple):
            widen, skip = widen[0], (int(widen[1]), int(widen[2]))
        queries = np.atleast_2d(np.asarray(queries, dtype=float))
        n, p = queries.shape
        size = 4**p
        out = Stencils(np.zeros((n, size), dtype=np.intp), np.zeros((n, size)), np.zeros(n, dtype=bool),
                       np.zeros((n, size), dtype=bool), np.zeros((n, size), dtype=np.intp), np.zeros((n, p), dtype=bool),
                       np.zeros((n, p, 4)), np.zeros((n, p, 4)), np.zeros((n, p, 4)), np.zeros((n, p), dtype=bool))
        modes = [True, False] if cubic else [False]
        if widen is not None:
            attempts = [(widen, c, m) for m in ([False, True] if impute else [False]) for c in modes]
        else:
            attempts = [(None, c, False) for c in modes]
            if impute:
                attempts += [(None, c, True) for c in modes]
            if fallback:
                attempts += [(j, c, False) for j in range(p) for c in modes]
        digits = self._digits(p)
        for widened, use_cubic, allow_missing in attempts:
            todo = np.where(~out.found)[0]
            if not len(todo):
                break
            q = queries[todo]
            axes = [self._axis(j, q[:, j], expand=skip if j == widened else False,
                               cubic=use_cubic and j in self.cubic_axes) for j in range(p)]
            ok = np.all([a[2] for a in axes], axis=0)
            # Every slot at once: its weight is the product of its axes' weights (in axis order),
            # its node found through the dense lattice -> row table.
            node_w = np.ones((len(todo), size))
            slot_keys = np.zeros((len(todo), size), dtype=np.intp)
            for j, a in enumerate(axes):
                node_w *= a[1][:, digits[j]]
                slot_keys += a[0][:, digits[j]] * self._strides[j]
            live = node_w != 0.0
            row = self._row_of_key[slot_keys]
            present = row >= 0
            node_idx = np.where(present & live, row, 0)
            absent = live & ~present
            if allow_missing:
                ok &= np.any(live & present, axis=1)
            else:
                ok &= ~np.any(absent, axis=1)
            slot_keys = np.where(live, slot_keys, 0)
            rows = todo[ok]
            out.index[rows] = node_idx[ok]
            out.weight[rows] = node_w[ok]
            out.missing[rows] = absent[ok] if allow_missing else False
            out.keys[rows] = slot_keys[ok]
            out.spans[rows] = np.stack([np.count_nonzero(a[1][ok], axis=1) > 1 for a in axes], axis=1)
            out.axis_weight[rows] = np.stack([a[1][ok] for a in axes], axis=1)
            out.axis_curve[rows] = np.stack([a[3][ok] for a in axes], axis=1)
            out.axis_slope[rows] = np.stack([a[4][ok] for a in axes], axis=1)
            out.cubic[rows] = np.stack([a[5][ok] for a in axes], axis=1) & out.spans[rows]
            out.found[rows] = True
        return out

    def interpolate(self, queries: np.ndarray, values: np.ndarray, **options) -> tuple[np.ndarray, np.ndarray]:
        """``values`` (N, ...) of the nodes interpolated at ``queries``: (M, ...) and found (M,).
        Rows without a stencil are NaN.  Absent nodes are not imputed."""
        st = self.stencils(queries, **{k: v for k, v in options.items() if k != "impute"})
        flat = values.reshape(len(values), -1)
        live = st.weight != 0.0
        out = row_sums(live, st.weight, flat[st.index[live]], (len(st.found), flat.shape[1]))
        out[~st.found] = np.nan
        return out.reshape((len(out),) + values.shape[1:]), st.found


def row_sums(mask: np.ndarray, weight: np.ndarray, values: np.ndarray, shape) -> np.ndarray:
    """Per row, the sum over the masked slots of weight * value; ``values`` are the masked slots'
    values in row-major order (as ``np.nonzero(mask)`` lists them)."""
    out = np.zeros(shape)
    rows, slots = np.nonzero(mask)
    if not len(rows):
        return out
    weighted = weight[rows, slots, None] * values
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    out[rows[starts]] = np.add.reduceat(weighted, starts, axis=0)
    return out


class Packed:
    """The masked slots of N stencils packed to the left of a dense (N, W) layout, W the most
    slots any row uses, so that weighted sums over slots become one batched matrix product
    (far faster than scattered sums when several weight sets share the same values)."""

    def __init__(self, mask: np.ndarray):
        self.n = len(mask)
        self.rows, self.slots = np.nonzero(mask)
        counts = np.count_nonzero(mask, axis=1)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.pos = np.arange(len(self.rows)) - starts[self.rows]
        self.width = int(counts.max(initial=0))
        self.used = np.zeros((self.n, self.width), dtype=bool)
        self.used[self.rows, self.pos] = True

    def take(self, array: np.ndarray, pad) -> np.ndarray:
        """The masked slots of ``array`` (N, S) packed (N, W), ``pad`` in the unused places."""
        out = np.full((self.n, self.width), pad, dtype=array.dtype)
        out[self.rows, self.pos] = array[self.rows, self.slots]
        return out

    def sums(self, weights: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Weighted sums (K, N, F) of K packed weight sets (K, N, W) over packed values (N, W, F)."""
        # contiguous operands: numpy's matmul only hands those to BLAS (a strided view takes its
        # element-by-element loop, a hundred times slower)
        return np.matmul(np.ascontiguousarray(weights.transpose(1, 0, 2)), np.ascontiguousarray(values)).transpose(1, 0, 2)
