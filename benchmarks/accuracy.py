"""Held-out accuracy of the shipped weights against linear interpolation; prints figures (not a test).

    python benchmarks/accuracy.py [--shared ../shared] [--grid atlas9 --grid marcs] [--methods ...]
                                  [--max-models N] [--plots DIR] [--json FILE]

For each grid: the weights' recorded test split, read from the grid files in
``SHARED/grids/``, scored by :mod:`innterpol_cli.evaluate` (the library behind
``innterpol evaluate``), and the side-by-side table printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

GRID_DIRS = {"atlas9": "atlas9-ck04", "marcs": "marcs-sdss"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=os.environ.get("INNTERPOL_SHARED", str(Path(__file__).resolve().parents[2] / "shared")))
    parser.add_argument("--grid", action="append", help="atlas9, marcs or a weights file (repeatable; default both shipped grids)")
    parser.add_argument("--grid-files", help="grid directory, when --grid is a weights file")
    parser.add_argument("--methods", default=None, help="as innterpol evaluate --methods")
    parser.add_argument("--max-models", type=int, default=None)
    parser.add_argument("--plots", default=None, help="write the figures into this directory")
    parser.add_argument("--json", default=None, help="write every grid's results into this JSON file")
    args = parser.parse_args(argv)

    from innterpol_cli.console import info
    from innterpol_cli.evaluate import evaluate, json_safe, parse_methods, test_split
    from innterpol_cli.grid import build_grid, family_for_format, read_grid_files
    from innterpol_cli.interpolate import load
    from innterpol_cli.train import print_summary

    methods = parse_methods(args.methods, None)
    results = {}
    for name in args.grid or ["atlas9", "marcs"]:
        interp = load(name)
        files = args.grid_files or str(Path(args.shared) / "grids" / GRID_DIRS[interp.family])
        start = time.perf_counter()
        models, fmt, report = read_grid_files([files])
        grid = build_grid(models, family_for_format(fmt), report)
        evaluation = evaluate(interp, test_split(interp, grid), methods, max_models=args.max_models, log=info)
        print_summary(evaluation.summary, f"{interp.name} ({Path(str(interp.weights.path)).name})")
        for note in evaluation.notes:
            info(f"note: {note}")
        info(f"{interp.name}: {time.perf_counter() - start:.1f} s")
        if args.plots:
            from innterpol_cli.plots import error_figures

            error_figures(evaluation, args.plots)
        results[interp.name] = evaluation.to_json()
    if args.json:
        Path(args.json).write_text(json.dumps(json_safe(results), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
