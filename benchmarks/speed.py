"""Speed of the predict path; prints figures (not a timed test).

    python benchmarks/speed.py [--grid atlas9] [--models 5000] [--files 1000]

1. end to end, as a process: `innterpol predict ... -o FILE` against `python -c "import numpy"`
   (best and median of several runs after a warm-up, with the bytecode cache as an installed
   package has it; goal: within 2x);
2. parameters -> arrays in memory, models per second (goal: >= 5,000/s), and the same with the
   calibrated uncertainty (``uncertainty=True``; goal: at most 2x the time), beside scipy's
   ``RegularGridInterpolator`` (multilinear, the baseline) on the same grid models and points;
3. one model per call, as in a fitting loop (goal: <= 1 ms; <= 2 ms with the uncertainty);
4. files written per second into a directory as ``predict --params`` writes them: prediction,
   sigma and the check included (goal: >= 500/s).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: Processes run as an installed package runs: with Python's bytecode cache (pip compiles it at
#: install; some machines set PYTHONDONTWRITEBYTECODE, which makes every process compile every
#: module from source), after one warm-up run that writes it.
_ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _times(command, runs):
    times = []
    subprocess.run(command, capture_output=True, env=_ENVIRONMENT)  # warm-up: caches, bytecode
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, env=_ENVIRONMENT)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            sys.exit(f"failed: {' '.join(command)}\n{result.stderr.decode()}")
    return min(times), float(np.median(times))


def inside_points(interp, count, seed=0):
    """``count`` seeded random points inside populated grid cells (near a node, up to 0.9 of a step above it)."""
    rng = np.random.default_rng(seed)
    steps = np.array([np.min(np.diff(v)) if len(v) > 1 else 0.0 for v in interp.axis_values])
    rows = np.empty((0, len(interp.axes)))
    while len(rows) < count:
        picks = interp.nodes[rng.choice(len(interp.nodes), 4 * count)]
        candidates = picks + rng.uniform(0.0, 0.9, picks.shape) * steps
        rows = np.concatenate([rows, candidates[interp.cells.stencils(candidates).found]])
    return rows[:count]


def _lattice(interp):
    """The grid models' profiles (the hybrid's channels, standard units) on the full lattice of
    axis values, NaN where the grid has a hole: what a multilinear interpolator needs."""
    blend = interp.blend
    values = [v for v in interp.axis_values if len(v) > 1]
    keep = [j for j, v in enumerate(interp.axis_values) if len(v) > 1]
    models = blend.grid_models()
    shape = tuple(len(v) for v in values)
    table = np.full(shape + (models.shape[1],), np.nan)
    index = tuple(np.searchsorted(values[i], blend.nodes.nodes[:, j]) for i, j in enumerate(keep))
    table[index] = models
    return table, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="atlas9")
    parser.add_argument("--models", type=int, default=5000)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    import formats
    from innterpol_cli.batch import file_names, predict_chunks
    from innterpol_cli.interpolate import load
    from innterpol_cli.paramfile import Batch

    interp = load(args.grid)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; grid {args.grid} ({interp.weights.path})")

    with tempfile.TemporaryDirectory() as tmp:
        numpy_best, numpy_median = _times([sys.executable, "-c", "import numpy"], args.runs)
        command = [sys.executable, "-c", "from innterpol_cli.cli import main; main()", "predict", "--grid", args.grid,
                   "--teff", "5750", "--logg", "4.5", "-o", str(Path(tmp) / "sun.dat"), "--force"]
        predict_best, predict_median = _times(command, args.runs)
        print(f"python -c 'import numpy':        best {numpy_best:.3f} s, median {numpy_median:.3f} s")
        print(f"innterpol predict -o sun.dat:    best {predict_best:.3f} s, median {predict_median:.3f} s "
              f"= {predict_best / numpy_best:.2f}x numpy (best), {predict_median / numpy_median:.2f}x (median); goal <= 2x")

        params = inside_points(interp, args.models)
        interp.predict_arrays(params[:10])  # warm up
        start = time.perf_counter()
        interp.predict_arrays(params)
        elapsed = time.perf_counter() - start
        print(f"parameters -> arrays:            {args.models / elapsed:,.0f} models/s ({args.models} models in {elapsed:.2f} s, "
              f"coverage guard included); goal >= 5,000/s")
        start = time.perf_counter()
        interp.predict_arrays(params, uncertainty=True)
        with_sigma = time.perf_counter() - start
        print(f"  with uncertainty=True:         {args.models / with_sigma:,.0f} models/s ({with_sigma:.2f} s) = "
              f"{with_sigma / elapsed:.2f}x the time without; goal <= 2x")

        lattice_values, axes_values = _lattice(interp)
        from scipy.interpolate import RegularGridInterpolator

        baseline = RegularGridInterpolator(axes_values, lattice_values, method="linear", bounds_error=False)
        inside = params[:, [len(v) > 1 for v in interp.axis_values]]
        start = time.perf_counter()
        baseline(inside)
        scipy_time = time.perf_counter() - start
        print(f"  scipy RegularGridInterpolator: {args.models / scipy_time:,.0f} models/s (multilinear, the same grid models, "
              f"{lattice_values.shape[-1]} values each) = {elapsed / scipy_time:.1f}x faster than innterpol; goal within 10x")

        calls = params[: min(300, len(params))]
        for label, options, goal in (("one model per call:", {}, 1.0), ("  with uncertainty=True:", {"uncertainty": True}, 2.0)):
            for row in calls[:20]:
                interp.predict_arrays(row[None], **options)
            start = time.perf_counter()
            for row in calls:
                interp.predict_arrays(row[None], **options)
            per_call = (time.perf_counter() - start) / len(calls) * 1e3
            print(f"{label:33s}{per_call:.2f} ms per call ({len(calls)} calls, warm caches); goal <= {goal:g} ms")

        # As `innterpol predict --params CSV -o DIR/` does it, in chunks: predicted with sigma,
        # checked as written, then written (the text the check judged).
        rows = params[: args.files]
        fmt = interp.native_format
        start = time.perf_counter()
        job = Batch(rows.copy(), list(range(1, len(rows) + 1)), [f"m{i:05d}" for i in range(len(rows))], "benchmark")
        chunks = predict_chunks(interp, job, fmt, extrapolate=False, skip_invalid=False)
        formats.write_directory_chunks(((c.written, file_names(None, fmt, c.names, c.rows)) for c in chunks),
                                       Path(tmp) / "out", fmt)
        elapsed = time.perf_counter() - start
        print(f"files written ({fmt}):          {args.files / elapsed:,.0f} files/s ({args.files} files in "
              f"{elapsed:.2f} s; prediction, sigma and the check included, as predict --params does); goal >= 500/s")


if __name__ == "__main__":
    main()
