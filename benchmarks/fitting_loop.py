"""innterpol inside a fitting loop: scipy.optimize calls it once per step (not a timed test).

    python benchmarks/fitting_loop.py [--grid atlas9] [--teff 5777] [--logg 4.44]

A stand-in for a spectroscopic fit: the "observed" temperature structure is innterpol's own at
the true parameters, perturbed by 0.3% noise; Nelder-Mead, started 300 K and 0.3 dex away,
recovers Teff and log g by asking innterpol for one atmosphere per step, as a spectrum fit
would before each synthesis.  Prints the steps taken, the per-call time (median over the loop),
the same for linear interpolation of the grid (scipy's RegularGridInterpolator, the baseline,
asked the same way) and the recovered parameters.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def fit(predict_t, target, start):
    from scipy.optimize import minimize

    times = []

    def cost(x):
        begin = time.perf_counter()
        t = predict_t(x[0], x[1])
        times.append(time.perf_counter() - begin)
        return float(np.sum((t / target - 1.0) ** 2))

    result = minimize(cost, x0=start, method="Nelder-Mead", options={"xatol": 1.0, "fatol": 1e-9, "maxiter": 400})
    return result, np.array(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="atlas9")
    parser.add_argument("--teff", type=float, default=5777.0)
    parser.add_argument("--logg", type=float, default=4.44)
    args = parser.parse_args()

    from innterpol_cli.interpolate import load

    interp = load(args.grid)
    rng = np.random.default_rng(1)
    truth = interp.predict_arrays(teff=args.teff, logg=args.logg)["temperature"][0]
    target = truth * (1.0 + 0.003 * rng.standard_normal(truth.shape))
    start = [args.teff - 300.0, args.logg - 0.3]

    def innterpol_t(teff, logg):
        return interp.predict_arrays(teff=teff, logg=logg)["temperature"][0]

    result, times = fit(innterpol_t, target, start)
    print(f"{args.grid}: Nelder-Mead from Teff={start[0]:g}, log g={start[1]:g} to the noisy T(tau) of "
          f"Teff={args.teff:g}, log g={args.logg:g}")
    print(f"  innterpol   {len(times):4d} calls, {1e3 * np.median(times):6.2f} ms per call (median; "
          f"p90 {1e3 * np.percentile(times, 90):.2f} ms), fit: Teff={result.x[0]:.1f} log g={result.x[1]:.3f}")

    linear = _linear_t(interp)
    if linear is not None:
        result, times = fit(linear, target, start)
        print(f"  linear      {len(times):4d} calls, {1e3 * np.median(times):6.2f} ms per call (median; "
              f"p90 {1e3 * np.percentile(times, 90):.2f} ms), fit: Teff={result.x[0]:.1f} log g={result.x[1]:.3f}")


def _linear_t(interp):
    """Multilinear interpolation (scipy's RegularGridInterpolator) of the grid's own temperature
    profiles, in log T, on the plane [M/H] = [alpha/M] = 0: the baseline a fitting code would
    otherwise call.  None for weights without the grid's models."""
    from scipy.interpolate import RegularGridInterpolator

    blend = interp.blend
    if blend is None:
        return None
    nodes = blend.nodes.nodes
    c = [ch.name for ch in interp.codec].index("temperature")
    n_depth = len(interp.log_tau)
    i = list(blend.channels).index(c)
    models = blend.grid_models()[:, i * n_depth: (i + 1) * n_depth]
    plane = np.all(nodes[:, 2:] == 0.0, axis=1)
    teffs, loggs = np.unique(nodes[plane, 0]), np.unique(nodes[plane, 1])
    table = np.full((len(teffs), len(loggs), n_depth), np.nan)  # NaN in the plane's holes
    table[np.searchsorted(teffs, nodes[plane, 0]), np.searchsorted(loggs, nodes[plane, 1])] = models[plane]
    rgi = RegularGridInterpolator((teffs, loggs), table)
    channel = interp.codec[c]
    return lambda teff, logg: channel.from_standard(rgi([[teff, logg]])[0])


if __name__ == "__main__":
    main()
