"""The MOOG (KURUCZ layout) format: layout, MOOG's unit guesses, abundances, round trips, bad files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import formats
from formats import moog
from formats.errors import FormatError
from innterpol_cli import check as consistency


def _cli(*args, stdin=None):
    command = [sys.executable, "-c", "from innterpol_cli.cli import main; main()", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, input=stdin)


@pytest.fixture(scope="module")
def sun(shared):
    (atm,) = formats.read(shared / "samples" / "atlas9" / "ksun.mod")
    return atm


def test_layout_is_what_moog_reads(sun):
    text = moog.format_model(sun)
    lines = text.splitlines()
    assert lines[0] == "KURUCZ"
    assert len(lines[1]) <= 80 and "Teff=5777" in lines[1] and "logg=4.44" in lines[1]
    assert lines[2][:10] == "ntau=     " and int(lines[2][10:]) == sun.ndepth
    depth = [line.split() for line in lines[3: 3 + sun.ndepth]]
    assert all(len(row) == 5 for row in depth)
    table = np.array(depth, dtype=float)
    for (_, name), column in zip(moog.COLUMNS, table.T):
        np.testing.assert_allclose(column, sun.layers[name], rtol=1e-6)
    vturb = lines[3 + sun.ndepth]
    assert len(vturb) == 13 and float(vturb) == pytest.approx(sun.vmic * 1e5)  # 6d13.0, cm/s
    natoms = lines[4 + sun.ndepth]
    assert natoms.startswith("NATOMS") and natoms[:10] == "NATOMS    "
    count, scale = natoms[10:].split()
    assert float(scale) == pytest.approx(sun.mh, abs=0.005)
    assert any(line.startswith("NMOL      ") for line in lines)
    assert "822.0" in text  # TiO, which MOOG's default molecule list lacks


def test_round_trip_is_identical(sun, tmp_path):
    first = tmp_path / "a.moog"
    formats.write([sun], first, "moog")
    assert formats.identify(first) == "moog"
    (back,) = formats.read(first)
    second = tmp_path / "b.moog"
    formats.write([back], second, "moog")
    assert second.read_bytes() == first.read_bytes()
    assert (back.teff, back.logg, back.mh, back.am, back.vmic) == (5777.0, pytest.approx(4.44), 0.0, 0.0, pytest.approx(sun.vmic))
    for name in ("column_mass", "temperature", "gas_pressure", "electron_density", "rosseland_opacity"):
        np.testing.assert_allclose(back.layers[name], sun.layers[name], rtol=1e-6)


def test_alpha_enhanced_model_lists_alpha_elements(shared):
    (atm,) = formats.read(shared / "samples" / "atlas9" / "t03500g5.0am05ak2odfnew.dat")
    assert atm.am > 0.3
    text = moog.format_model(atm)
    (back,) = moog.parse(text, "x")
    assert back.am == pytest.approx(atm.am, abs=0.005) and back.mh == pytest.approx(atm.mh, abs=0.005)
    for z in (8, 12, 14, 20, 22):  # O, Mg, Si, Ca, Ti: the model's own log eps
        assert back.abundances[z - 1] == pytest.approx(atm.abundances[z - 1], abs=0.006)


def test_marcs_model_gets_the_same_layout(shared):
    (atm,) = formats.read(shared / "samples" / "marcs" / "sun.mod")
    (back,) = moog.parse(moog.format_model(atm), "x")
    ne = atm.layers["electron_pressure"] / (formats.model.BOLTZMANN * atm.layers["temperature"])
    np.testing.assert_allclose(back.layers["electron_density"], ne, rtol=1e-6)
    np.testing.assert_allclose(back.layers["column_mass"], atm.layers["column_mass"], rtol=1e-8)


def test_moog_unit_guesses_are_never_tripped(sun):
    """A model MOOG would misread (flat P, Ne small enough to pass for Pe) is refused, by the check too."""
    flat = sun.copy()
    flat.layers["gas_pressure"] = np.linspace(100.0, 500.0, sun.ndepth)
    with pytest.raises(FormatError, match="log10"):
        moog.format_model(flat)
    pe_like = sun.copy()
    pe_like.layers["electron_density"] = np.geomspace(1e2, 1e6, sun.ndepth)
    with pytest.raises(FormatError, match="Pe"):
        moog.format_model(pe_like)
    (report,) = consistency.check([pe_like], "moog")
    assert report.failed("fields") and "misread by moog" in report.describe()
    (report,) = consistency.check([sun], "moog")
    assert report.ok, report.describe()


def test_reader_applies_moog_unit_guesses(sun):
    """A file from elsewhere with log10 P and an electron pressure in the XNE column reads as MOOG reads it."""
    lines = moog.format_model(sun).splitlines()
    n = sun.ndepth
    for k in range(n):
        rhox, t, p, ne, kappa = map(float, lines[3 + k].split())
        pe = ne * formats.model.BOLTZMANN * t
        lines[3 + k] = f"{rhox:.8e} {t:.2f} {np.log10(p):.6f} {pe:.6e} {kappa:.6e}"
    (atm,) = moog.parse("\n".join(lines) + "\n", "other.moog")
    np.testing.assert_allclose(atm.layers["gas_pressure"], sun.layers["gas_pressure"], rtol=1e-5)
    np.testing.assert_allclose(atm.layers["electron_density"], sun.layers["electron_density"], rtol=1e-5)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda lines: lines[:1], "ntau"),
    (lambda lines: [lines[0], lines[1], "ntau=     abc"] + lines[3:], "depth count"),
    (lambda lines: lines[:10], "ends after"),
    (lambda lines: lines[:5] + ["  1.0 2.0 3.0"] + lines[6:], "depth 3 has 3 values"),
    (lambda lines: [lines[0], "no parameters here"] + lines[2:], "Teff and log g"),
    (lambda lines: lines[:5] + [lines[5].replace("E", "X", 1)] + lines[6:], "non-numeric"),
])
def test_bad_files_name_file_and_line(sun, tmp_path, mutate, message):
    lines = moog.format_model(sun).splitlines()
    bad = tmp_path / "bad.moog"
    bad.write_text("\n".join(mutate(lines)) + "\n")
    with pytest.raises(FormatError, match=message) as error:
        formats.read(bad, "moog")
    assert str(bad) in str(error.value)
    result = _cli("check", bad)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") <= 2 and str(bad) in result.stderr


def test_predict_and_convert_write_moog(tmp_path, shared):
    out = tmp_path / "sun.moog"  # the suffix chooses the format
    result = _cli("predict", "--grid", "atlas9", "--teff", 5777, "--logg", 4.44, "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.read_text().startswith("KURUCZ\n") and "innterpol" in out.read_text().splitlines()[1]
    piped = _cli("predict", "--grid", "marcs", "--teff", 4300, "--logg", 1.7, "--mh", -0.5, "--format", "moog", "-o", "-")
    assert piped.returncode == 0 and piped.stdout.startswith("KURUCZ\n")
    checked = _cli("check", "-", stdin=piped.stdout)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    converted = tmp_path / "msun.moog"
    result = _cli("convert", shared / "samples" / "marcs" / "sun.mod", converted)
    assert result.returncode == 0 and formats.identify(converted) == "moog"
    assert "from sun.mod" in converted.read_text().splitlines()[1]
