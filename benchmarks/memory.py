"""Peak memory of ``innterpol predict --params CSV`` by batch size and output kind; prints figures.

    python benchmarks/memory.py [--grid atlas9] [--rows 10000 100000] [--kinds directory fits stdout file]
                                [--pythonpath CHECKOUT]

Each run is a fresh ``innterpol predict`` process on a CSV of random in-grid parameters (as
benchmarks/speed.py draws them, in another process); its peak resident set size is what the
kernel reports for that one child (``os.wait4``; this parent stays small, as a forked child
starts with its pages), its wall time the parent's clock.  Output kinds: ``directory``
(``-o DIR/``, one file per model), ``fits`` (``-o all.fits``, one table), ``stdout`` (``-o -``,
concatenated decks, into a file), ``file`` (``-o all.dat``, concatenated decks).  The goal
(issue 19): at most 500 MB for 100,000 rows of every kind, within 20% of the 10,000-row figure.
``--pythonpath`` measures another checkout (``git worktree add /tmp/old HEAD``) with the same CSVs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KINDS = ("directory", "fits", "stdout", "file")
REPO = Path(__file__).resolve().parent.parent


def write_csv(grid: str, rows: int, path: Path, seed: int = 0) -> None:
    """``rows`` random in-grid parameter rows of ``grid`` as a CSV at ``path``, made in a child process:
    drawing them takes memory, and a child forked from a large parent starts with the parent's
    pages in its peak RSS."""
    subprocess.run([sys.executable, __file__, "--csv", grid, str(rows), str(path), str(seed)], check=True,
                   env=dict(os.environ, PYTHONPATH=str(REPO)))


def _write_csv(grid: str, rows: int, path: Path, seed: int = 0) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from speed import inside_points

    from innterpol_cli.interpolate import load

    interp = load(grid)
    params = inside_points(interp, rows, seed=seed)
    with open(path, "w") as handle:
        handle.write(",".join(interp.axes) + "\n")
        for row in params:
            handle.write(",".join(f"{value:.6g}" for value in row) + "\n")


def measure(grid: str, csv: Path, kind: str, workdir: Path, pythonpath: str | None = None) -> dict:
    """Run ``innterpol predict`` once for ``kind``: peak RSS (bytes), wall time (s), output bytes."""
    target = {"directory": f"{workdir / 'models'}/", "fits": str(workdir / "all.fits"), "stdout": "-",
              "file": str(workdir / "all.dat")}[kind]
    command = [sys.executable, "-c", "from innterpol_cli.cli import main; main()", "predict", "--grid", grid,
               "--params", str(csv), "-o", target]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [pythonpath or str(REPO), os.environ.get("PYTHONPATH")])))
    stdout_path = workdir / "stdout.dat"
    start = time.perf_counter()
    with open(stdout_path, "wb") as stdout, open(workdir / "stderr.txt", "wb") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=workdir)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        tail = (workdir / "stderr.txt").read_text(errors="replace")[-2000:]
        raise SystemExit(f"{kind}: exit {process.returncode}\n{tail}")
    output = stdout_path if kind == "stdout" else Path(target.rstrip("/"))
    size = sum(p.stat().st_size for p in output.iterdir()) if output.is_dir() else output.stat().st_size
    return {"rss": usage.ru_maxrss * 1024, "wall": wall, "bytes": size}


def main() -> None:
    if sys.argv[1:2] == ["--csv"]:  # the child of write_csv
        grid, rows, path, seed = sys.argv[2:6]
        _write_csv(grid, int(rows), Path(path), int(seed))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="atlas9")
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=["directory", "fits", "stdout"])
    parser.add_argument("--pythonpath", help="the checkout to measure (default: this one)")
    parser.add_argument("--tmp", help="where to write the outputs (default: a temporary folder)")
    args = parser.parse_args()

    code = args.pythonpath or str(REPO)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; grid {args.grid}; code {code}")
    print(f"{'rows':>8}  {'output':<10} {'peak RSS':>10} {'wall':>9} {'output size':>12}")
    figures: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for rows in args.rows:
            csv = Path(tmp) / f"params-{rows}.csv"
            write_csv(args.grid, rows, csv)
            for kind in args.kinds:
                workdir = Path(tmp) / f"{kind}-{rows}"
                workdir.mkdir()
                result = measure(args.grid, csv, kind, workdir, args.pythonpath)
                shutil.rmtree(workdir)
                figures[kind, rows] = result["rss"]
                print(f"{rows:>8,}  {kind:<10} {result['rss'] / 1e6:>7,.0f} MB {result['wall']:>7.1f} s "
                      f"{result['bytes'] / 1e6:>9,.0f} MB", flush=True)
    low, high = min(args.rows), max(args.rows)
    if low != high:
        for kind in args.kinds:
            ratio = figures[kind, high] / figures[kind, low]
            print(f"{kind}: {high:,} rows take {ratio:.2f}x the peak RSS of {low:,} (goal: <= 1.2x and <= 500 MB)")


if __name__ == "__main__":
    main()
