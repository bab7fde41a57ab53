"""Held-out accuracy of the shipped weights along every axis, against linear interpolation in
the same run; prints figures (not a test).

    python benchmarks/accuracy.py [--shared ../shared] [--grid atlas9 --grid marcs]
                                  [--all-channels] [--markdown] [--figures DIR] [--json FILE]

For each grid: the weights' recorded test split, read from the grid files in
``SHARED/grids/``, each held-out node rebuilt along each axis in turn by innterpol (its grid
model forgotten), by the bare network and by linear interpolation
(:func:`innterpol_cli.evaluation.scoring.along_axes`).  Statistics: median, RMS, 95th percentile and max of
|error| over every model and depth, and ``worst``, the median over models of each model's
largest error over depth.
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
    parser.add_argument("--all-channels", action="store_true", help="every channel, not only T, P, Ne/Pe and RHOX")
    parser.add_argument("--markdown", action="store_true", help="also print the README's tables (innterpol / linear)")
    parser.add_argument("--figures", default=None, help="write the error-against-depth figures into this directory")
    parser.add_argument("--json", default=None, help="write every grid's results into this JSON file")
    args = parser.parse_args(argv)

    from innterpol_cli.console import info
    from innterpol_cli.evaluation.record import json_safe
    from innterpol_cli.evaluation.scoring import along_axes
    from innterpol_cli.evaluation.tables import HEADLINE, print_axes
    from innterpol_cli.evaluation.truth import node_rows
    from innterpol_cli.grid import build_grid, family_for_format, read_grid_files
    from innterpol_cli.interpolate import load

    results = {}
    for name in args.grid or ["atlas9", "marcs"]:
        interp = load(name)
        files = args.grid_files or str(Path(args.shared) / "grids" / GRID_DIRS[interp.family])
        start = time.perf_counter()
        models, fmt, report = read_grid_files([files])
        grid = build_grid(models, family_for_format(fmt), report)
        test_nodes = interp.meta["provenance"]["test_nodes"]
        held = [i for i in node_rows(grid.params, test_nodes) if i is not None]
        info(f"{interp.name}: {len(held)} of {len(test_nodes)} recorded test nodes found in {files}")
        result = along_axes(interp, grid.params, grid.values, held, log=info)
        channels = None if args.all_channels else HEADLINE.get(interp.family)
        print_axes(result, f"{interp.name} ({Path(str(interp.weights.path)).name})", channels)
        if interp.calibrated:
            from innterpol_cli.evaluation.scoring import calibration_by_fraction
            from innterpol_cli.interpolate import MAX_SIGMA
            from innterpol_cli.uncertaintyfit import SKIPS

            result["by_fraction"] = calibration_by_fraction(interp, grid.params, grid.values, held, SKIPS,
                                                            max_sigma=MAX_SIGMA, log=info)
            from innterpol_cli.evaluation.tables import print_by_position

            print_by_position(result["by_fraction"], interp.name, channels)
        if args.markdown:
            print(markdown(result, HEADLINE.get(interp.family)))
            print()
            print(calibration_markdown(result, HEADLINE.get(interp.family)))
            if "by_fraction" in result:
                print()
                print(fraction_markdown(result["by_fraction"], HEADLINE.get(interp.family)))
        info(f"{interp.name}: {time.perf_counter() - start:.1f} s")
        if args.figures:
            from innterpol_cli.evaluation.plots import axes_depth_figure

            for channel in ("temperature", "electron_density" if interp.family == "atlas9" else "electron_pressure"):
                path = Path(args.figures) / f"{interp.family}-{channel.replace('_', '-')}-by-axis.png"
                axes_depth_figure(result, interp.log_tau, channel, path)
                info(f"wrote {path}")
            from innterpol_cli.evaluation.plots import reliability_figure

            path = reliability_figure(result, HEADLINE.get(interp.family, ()), Path(args.figures) / f"{interp.family}-reliability.png",
                                      f"{interp.name}: calibration of the 1-sigma uncertainty on held-out models")
            if path:
                info(f"wrote {path}")
        results[interp.name] = result
    if args.json:
        Path(args.json).write_text(json.dumps(json_safe(results), indent=1) + "\n")
    return 0


def markdown(result: dict, channels) -> str:
    """README rows: ``innterpol / stencil alone / linear / bare network`` per statistic, bold where
    innterpol is worse than the best of the other three; then the same for the rebuilds whose
    stencil along the axis is linear only."""
    from innterpol_cli.evaluation.metrics import STATISTICS

    head = ["| axis | models | quantity | median | RMS | p95 | max | worst depth |", "|---|---|---|---|---|---|---|---|"]
    lines = list(head)
    subsets = []
    for axis, part in result["axes"].items():
        if not part.get("n"):
            continue
        lines += _rows(axis, part, channels, STATISTICS)
        if part.get("linear_stencil"):
            subsets += _rows(axis, part["linear_stencil"], channels, STATISTICS)
    if subsets:
        lines += ["", "Of these, the rebuilds whose stencil along the axis is linear only (an edge plane or a hole):", ""]
        lines += head + subsets
    return "\n".join(lines)


def _rows(axis, part, channels, statistics) -> list[str]:
    out = []
    order = [m for m in ("innterpol", "stencil", "linear", "network") if m in part["methods"] + ["linear"]]
    for name in channels:
        row = part["channels"][name]
        cells = []
        for stat in statistics:
            values = [row[m][stat] for m in order if m in row]
            text = " / ".join(f"{v:.3g}" for v in values)
            cells.append(f"**{text}**" if values[0] > min(values[1:]) else text)
        out.append(f"| {axis} | {part['n']} | {name} ({row['unit']}) | " + " | ".join(cells) + " |")
    return out


def calibration_markdown(result: dict, channels) -> str:
    """README rows of the uncertainty's calibration: within 1 and 2 sigma, rank correlation."""
    lines = ["| axis | models | quantity | within 1 sigma | within 2 sigma | rank corr. (max sigma, max error) |",
             "|---|---|---|---|---|---|"]
    for axis, part in result["axes"].items():
        for name in channels:
            row = part.get("calibration", {}).get(name)
            if row:
                n = part.get("n") or part.get("n_calibration")
                lines.append(f"| {axis} | {n} | {name} | {100 * row['within_1']:.1f}% | {100 * row['within_2']:.1f}% | "
                             f"{row['rank_correlation']:.2f} |")
    return "\n".join(lines)


