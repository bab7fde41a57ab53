"""Written files look like the real thing, and nothing unphysical is ever written.

* ``predict`` and ``convert`` refuse every bad value that used to be written with exit 0
  (NaN, Inf, T = -3500, a negative opacity or sound speed, RHOX not increasing, a value that
  would touch its neighbouring field, absurd parameters, weights with NaN tensors), with one
  error line naming the model and the test, and write nothing; ``--skip-invalid`` writes the rest.
* ATLAS9 fields keep their width (E10.3) for every value written; MARCS partial pressures are
  floored at -99.99; PRADK is derived; MARCS line 1 is a MARCS name and X, Y, Z follow the
  abundances; the TITLE carries [M/H] to 0.01 dex; FITS units parse without a warning.

The refusals run ``predict`` on a stand-in interpolator that returns real grid models with one
value broken, so they do not depend on the shipped weights (which, until they are retrained,
give unphysical models at a few per cent of random in-grid points).
"""

from __future__ import annotations

import math
import re
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import formats
from formats import atlas9, marcs
from formats.errors import FieldOverflowError

from conftest import run_cli

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")




def one_error(code, out, err) -> str:
    assert code == 1, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]






def _with(atm, name, k, value):
    out = atm.copy()
    if name == "column_mass":
        out.layers[name][[k, k + 1]] = out.layers[name][[k + 1, k]]
    else:
        out.layers[name][k] = value
    return out


class StandIn:
    """What ``predict`` needs of an Interpolator, returning given models (one per row, cycled)."""

    def __init__(self, models, native_format="atlas9"):
        self.models = models
        self.name = "stand-in"
        self.native_format = native_format
        self.axes = ["teff", "logg", "mh", "am"]
        self.weights = SimpleNamespace(path="stand-in.npz")

    def coverage(self, params):
        return SimpleNamespace(status=np.zeros(len(params), dtype=int), nearest=np.asarray(params))

    def guard(self, params, extrapolate=False, warn=None):
        return self.coverage(params).status

    def drop_outside(self, params, rows, source):
        return np.ones(len(params), dtype=bool), []

    def warns(self, peak_sigma_t, max_sigma):
        return np.asarray(peak_sigma_t) > max_sigma

    guard_z = 1.0

    def atmospheres(self, params, extrapolate=False, warn=None, max_sigma=1.0, status=None):
        return [self.models[i % len(self.models)].copy() for i in range(len(params))]


@pytest.fixture
def stand_in(monkeypatch):
    def install(models, native_format="atlas9"):
        interp = StandIn(models, native_format)
        monkeypatch.setattr("innterpol_cli.interpolate.load", lambda grid: interp)
        return interp

    return install


# ------------------------------------------------------------------------------ predict refuses

BAD_PREDICTIONS = {
    # name: (model, quantity, depth index, value, expected words)
    "NaN T": ("ck04_deck", "temperature", 20, math.nan, "finite: temperature at depth 21"),
    "Inf P": ("ck04_deck", "gas_pressure", 20, math.inf, "finite: gas_pressure at depth 21"),
    "negative opacity": ("ck04_deck", "rosseland_opacity", 60, -166.1, "positive: rosseland_opacity at depth 61"),
    "negative VELSND": ("ck04_deck", "sound_speed", 3, -1545.0, "positive: sound_speed at depth 4"),
    # judged as the file reads back: tau, integrated over the broken RHOX, is the first to fail
    "RHOX not increasing": ("ck04_deck", "column_mass", 50, None, "monotonic: log_tau_ross at depth 52"),
    "T >= 1e7 touching its field": ("ck04_deck", "temperature", 71, 1.2e7, "fields: temperature at depth 72"),
    "T = -3500 (MARCS)": ("marcs_sun", "temperature", 0, -3500.0, "positive: temperature at depth 1"),
    "T = 1e5 (MARCS field)": ("marcs_sun", "temperature", 55, 1e5, "fields: temperature at depth 56"),
}


