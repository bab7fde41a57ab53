"""Physical consistency of predictions, judged by ``innterpol check`` as the native writer would
write them; prints the counts per test (not a test):

- random points inside each grid (every corner of the grid cell populated);
- random points near the grid: cells with an absent corner, which the network fills in;
- every held-out test node at its node (the grid model comes back);
- every held-out test node rebuilt along each axis by an interpolator that forgot the test nodes
  (as the accuracy tables rebuild them), and apart those whose stencil reaches absent nodes.

    python benchmarks/consistency.py [--grid atlas9 --grid marcs] [--points 20000] [--near 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def draw(interp, rng, status: int, count: int) -> np.ndarray:
    """``count`` random parameter points of coverage ``status`` (INSIDE, NEAR) in the grid's box."""
    lo, hi = interp.nodes.min(axis=0), interp.nodes.max(axis=0)
    points = np.zeros((0, len(lo)))
    while len(points) < count:
        candidates = rng.uniform(lo, hi, (4 * count, len(lo)))
        if "am" in interp.axes:  # [alpha/M] is 0 or +0.4 in CK04: draw both planes and between
            j = interp.axes.index("am")
            candidates[:, j] = rng.choice([0.0, 0.4, rng.uniform(0, 0.4)], len(candidates))
        candidates = candidates[interp.coverage(candidates).status == status]
        points = np.concatenate([points, candidates])[:count]
    return points


def cases(interp, points: int, near: int, seed: int):
    """(label, function giving the atmospheres) of every case the module docstring lists."""
    from innterpol_cli.evaluation.spectra import completed_atmospheres
    from innterpol_cli.interpolate import INSIDE, NEAR

    rng = np.random.default_rng(seed)
    test_nodes = np.array(interp.meta["provenance"].get("test_nodes") or np.zeros((0, len(interp.axes))))
    yield "random in-grid points", lambda: interp.atmospheres(draw(interp, rng, INSIDE, points), extrapolate=True)
    yield ("random points in cells with an absent corner",
           lambda: interp.atmospheres(draw(interp, rng, NEAR, near), extrapolate=True))
    if not len(test_nodes):
        return
    yield "held-out test nodes, at the node", lambda: interp.atmospheres(test_nodes, extrapolate=True)
    forgetful = interp.without(test_nodes)

    def rebuilt(j, absent):
        pred, signals = forgetful.predict_with_signals(test_nodes, widen=j)
        rows = signals.found & ((signals.missing > 0) == absent)
        return completed_atmospheres(interp, test_nodes[rows], pred[rows], "rebuilt")

    for j, axis in enumerate(interp.axes):
        # As the accuracy tables rebuild them (every stencil node a grid model), and apart those
        # whose wider stencil reaches absent nodes, which the network fills in.
        yield f"held-out test nodes rebuilt along {axis}", lambda j=j: rebuilt(j, False)
        yield f"held-out test nodes rebuilt along {axis}, absent stencil nodes filled in", lambda j=j: rebuilt(j, True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", action="append", help="atlas9, marcs or a weights file (default both shipped grids)")
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--near", type=int, default=2000, help="random points in cells with an absent corner")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from innterpol_cli.check import TESTS, check, summary
    from innterpol_cli.interpolate import load

    for name in args.grid or ["atlas9", "marcs"]:
        interp = load(name)
        for label, make in cases(interp, args.points, args.near, args.seed):
            start = time.perf_counter()
            models = make()
            if not models:
                continue
            reports = check(models, interp.native_format)
            counts = summary(reports)
            failing = [r for r in reports if not r.ok]
            print(f"{interp.name}: {len(reports)} {label}: {len(failing)} fail the check "
                  f"({100 * len(failing) / len(reports):.1f}%, {time.perf_counter() - start:.0f} s)")
            for test in TESTS:
                passed, failed, absent = counts[test]
                print(f"  {test:18s} passed {passed:6d}  failed {failed:5d}  not applicable {absent:6d}")
            for report in failing[:5]:
                atm = report.atmosphere
                print(f"    e.g. Teff={atm.teff:g} logg={atm.logg:g} [M/H]={atm.mh:+g} [a/M]={atm.am:+g}: {report.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
