"""PySME accepts the files innterpol writes and synthesises the same spectrum as from the originals.

Each model goes native -> FITS -> native; PySME (LTE, embedded atmosphere, the shared
line list) runs in a subprocess with a timeout on the original and on the rewritten
file, and the normalised spectra over 5000-5100 A must agree to 1e-4.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import formats
from innterpol_cli.synth import synthesize_in_subprocess

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pysme") is None, reason="PySME (pip install pysme-astro) is not installed"
)

WAVE_RANGE = (5000.0, 5100.0)
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def linelist(shared):
    return shared / "clients" / "atomic_lines_4995-5105.csv"


def _rewrite(source, fmt, tmp_path, name):
    """The model of ``source`` after a trip through a FITS table, written back as ``fmt``."""
    table = tmp_path / "via.fits"
    formats.write(formats.read(source), table, "fits")
    out = tmp_path / name
    formats.write(formats.read(table), out, fmt)
    return out


def _assert_same_spectrum(original, rewritten, linelist):
    wave_a, flux_a = synthesize_in_subprocess(original, linelist, WAVE_RANGE, timeout=300)
    wave_b, flux_b = synthesize_in_subprocess(rewritten, linelist, WAVE_RANGE, timeout=300)
    assert wave_a[0] <= WAVE_RANGE[0] + 0.01 and wave_a[-1] >= WAVE_RANGE[1] - 0.01
    assert flux_a.min() < 0.5, "no lines: the line list was not used"
    if wave_a.shape != wave_b.shape or not np.array_equal(wave_a, wave_b):
        flux_b = np.interp(wave_a, wave_b, flux_b)
    difference = np.max(np.abs(flux_a - flux_b))
    assert difference < TOLERANCE, f"max |delta flux| = {difference:.2e}"


@pytest.mark.parametrize(
    "sample", ["sun.mod", "s5000_g+2.0_m1.0_t02_st_z+0.00_a+0.00_c+0.00_n+0.00_o+0.00_r+0.00_s+0.00.mod"]
)
def test_written_marcs_file_gives_the_same_spectrum(shared, tmp_path, linelist, sample):
    original = shared / "samples" / "marcs" / sample
    rewritten = _rewrite(original, "marcs", tmp_path, "rewritten.mod")
    _assert_same_spectrum(original, rewritten, linelist)


def test_written_atlas9_deck_gives_the_same_spectrum(shared, tmp_path, linelist):
    """ksun.mod has its own column spacing; the rewritten deck has the CK04 layout."""
    original = shared / "samples" / "atlas9" / "ksun.mod"
    rewritten = _rewrite(original, "atlas9", tmp_path, "rewritten.dat")
    _assert_same_spectrum(original, rewritten, linelist)


def test_written_ck04_grid_deck_gives_the_same_spectrum(shared, tmp_path, linelist):
    """One model cut verbatim out of ap00k2odfnew.dat against the same model written from the FITS table."""
    text = (shared / "grids" / "atlas9-ck04" / "ap00k2odfnew.dat").read_text()
    decks = ["TEFF" + chunk for chunk in text.split("TEFF")[1:]]
    (deck,) = [d for d in decks if d.startswith("TEFF   5750.  GRAVITY 4.50000")]
    original = tmp_path / "original.dat"
    original.write_text(deck)
    rewritten = _rewrite(original, "atlas9", tmp_path, "rewritten.dat")
    _assert_same_spectrum(original, rewritten, linelist)


def test_marcs_converted_to_atlas9_is_accepted(shared, tmp_path, linelist):
    """A deck derived from a MARCS model (XNE = Pe / kT ...) is read and synthesised by PySME."""
    deck = tmp_path / "sun.dat"
    formats.write(formats.read(shared / "samples" / "marcs" / "sun.mod"), deck, "atlas9")
    wave, flux = synthesize_in_subprocess(deck, linelist, WAVE_RANGE, timeout=300)
    assert np.all(np.isfinite(flux)) and 0.0 < flux.min() < 0.5 and flux.max() <= 1.01


@pytest.mark.parametrize("grid,fmt", [("atlas9", "atlas9"), ("marcs", "marcs")])
def test_uncertainty_summary_line_changes_nothing_for_pysme(tmp_path, linelist, grid, fmt):
    """A predicted file with innterpol's one-line sigma summary in its header, and the same file
    with the summary cut out: PySME reads the same atmosphere and gives the same spectrum."""
    from innterpol_cli.interpolate import load
    from innterpol_cli.synth import load_atmosphere

    (model,) = load(grid).atmospheres(teff=5777, logg=4.44)
    with_summary = tmp_path / "with.mod"
    formats.write([model], with_summary, fmt)
    lines = with_summary.read_text().splitlines(keepends=True)
    summary = model.extra["sigma_summary"]
    assert summary.split(" at ")[0].replace("max ", "") in lines[1]
    cut = lines[1].split("; max sigma(T)")[0] if fmt == "marcs" else lines[1].split(" max sigma(T)")[0].split(" sigma(T)")[0]
    without = tmp_path / "without.mod"
    without.write_text("".join([lines[0], cut.rstrip("\n") + "\n", *lines[2:]]))
    assert "sigma" not in without.read_text()
    a, b = load_atmosphere(with_summary, fmt), load_atmosphere(without, fmt)
    for key in ("teff", "logg", "monh", "vturb"):
        assert getattr(a, key) == getattr(b, key), key
    for key in ("temp", "rhox", "xne", "xna", "rho"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:  # two PySME processes at once
        runs = [pool.submit(synthesize_in_subprocess, path, linelist, WAVE_RANGE, timeout=300) for path in (with_summary, without)]
        (wave_a, flux_a), (wave_b, flux_b) = (run.result() for run in runs)
    np.testing.assert_array_equal(wave_a, wave_b)
    np.testing.assert_array_equal(flux_a, flux_b)