@pytest.mark.parametrize("case", list(BAD_PREDICTIONS), ids=list(BAD_PREDICTIONS))
def test_predict_refuses_a_bad_model(case, request, stand_in, tmp_path, capsys, monkeypatch):
    fixture, name, k, value, words = BAD_PREDICTIONS[case]
    good = request.getfixturevalue(fixture)
    fmt = "atlas9" if fixture == "ck04_deck" else "marcs"
    stand_in([_with(good, name, k, value)], fmt)
    target = tmp_path / f"x.{'dat' if fmt == 'atlas9' else 'mod'}"
    code, out, err = run_cli(["predict", "--teff", good.teff, "--logg", good.logg, "-o", target], capsys, monkeypatch)
    message = one_error(code, out, err)
    assert f"error: Teff={good.teff:g} logg={good.logg:g}" in message
    assert "fails the physical-consistency check" in message and words in message, message
    assert list(tmp_path.iterdir()) == []


def test_predict_writes_a_good_model(ck04_deck, stand_in, tmp_path, capsys, monkeypatch):
    stand_in([ck04_deck])
    code, out, err = run_cli(["predict", "--teff", 5750, "--logg", 4.5, "-o", tmp_path / "x.dat"], capsys, monkeypatch)
    assert code == 0, err
    assert len(formats.read(tmp_path / "x.dat")) == 1


@pytest.mark.parametrize("args, words", [
    (["--teff", "1e300", "--logg", "4", "--extrapolate"], "Teff = 1e+300 K is beyond any atmosphere"),
    (["--teff", "2e6", "--logg", "4", "--extrapolate"], "Teff = 2e+06 K is beyond any atmosphere"),
    (["--teff", "5000", "--logg", "25", "--extrapolate"], "log g = 25 is beyond any atmosphere"),
    (["--teff", "5000", "--logg", "-1e300", "--extrapolate"], "beyond any atmosphere"),
], ids=["teff 1e300", "teff 2e6", "logg 25", "logg -1e300"])
def test_absurd_parameters_are_refused_up_front(args, words, ck04_deck, stand_in, tmp_path, capsys, monkeypatch):
    stand_in([ck04_deck])
    message = one_error(*run_cli(["predict", *args, "-o", tmp_path / "x.dat"], capsys, monkeypatch))
    assert words in message
    assert list(tmp_path.iterdir()) == []
    csv = "teff,logg\n" + ",".join(args[1:4:2]) + "\n"
    message = one_error(*run_cli(["predict", "--params", "-", "-o", f"{tmp_path}/out/", "--extrapolate"], capsys, monkeypatch, stdin=csv))
    assert "row 1" in message and words in message
    assert list(tmp_path.iterdir()) == []


def test_predict_batch_names_the_csv_row_then_skip_invalid_writes_the_rest(ck04_deck, stand_in, tmp_path, capsys, monkeypatch):
    bad = _with(ck04_deck, "rosseland_opacity", 60, -1.0)
    stand_in([ck04_deck, bad, ck04_deck])
    csv = "name,teff,logg\na,5750,4.5\nb,5760,4.5\nc,5770,4.5\n"
    message = one_error(*run_cli(["predict", "--params", "-", "-o", f"{tmp_path}/out/"], capsys, monkeypatch, stdin=csv))
    assert message.startswith("error: <stdin>, row 2 (Teff=5750 logg=4.5")
    assert "positive: rosseland_opacity at depth 61" in message and "--skip-invalid" in message
    assert not (tmp_path / "out").exists()

    code, out, err = run_cli(["predict", "--params", "-", "-o", f"{tmp_path}/out/", "--skip-invalid"], capsys, monkeypatch, stdin=csv)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.dat", "c.dat"]
    assert "skipped: <stdin>, row 2" in err and "positive: rosseland_opacity" in err and "1 bad row skipped" in err

    stand_in([bad])
    message = one_error(*run_cli(["predict", "--params", "-", "-o", f"{tmp_path}/none/", "--skip-invalid"], capsys, monkeypatch, stdin=csv))
    assert "no model passes the physical-consistency check" in message
    assert not (tmp_path / "none").exists()


def test_predict_to_stdout_writes_nothing_on_failure(ck04_deck, stand_in, capsys, monkeypatch):
    stand_in([ck04_deck, _with(ck04_deck, "temperature", 3, math.nan)])
    csv = "teff,logg\n5750,4.5\n5750,4.5\n"
    message = one_error(*run_cli(["predict", "--params", "-", "-o", "-"], capsys, monkeypatch, stdin=csv))
    assert "row 2" in message and "finite: temperature" in message


# ------------------------------------------------------------------------------ convert refuses

def _deck_text(shared) -> str:
    return (shared / "samples" / "atlas9" / "t03500g5.0am05ak2odfnew.dat").read_text()