def fraction_markdown(by_fraction: dict, channels) -> str:
    """README rows of the uncertainty where real queries fall: per axis and cell fraction (and the
    stencil kind: cubic, linear, reaching absent nodes), within 1 / 2 / beyond 3 sigma, rank correlation, median sigma
    and error, and the guard's false-alarm and miss rates (T, at the default --max-sigma)."""
    lines = ["| axis | rebuilds | models | quantity | within 1 sigma | within 2 sigma | beyond 3 sigma | rank corr. | "
             "median sigma | median error | guard: false alarms / misses |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for axis, rows in by_fraction.items():
        for label, row in rows.items():
            guard = row.get("guard")
            for name in channels:
                c = row["channels"][name]
                cells = [f"{100 * c['within_1']:.1f}%", f"{100 * c['within_2']:.1f}%", f"{100 * c['beyond_3']:.1f}%",
                         f"{c['rank_correlation']:.2f}", f"{100 * c['median_sigma']:.3g}%", f"{100 * c['median_error']:.3g}%"]
                g = (f"{100 * guard['false_alarm']:.0f}% of {guard['good']} / {100 * guard['miss']:.0f}% of {guard['bad']}"
                     if guard and name == "temperature" else "")
                lines.append(f"| {axis} | {label} | {row['n']} | {name} | " + " | ".join(cells) + f" | {g} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
