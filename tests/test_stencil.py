"""NodeSet stencils, the core maths of the hybrid: exact on polynomials, holes, fallbacks, widening."""

from __future__ import annotations

import numpy as np
import pytest

from innterpol_cli.stencil import NodeSet


def _lattice(*axes):
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


TEFF = np.array([4000.0, 4250.0, 4500.0, 4750.0, 5000.0, 5500.0, 6000.0])
LOGG = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
MH = np.array([-1.0, -0.5, 0.0, 0.5])


def cubic(p):
    """Cubic in Teff and log g, linear in [M/H]: what the cubic stencil reproduces exactly."""
    t, g, m = (p[:, 0] - 5000) / 1000, p[:, 1], p[:, 2]
    return 1 + t - 2 * t**2 + 0.5 * t**3 + g**3 - g * t + 3 * m - m * t**2


def linear(p):
    t, g, m = (p[:, 0] - 5000) / 1000, p[:, 1], p[:, 2]
    return 2 + t - 0.5 * g + 3 * m + 0.25 * t * g * m  # multilinear: exact for the linear stencil


@pytest.fixture
def nodes():
    return NodeSet(_lattice(TEFF, LOGG, MH))


def test_cubic_and_linear_polynomials_are_reproduced_exactly(nodes):
    rng = np.random.default_rng(1)
    # interior points where the 4-point stencils exist on Teff and log g
    q = np.column_stack([rng.uniform(4250, 5500, 300), rng.uniform(0.5, 2.0, 300), rng.uniform(-1, 0.5, 300)])
    values = cubic(nodes.nodes)
    got, found = nodes.interpolate(q, values, cubic=True)
    assert found.all()
    np.testing.assert_allclose(got, cubic(q), rtol=0, atol=1e-9)
    got, found = nodes.interpolate(q, linear(nodes.nodes))
    assert found.all()
    np.testing.assert_allclose(got, linear(q), rtol=0, atol=1e-9)


def test_a_node_gives_itself_and_the_edges_fall_back_to_linear(nodes):
    values = cubic(nodes.nodes)
    got, found = nodes.interpolate(nodes.nodes[::7], values, cubic=True)
    assert found.all()
    np.testing.assert_array_equal(got, values[::7])
    # Between the last two Teff values there is no 4-point stencil: linear, exact on linear data.
    q = np.array([[5750.0, 1.25, 0.0]])
    st = nodes.stencils(q, cubic=True)
    teff_points = np.count_nonzero(st.weight.reshape(4, 4, 4)[..., :].sum(axis=(1, 2)))
    assert teff_points == 2
    assert nodes.interpolate(q, linear(nodes.nodes), cubic=True)[0][0] == pytest.approx(linear(q)[0], abs=1e-12)


def test_a_hole_falls_back_to_the_cell_corners_or_fails(nodes):
    full = nodes.nodes
    hole = np.all(full == [4500.0, 1.0, 0.0], axis=1)
    holed = NodeSet(full[~hole])
    # a point whose cubic stencil needs the hole: the linear cell does not, and is exact on linear data
    q = np.array([[4875.0, 1.75, 0.0]])
    got, found = holed.interpolate(q, linear(holed.nodes), cubic=True)
    assert found.all() and got[0] == pytest.approx(linear(q)[0], abs=1e-12)
    # a point in a cell with the hole as a corner: no complete stencil
    q = np.array([[4400.0, 0.75, 0.0]])
    assert not holed.interpolate(q, linear(holed.nodes))[1][0]
    # ... unless absent nodes may be imputed: then the stencil flags the missing slot
    st = holed.stencils(q, impute=True)
    assert st.found[0] and st.missing[0].sum() == 1
    # a point exactly on the hole: rebuilt from its neighbours with the fallback (Teff first)
    on = np.array([[4500.0, 1.0, 0.0]])
    assert not holed.interpolate(on, linear(holed.nodes))[1][0]
    got, found = holed.interpolate(on, linear(holed.nodes), fallback=True)
    assert found[0] and got[0] == pytest.approx(linear(on)[0], abs=1e-12)
    st = holed.stencils(on, fallback=True)
    assert st.spans[0].tolist() == [True, False, False]