def _replace_field(text: str, row: int, start: int, stop: int, value: str) -> str:
    """Replace columns [start, stop) of depth row ``row`` (0-based) of a single deck."""
    lines = text.splitlines()
    ck04_deck = next(i for i, line in enumerate(lines) if line.startswith("READ DECK6")) + 1 + row
    line = lines[ck04_deck]
    lines[ck04_deck] = line[:start] + value.rjust(stop - start) + line[stop:]
    return "\n".join(lines) + "\n"


BAD_DECKS = {
    # name: (row, columns, text, expected words); columns: RHOX 0-15, T 15-24, P 24-34, XNE 34-44, ABROSS 44-54
    "NaN T": (10, (15, 24), "NaN", "finite: temperature at depth 11"),
    "inf P": (12, (24, 34), "inf", "finite: gas_pressure at depth 13"),
    "T = -3500": (0, (15, 24), "-3500.0", "positive: temperature at depth 1"),
    "negative ABROSS": (5, (44, 54), "-2.000E-04", "positive: rosseland_opacity at depth 6"),
}


@pytest.mark.parametrize("case", list(BAD_DECKS), ids=list(BAD_DECKS))
@pytest.mark.parametrize("target", ["out.dat", "out.fits"])
def test_convert_refuses_a_bad_deck(case, target, shared, tmp_path, capsys, monkeypatch):
    row, (start, stop), value, words = BAD_DECKS[case]
    bad = tmp_path / "bad.dat"
    bad.write_text(_replace_field(_deck_text(shared), row, start, stop, value))
    message = one_error(*run_cli(["convert", bad, tmp_path / target], capsys, monkeypatch))
    assert f"error: {bad} (Teff=3500 logg=5" in message
    assert "fails the physical-consistency check" in message and words in message, message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.dat"]


def test_convert_grid_file_with_a_bad_model_and_skip_invalid(shared, tmp_path, capsys, monkeypatch):
    source = shared / "grids" / "atlas9-ck04" / "am20ak2odfnew.dat"
    n = len(formats.read(source))
    message = one_error(*run_cli(["convert", source, tmp_path / "out.dat"], capsys, monkeypatch))
    assert f"{source}, model " in message and "(Teff=3500 logg=4 [M/H]=-2 [a/M]=+0.4)" in message
    assert "positive: rosseland_opacity at depth 1 = -0.0003737" in message
    assert list(tmp_path.iterdir()) == []
    code, out, err = run_cli(["convert", source, tmp_path / "out.dat", "--skip-invalid"], capsys, monkeypatch)
    assert code == 0, err
    assert "skipped: " in err and "Teff=3500 logg=4" in err and f"wrote {n - 1} models" in err
    written = formats.read(tmp_path / "out.dat")
    assert len(written) == n - 1 and all(np.all(m.layers["rosseland_opacity"] > 0) for m in written)


def test_real_marcs_file_with_a_negative_fconv_converts_to_fits_not_to_marcs(shared, tmp_path, capsys, monkeypatch):
    """Its own file prints "3.782E+01-0.00002": touching fields, which PySME cannot read; innterpol
    does not write that, but the FITS table (no text fields) holds the model as it is."""
    source = shared / "grids" / "marcs-sdss" / "p3900_g+5.5_m0.0_t01_x3_z-2.50_a+0.00_c+0.00_n+0.00_o+0.00_r+0.00_s+0.00.mod.gz"
    message = one_error(*run_cli(["convert", source, tmp_path / "x.mod.gz"], capsys, monkeypatch))
    assert "fields: convective_flux_fraction at depth 12 = -2e-05 does not fit" in message
    code, out, err = run_cli(["convert", source, tmp_path / "x.fits"], capsys, monkeypatch)
    assert code == 0, err


# ------------------------------------------------------------------------------ fixed-width fields

def test_atlas9_rows_keep_fortran_columns_and_blanks(shared, tmp_path):
    """Every row of re-written CK04 decks reads the same as E15.8, F9.1, 8E10.3 fixed columns and
    split on blanks (the readers of Synspec/ATLAS and of Turbospectrum/PySME)."""
    models = [m for m in formats.read(shared / "grids" / "atlas9-ck04" / "am25k2odfnew.dat")]
    atlas9.write(models, tmp_path / "grid.dat")
    lines = (tmp_path / "grid.dat").read_text().splitlines()
    rows = [line for line in lines if re.match(r"^ \d\.\d{8}E[-+]\d\d ", line)]
    assert len(rows) == 72 * len(models)
    widths = [15, 9] + [10] * 8
    for line in rows:
        assert len(line) == sum(widths)
        fields = [line[sum(widths[:i]):sum(widths[:i + 1])] for i in range(len(widths))]
        assert all(f.startswith(" ") for f in fields)
        assert [float(f) for f in fields] == [float(t) for t in line.split()]


