"""One prediction, four synthesis codes: the Sun and Arcturus, predicted once each and synthesised
by PySME, Turbospectrum, MOOG and Synspec; prints figures (not a timed test).

    python benchmarks/cross_code.py

Each star is predicted once (``Interpolator.atmospheres``) and that one model is written in the
layout each code reads: the grid's own (ATLAS9 deck, MARCS .mod) for PySME and Turbospectrum, an
ATLAS9 deck for Synspec, the MOOG KURUCZ layout for MOOG.  The nearest grid model (its own file,
converted by innterpol where the code needs another layout) is synthesised by the same code, and
the table gives, per code, the normalised flux of the prediction against that code's spectrum of
the nearest node: max and RMS |delta|, and the deepest line of each (LTE, 5000-5100 A, the shared
line list; each code with its own opacities and solar abundances, so the codes differ from each
other: what matters is that one file works in all of them, and that each code moves by about
as much from node to star).  Needs the shared data, gfortran, and PySME (``pip install -e '.[synth]'``);
the three Fortran codes are built into ``~/.cache/innterpol`` by the test harnesses on first use.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

WAVE_RANGE = (5000.0, 5100.0)
STEP = 0.01
STARS = [
    # name, grid, parameters, the nearest grid node's file (CK04 file + Teff/log g, or a MARCS name)
    ("Sun", "atlas9", {"teff": 5777, "logg": 4.44, "mh": 0.0}, ("ap00k2odfnew.dat", 5750, 4.5)),
    ("Arcturus", "marcs", {"teff": 4300, "logg": 1.7, "mh": -0.5},
     "s4250_g+1.5_m1.0_t02_x3_z-0.50_a+0.00_c+0.00_n+0.00_o+0.00_r+0.00_s+0.00.mod.gz"),
]


def _shared() -> Path:
    env = os.environ.get("INNTERPOL_SHARED")
    path = Path(env) if env else ROOT.parent / "shared"
    if not (path / "grids").is_dir():
        sys.exit(f"shared data not found at {path}: set INNTERPOL_SHARED")
    return path


def _node_file(shared: Path, grid: str, node, folder: Path) -> Path:
    if grid == "atlas9":
        import synspec_harness as ss

        filename, teff, logg = node
        return ss.extract_deck(shared / "grids" / "atlas9-ck04" / filename, teff, logg, folder / "node.dat")
    target = folder / "node.mod"
    with gzip.open(shared / "grids" / "marcs-sdss" / node, "rb") as raw, open(target, "wb") as out:
        shutil.copyfileobj(raw, out)
    return target


def _layouts(atm, folder: Path, stem: str, native: str) -> dict[str, Path]:
    """The model written once per layout: native (PySME, Turbospectrum), deck (Synspec), MOOG."""
    import formats

    paths = {"native": folder / f"{stem}.{'dat' if native == 'atlas9' else 'mod'}", "deck": folder / f"{stem}-deck.dat",
             "moog": folder / f"{stem}.moog"}
    formats.write([atm], paths["native"], native)
    formats.write([atm], paths["deck"], "atlas9")
    formats.write([atm], paths["moog"], "moog")
    return paths


def _spectra(paths: dict[str, Path], shared: Path, folder: Path, builds: dict) -> dict[str, tuple]:
    import moog_harness as mh
    import synspec_harness as ss
    import turbospectrum_harness as ts

    from innterpol_cli.synth import synthesize_in_subprocess

    csv = shared / "clients" / "atomic_lines_4995-5105.csv"
    out = {}
    wave, flux = synthesize_in_subprocess(paths["native"], csv, WAVE_RANGE, timeout=300)
    out["PySME"] = (np.asarray(wave), np.asarray(flux))
    s = ts.synthesize(paths["native"], builds["ts_lines"], folder / "ts", build=builds["ts"], wave_range=WAVE_RANGE, step=STEP,
                      timeout=300, **ts.model_parameters(paths["native"]))
    out["Turbospectrum"] = (s.wave, s.flux)
    s = mh.synthesize(paths["moog"], builds["moog_lines"], folder / "moog", build=builds["moog"], wave_range=WAVE_RANGE,
                      step=STEP, timeout=300)
    out["MOOG"] = (s.wave, s.flux)
    s = ss.synthesize(paths["deck"], builds["synspec_lines"], folder / "synspec", build=builds["synspec"],
                      wave_range=WAVE_RANGE, step=STEP, timeout=300, **ss.model_parameters(paths["deck"]))
    out["Synspec"] = (s.wave, s.flux)
    return out


def main() -> None:
    import moog_harness as mh
    import synspec_harness as ss
    import turbospectrum_harness as ts

    import formats
    from innterpol_cli.interpolate import load

    shared = _shared()
    csv = shared / "clients" / "atomic_lines_4995-5105.csv"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        builds = {"ts": ts.ensure_built(), "moog": mh.ensure_built(), "synspec": ss.ensure_built(),
                  "ts_lines": tmp / "lines.ts", "moog_lines": tmp / "lines.moog", "synspec_lines": tmp / "fort.19"}
        ts.convert_linelist(csv, builds["ts_lines"])
        mh.convert_linelist(csv, builds["moog_lines"])
        ss.convert_linelist(csv, builds["synspec_lines"])
        rows = []
        for name, grid, parameters, node in STARS:
            interp = load(grid)
            (star,) = interp.atmospheres(interp.parameters(**parameters))
            folder = tmp / name
            folder.mkdir()
            (node_atm,) = formats.read(_node_file(shared, grid, node, folder))
            (folder / "star").mkdir()
            (folder / "node").mkdir()
            predicted = _spectra(_layouts(star, folder / "star", "star", grid), shared, folder / "star", builds)
            nearest = _spectra(_layouts(node_atm, folder / "node", "node", grid), shared, folder / "node", builds)
            for code in ("PySME", "Turbospectrum", "MOOG", "Synspec"):
                wave, flux = predicted[code]
                node_wave, node_flux = nearest[code]
                if not np.array_equal(wave, node_wave):
                    node_flux = np.interp(wave, node_wave, node_flux)
                delta = flux - node_flux
                rows.append((name, f"{node_atm.teff:.0f}/{node_atm.logg:g}/{node_atm.mh:+.2f}", code,
                             float(np.max(np.abs(delta))), float(np.sqrt(np.mean(delta**2))), float(flux.min()), float(node_flux.min())))
    print("| star | nearest node | code | max abs delta flux | RMS delta flux | min flux (star) | min flux (node) |")
    print("|---|---|---|---|---|---|---|")
    for name, node, code, worst, rms, low, node_low in rows:
        print(f"| {name} | {node} | {code} | {worst:.3f} | {rms:.4f} | {low:.3f} | {node_low:.3f} |")


if __name__ == "__main__":
    main()
