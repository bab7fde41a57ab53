"""Physical consistency of predictions: random points inside each grid and every held-out test
node, predicted with the shipped weights and judged by ``innterpol check`` as the native writer
would write them; prints the counts per test (not a test).

    python benchmarks/consistency.py [--grid atlas9 --grid marcs] [--points 20000] [--seed 0]

"Inside" is where the coverage guard predicts silently (at least half the corners of the grid
cell populated).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", action="append", help="atlas9, marcs or a weights file (default both shipped grids)")
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from innterpol_cli.check import TESTS, check, summary
    from innterpol_cli.interpolate import INSIDE, load

    for name in args.grid or ["atlas9", "marcs"]:
        interp = load(name)
        rng = np.random.default_rng(args.seed)
        lo, hi = interp.nodes.min(axis=0), interp.nodes.max(axis=0)
        points = np.zeros((0, len(lo)))
        while len(points) < args.points:
            candidates = rng.uniform(lo, hi, (4 * args.points, len(lo)))
            if "am" in interp.axes:  # [alpha/M] is 0 or +0.4 in CK04: draw both planes and between
                j = interp.axes.index("am")
                candidates[:, j] = rng.choice([0.0, 0.4, rng.uniform(0, 0.4)], len(candidates))
            candidates = candidates[interp.coverage(candidates).status == INSIDE]
            points = np.concatenate([points, candidates])[: args.points]
        test_nodes = np.array(interp.meta["provenance"].get("test_nodes") or np.zeros((0, len(lo))))
        for label, params in (("random in-grid points", points), ("held-out test nodes", test_nodes)):
            if not len(params):
                continue
            start = time.perf_counter()
            models = interp.atmospheres(params, extrapolate=True)
            reports = check(models, interp.native_format)
            counts = summary(reports)
            failing = [r for r in reports if not r.ok]
            print(f"{interp.name}: {len(reports)} {label}: {len(failing)} fail the check "
                  f"({time.perf_counter() - start:.0f} s)")
            for test in TESTS:
                passed, failed, absent = counts[test]
                print(f"  {test:18s} passed {passed:6d}  failed {failed:5d}  not applicable {absent:6d}")
            for report in failing[:5]:
                atm = report.atmosphere
                print(f"    e.g. Teff={atm.teff:g} logg={atm.logg:g} [M/H]={atm.mh:+g} [a/M]={atm.am:+g}: {report.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