@pytest.mark.parametrize("name, k, value", [
    ("sound_speed", 3, -1.0),  # negative: "-1.000E+00" would take the blank
    ("electron_density", 0, 1e-120),  # three-digit exponent
    ("gas_pressure", 9, 1.5e100),
    ("temperature", 71, 1e6),  # F9.1 with a blank holds at most 999999.9
    ("convective_flux_fraction", 30, -5.0),
])
def test_atlas9_writer_refuses_values_that_widen_a_field(ck04_deck, tmp_path, name, k, value):
    bad = _with(ck04_deck, name, k, value)
    with pytest.raises(FieldOverflowError) as info:
        formats.write([bad], tmp_path / "x.dat", "atlas9")
    assert info.value.quantity == name and info.value.depth == k + 1
    assert list(tmp_path.iterdir()) == []


def test_atlas9_negative_gravity_does_not_fit_the_header(ck04_deck, tmp_path):
    bad = ck04_deck.copy()
    bad.logg = -0.5  # "GRAVITY-0.50000" would touch; PySME's header pattern has no sign either
    with pytest.raises(FieldOverflowError, match="log g"):
        formats.write([bad], tmp_path / "x.dat", "atlas9")


def test_marcs_partial_pressures_are_floored_at_the_field(marcs_sun, tmp_path):
    atm = marcs_sun.copy()
    atm.partial_pressures["TiO"] = np.full(marcs_sun.ndepth, -150.0)
    atm.partial_pressures["H2O"] = np.full(marcs_sun.ndepth, -100.0)
    formats.write([atm], tmp_path / "x.mod", "marcs")
    text = (tmp_path / "x.mod").read_text()
    assert "-100.00" not in text and "-150.00" not in text
    (back,) = formats.read(tmp_path / "x.mod")
    assert np.all(back.partial_pressures["TiO"] == marcs.PARTIAL_PRESSURE_FLOOR)
    assert np.all(back.partial_pressures["H2O"] == marcs.PARTIAL_PRESSURE_FLOOR)
    np.testing.assert_array_equal(back.partial_pressures["CO"], marcs_sun.partial_pressures["CO"])
    block = text.splitlines()[text.splitlines().index("Assorted logarithmic partial pressures") + 1:]
    assert not any(re.search(r"\d-", line) for line in block)  # no two numbers touch


def test_negative_zero_is_written_as_zero(marcs_sun, tmp_path):
    atm = marcs_sun.copy()
    atm.layers["convective_flux_fraction"][20] = -1e-7  # MARCS itself prints "-0.00000", touching Vconv
    formats.write([atm], tmp_path / "x.mod", "marcs")
    lines = (tmp_path / "x.mod").read_text().splitlines()
    line = lines[lines.index(marcs.BLOCK2_HEADER) + 21]
    assert "-0.00000" not in line and " 0.00000" in line


# ------------------------------------------------------------------------------ headers

def test_pradk_of_a_deck_without_one(ck04_deck, marcs_sun, tmp_path):
    bare = ck04_deck.copy()
    del bare.extra["pradk"]
    expected = atlas9.PRADK_OVER_FLUX * 5.670374419e-5 * 5750.0**4 / 2.99792458e10
    formats.write([bare], tmp_path / "a.dat", "atlas9")
    (back,) = formats.read(tmp_path / "a.dat")
    assert back.extra["pradk"] == pytest.approx(expected, rel=1e-4)
    assert back.extra["pradk"] == pytest.approx(ck04_deck.extra["pradk"], rel=0.04)
    formats.write([marcs_sun], tmp_path / "sun.dat", "atlas9")  # a MARCS source: its own top radiation pressure
    assert formats.read(tmp_path / "sun.dat")[0].extra["pradk"] == pytest.approx(marcs_sun.layers["radiation_pressure"][0], rel=1e-4)