def test_widen_rebuilds_a_node_along_one_axis_only(nodes):
    q = np.array([[4500.0, 1.0, 0.0]])
    values = linear(nodes.nodes)
    for axis in range(3):
        st = nodes.stencils(q, widen=axis)
        assert st.found[0]
        assert st.spans[0].tolist() == [j == axis for j in range(3)]
        used = nodes.nodes[st.index[0][st.weight[0] != 0]]
        assert not np.any(np.all(used == q[0], axis=1)), "the node itself must not be used"
        assert np.all(np.delete(used, axis, axis=1) == np.delete(q[0], axis)), "only the widened axis varies"
        got = np.sum(st.weight[0] * values[st.index[0]])
        assert got == pytest.approx(linear(q)[0], abs=1e-12)
    # [M/H] = -1.0 is the first plane: no neighbour below, so no stencil along [M/H]
    assert not nodes.stencils(np.array([[4500.0, 1.0, -1.0]]), widen=2).found[0]


def test_uneven_spacing_weights_sum_to_one(nodes):
    rng = np.random.default_rng(2)
    q = np.column_stack([rng.uniform(4000, 6000, 200), rng.uniform(0, 2.5, 200), rng.uniform(-1, 0.5, 200)])
    st = nodes.stencils(q, cubic=True)
    assert st.found.all()
    np.testing.assert_allclose(st.weight.sum(axis=1), 1.0, atol=1e-12)


def test_one_point_path_gives_the_batch_numbers_bit_for_bit(nodes):
    """A single point takes a Python-float path through each axis; on nodes, off nodes, a hair
    from a node, outside the axis, widened or not, cubic or not, it must equal the batch path."""
    rng = np.random.default_rng(3)
    checked = 0
    for j, grid in enumerate(nodes.values):
        span = grid[-1] - grid[0]
        values = list(grid) + list(grid + 1e-7) + list(grid - 1e-10) + list(rng.uniform(grid[0] - 0.1 * span, grid[-1] + 0.1 * span, 40))
        for x in values:
            for expand in (False, (0, 0), (1, 0), (0, 1)):
                for cubic in (True, False):
                    one = nodes._axis_one(j, float(x), expand, cubic)
                    batch = nodes._axis(j, np.array([x, grid[0]]), expand, cubic)
                    for a, b in zip(one, batch):
                        assert np.array_equal(a, b[:1]), (j, x, expand, cubic, a, b[:1])
                    checked += 1
    assert checked > 500
    q = np.column_stack([rng.uniform(4000, 6000, 30), rng.uniform(0, 2.5, 30), rng.uniform(-1, 0.5, 30)])
    batch = nodes.stencils(q, cubic=True, impute=True, fallback=True)
    for i in range(len(q)):
        one = nodes.stencils(q[i: i + 1], cubic=True, impute=True, fallback=True)
        assert np.array_equal(one.weight[0], batch.weight[i]) and np.array_equal(one.index[0], batch.index[i])


def test_linear_found_of_one_point_is_the_stencils_verdict():
    """NodeSet.linear_found (the coverage guard's one-point path) says what stencils(...).found
    says, on a lattice with holes: inside, outside, in holes, on nodes and a hair off them."""
    lattice = _lattice(TEFF, LOGG, MH)
    rng = np.random.default_rng(7)
    holes = NodeSet(lattice[rng.random(len(lattice)) > 0.15])
    steps = np.array([250.0, 0.5, 0.5])
    points = [rng.uniform(lattice.min(0) - steps, lattice.max(0) + steps, (3000, 3)),
              lattice[rng.choice(len(lattice), 500)],
              lattice[rng.choice(len(lattice), 500)] + rng.choice([-2e-6, -1e-7, -1e-9, 1e-9, 1e-7, 2e-6], (500, 3))]
    points = np.concatenate(points)
    found = holes.stencils(points).found
    assert 0.2 < found.mean() < 0.9  # both verdicts are exercised
    assert [holes.linear_found(p.tolist()) for p in points] == found.tolist()