def test_pradk_relation_against_ck04(shared):
    """PRADK = 0.7087 sigma Teff^4 / c is within -3.7 % / +2.2 % of every CK04 model (cool and hot files here)."""
    for name in ("ap00k2odfnew.dat", "am25k2odfnew.dat", "ap05ak2odfnew.dat"):
        for m in formats.read(shared / "grids" / "atlas9-ck04" / name):
            real = m.extra.pop("pradk")
            ratio = atlas9.pradk(m) / real
            assert 1 / 1.022 - 1e-3 < ratio < 1 / 0.963 + 1e-3, (name, m.teff, m.logg, ratio)


def test_title_carries_mh_to_a_hundredth(ck04_deck, tmp_path):
    atm = ck04_deck.copy()
    for key in ("atlas9_title", "abundance_scale", "kurucz_h_he"):
        atm.extra.pop(key, None)
    atm.mh = 0.23
    atm.abundances = formats.model.scaled_abundances(0.23)
    formats.write([atm], tmp_path / "x.dat", "atlas9")
    text = (tmp_path / "x.dat").read_text()
    assert "[+0.23]" in text.splitlines()[1]
    scale = float(re.search(r"ABUNDANCE SCALE\s+(\S+)", text).group(1))
    assert math.log10(scale) == pytest.approx(0.23, abs=1e-4)  # PySME checks the two agree to 1e-3
    assert formats.read(tmp_path / "x.dat")[0].mh == 0.23


MARCS_NAME = re.compile(r"^[ps]\d{4,5}_g[-+]\d+\.\d_m\d+\.\d_t\d\d_(st|x3|ae)_z[-+]\d\.\d\d_a[-+]\d\.\d\d_c[-+]\d\.\d\d"
                        r"_n[-+]\d\.\d\d_o[-+]\d\.\d\d_r[-+]\d\.\d\d_s[-+]\d\.\d\d$")


def test_marcs_line_one_is_a_marcs_name_and_xyz_follows_the_abundances(marcs_sun, tmp_path):
    atm = marcs_sun.copy()
    for key in ("marcs_name", "marcs_xyz"):
        atm.extra.pop(key)
    atm.extra["marcs_teff_comment"] = " innterpol 0.1.0 interpolated with marcs-sdss.npz"
    atm.mh, atm.am = -0.5, 0.2
    atm.abundances = formats.model.scaled_abundances(-0.5, 0.2)
    formats.write([atm], tmp_path / "x.mod", "marcs")
    lines = (tmp_path / "x.mod").read_text().splitlines()
    assert MARCS_NAME.match(lines[0]), lines[0]
    assert lines[0] == "p5777_g+4.4_m0.0_t01_st_z-0.50_a+0.20_c+0.00_n+0.00_o+0.20_r+0.00_s+0.00"
    assert lines[1].endswith("Teff [K] innterpol 0.1.0 interpolated with marcs-sdss.npz")
    # [alpha/M] = +0.2 raises Z above the scaled-solar 3.89E-03 of the grid files at -0.5
    x, y, z = (float(v) for v in lines[10].split()[:3])
    assert x + y + z == pytest.approx(1.0, abs=2e-5) and 3.89e-3 < z < 6e-3
    assert lines[10].endswith("are X, Y and Z, 12C/13C=89 (=solar)")
    assert formats.read(tmp_path / "x.mod")[0].mh == -0.5


def test_xyz_line_matches_the_grid_files(shared):
    """From the abundances alone: the grid's X, Y, Z lines, to 2 in the last printed digit of X and Y
    (the grid's own files at [M/H] = +1.0 print both 0.66519 and 0.66521)."""
    seen = set()
    for path in sorted((shared / "grids" / "marcs-sdss").glob("p5000_g+4.5*.mod.gz")):
        (m,) = formats.read(path)
        if m.extra["marcs_xyz"] in seen:
            continue
        seen.add(m.extra["marcs_xyz"])
        real = [float(v) for v in m.extra["marcs_xyz"].split()[:3]]
        ours = [float(v) for v in marcs.xyz_line(m.abundances).split()[:3]]
        assert ours[0] == pytest.approx(real[0], abs=2.01e-5) and ours[1] == pytest.approx(real[1], abs=2.01e-5)
        assert ours[2] == pytest.approx(real[2], rel=0.0051), path.name
    assert len(seen) >= 10
    assert marcs.xyz_line(formats.model.scaled_abundances(-0.5)).startswith("  0.74447 0.25164 3.89E-03")


def test_pysme_reads_a_marcs_file_without_its_own_name(marcs_sun, tmp_path):
    pytest.importorskip("pysme")
    from pysme.atmosphere.marcsfile import readmarcsfile

    atm = marcs_sun.copy()
    for key in ("marcs_name", "marcs_xyz"):
        atm.extra.pop(key)
    atm.extra["marcs_teff_comment"] = " innterpol 0.1.0 interpolated with marcs-sdss.npz"
    formats.write([atm], tmp_path / "x.mod", "marcs")
    data = readmarcsfile(str(tmp_path / "x.mod"))
    assert data["teff"] == 5777.0 and data["name"].startswith("p5777_g+4.4")


# ------------------------------------------------------------------------------ FITS units

def test_fits_units_are_standard_and_read_without_a_warning(ck04_deck, marcs_sun, tmp_path):
    import astropy.units as u
    from astropy.table import Table

    from formats.fitstable import FITS_UNITS
    from formats.model import LAYER_UNITS

    for name, unit in FITS_UNITS.items():
        assert u.Unit(unit, format="fits") == u.Unit(LAYER_UNITS[name]), name
    formats.write([ck04_deck, marcs_sun], tmp_path / "t.fits", "fits")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = Table.read(tmp_path / "t.fits", hdu="ATMOSPHERES")
    assert table["GAS_PRESSURE"].unit == u.Unit("dyn / cm2")
    assert table["VMIC"].unit == u.Unit("km / s") and table["LOGG"].unit is None
    from astropy.io import fits

    with fits.open(tmp_path / "t.fits") as hdul:
        header = hdul["ATMOSPHERES"].header
        comments = {header[f"TTYPE{i}"]: header.get(f"TCOMM{i}") for i in range(1, header["TFIELDS"] + 1)}
    assert comments["LOGG"] == "log10 of the surface gravity in cm s-2"
    assert comments["PP_CO"].startswith("log10 of the partial pressure")


# ------------------------------------------------------------------------------ with the shipped weights

@pytest.fixture(scope="module")
def interpolators():
    """The shipped interpolators (they ship with the package: a failure to load them is a bug)."""
    from innterpol_cli.interpolate import load

    return {name: load(name) for name in ("atlas9", "marcs")}


def test_predicted_files_have_real_headers(interpolators, shared, tmp_path, capsys, monkeypatch):
    """At a grid node: PRADK close to the node's own; MARCS line 1 a MARCS name; [M/H] to 0.01 dex."""
    models = formats.read(shared / "grids" / "atlas9-ck04" / "ap00k2odfnew.dat")
    node = next(m for m in models if (m.teff, m.logg) == (5750.0, 4.5))
    code, _, err = run_cli(["predict", "--teff", 5750, "--logg", 4.5, "-o", tmp_path / "node.dat"], capsys, monkeypatch)
    assert code == 0, err
    (ck04_deck,) = formats.read(tmp_path / "node.dat")
    assert ck04_deck.extra["pradk"] == pytest.approx(node.extra["pradk"], rel=0.04)

    code, _, err = run_cli(["predict", "--grid", "marcs", "--teff", 5000, "--logg", 4.5, "--mh", -0.5, "-o", tmp_path / "m.mod"],
                       capsys, monkeypatch)
    assert code == 0, err
    lines = (tmp_path / "m.mod").read_text().splitlines()
    assert MARCS_NAME.match(lines[0]) and lines[0].startswith("p5000_g+4.5_m0.0_t01_x3_z-0.50")
    assert "innterpol" in lines[1] and "3.89E-03" in lines[10]


def test_weights_with_nan_tensors_are_refused(interpolators, tmp_path, capsys, monkeypatch):
    from innterpol_cli.interpolate import resolve
    from innterpol_cli.weightsfile import load, save

    weights = load(resolve("atlas9"))
    name = sorted(weights.tensors)[-1]
    weights.tensors[name] = np.full_like(weights.tensors[name], np.nan)
    save(weights, tmp_path / "nan.npz")
    code, out, err = run_cli(["predict", "--grid", tmp_path / "nan.npz", "--teff", 5777, "--logg", 4.44, "-o", tmp_path / "x.dat"],
                         capsys, monkeypatch)
    assert code == 1 and out == "" and "Traceback" not in err
    message = err.strip().splitlines()[-1]
    # refused when the file loads, naming it and the array, before anything is predicted
    assert message.startswith("error:") and "nan.npz" in message and f"tensor/{name}" in message
    assert "non-finite" in message
    assert not (tmp_path / "x.dat").exists()
