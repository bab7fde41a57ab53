"""The physical-consistency check: every real model passes, every hand-made defect is caught.

The real models are every model of both shared grids (read once per module) and the samples;
the documented exceptions are the three grid models whose values do not fit their own format's
fields (a negative ABROSS in CK04, a negative Fconv/F in two SDSS MARCS files): docs/formats.md.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import formats
from formats.model import BOLTZMANN
from innterpol_cli import check as consistency
from innterpol_cli import limits

from conftest import run_cli

#: The real models that fail, by file, parameters and failed tests.
KNOWN_FAILURES = {
    ("am20ak2odfnew.dat", 3500.0, 4.0): {"positive", "fields"},  # ABROSS -3.737E-04 .. at depths 1-3
    ("p3900_g+5.5_m0.0_t01_x3_z-2.50_a+0.00_c+0.00_n+0.00_o+0.00_r+0.00_s+0.00.mod.gz", 3900.0, 5.5): {"fields"},
    ("p7500_g+4.5_m0.0_t01_x3_z+1.00_a+0.00_c+0.00_n+0.00_o+0.00_r+0.00_s+0.00.mod.gz", 7500.0, 4.5): {"fields"},
}


@pytest.fixture(scope="module")
def grids(shared):
    """(format, models) of every model of both grids, read once."""
    atlas9 = [m for path in sorted((shared / "grids" / "atlas9-ck04").glob("*.dat")) for m in formats.read(path)]
    marcs = [formats.read(path)[0] for path in sorted((shared / "grids" / "marcs-sdss").glob("*.mod.gz"))]
    return {"atlas9": atlas9, "marcs": marcs}


@pytest.fixture(scope="module")
def samples(shared):
    return [(path, formats.identify(path), formats.read(path)) for path in sorted((shared / "samples").glob("*/*")) if path.is_file()]


def _name(atm) -> str:
    return atm.source.replace("\\", "/").rsplit("/", 1)[-1]


def test_every_real_model_passes_but_the_documented_ones(grids):
    failures = {}
    counts = {}
    for fmt, models in grids.items():
        reports = consistency.check(models, fmt)
        counts[fmt] = consistency.summary(reports)
        for report in reports:
            if not report.ok:
                atm = report.atmosphere
                failures[(_name(atm), atm.teff, atm.logg)] = {f.test for f in report.failures}
    assert failures == KNOWN_FAILURES
    # The figures of docs/formats.md ("Physical consistency checks").
    assert counts["atlas9"]["positive"] == (len(grids["atlas9"]) - 1, 1, 0)
    assert counts["atlas9"]["hydrostatic"] == (len(grids["atlas9"]) - 1, 0, 1)  # no log tau: ABROSS < 0
    assert counts["marcs"]["fields"] == (len(grids["marcs"]) - 2, 2, 0)
    for fmt in grids:
        for test in ("finite", "monotonic", "smooth"):
            assert counts[fmt][test][1] == 0, (fmt, test)


def test_every_sample_passes(samples):
    assert len(samples) >= 5, "the sample files are missing"
    for path, fmt, models in samples:
        for report in consistency.check(models, fmt):
            assert report.ok, f"{path.name}: {report.describe()}"


def test_limits_are_what_the_real_models_give(grids, samples):
    """The constants in innterpol_cli/limits.py are grid_levels -> limits_from_levels of every real model."""
    every = grids["atlas9"] + grids["marcs"] + [m for _, _, models in samples for m in models]
    measured = limits.limits_from_levels(limits.grid_levels(every))
    assert measured["HYDROSTATIC_TOLERANCE"] == limits.HYDROSTATIC_TOLERANCE
    assert measured["SMOOTHNESS_LIMIT"] == limits.SMOOTHNESS_LIMIT


# ------------------------------------------------------------------------------ hand-made defects





def _broken(atm, **changes):
    out = atm.copy()
    for name, change in changes.items():
        out.layers[name] = change(out.layers[name].copy())
    return out


def _set(k, value):
    def change(values):
        values[k] = value
        return values
    return change


def _swap(a, b):
    def change(values):
        values[[a, b]] = values[[b, a]]
        return values
    return change


DEFECTS = {
    # name: (model fixture, changes, format, test, words in the message)
    "nan temperature": ("ck04_deck", {"temperature": _set(30, np.nan)}, None, "finite", "temperature at depth 31"),
    "inf pressure": ("marcs_sun", {"gas_pressure": _set(20, np.inf)}, None, "finite", "gas_pressure at depth 21"),
    "RHOX not increasing": ("ck04_deck", {"column_mass": _swap(40, 41)}, None, "monotonic", "column_mass at depth 42"),
    "depth not increasing": ("marcs_sun", {"depth": _swap(10, 11)}, None, "monotonic", "depth at depth 12"),
    "negative opacity": ("ck04_deck", {"rosseland_opacity": _set(5, -1e-3)}, None, "positive", "rosseland_opacity at depth 6"),
    "T = -3500": ("marcs_sun", {"temperature": _set(0, -3500.0)}, None, "positive", "temperature at depth 1"),
    "negative VELSND": ("ck04_deck", {"sound_speed": _set(60, -1e5)}, None, "positive", "sound_speed at depth 61"),
    "zero electron pressure": ("marcs_sun", {"electron_pressure": _set(3, 0.0)}, None, "positive", "electron_pressure"),
    "pressure 30 % high": ("ck04_deck", {"gas_pressure": lambda p: 1.3 * p}, None, "hydrostatic", "off g RHOX"),
    "RHOX 30 % low (MARCS)": ("marcs_sun", {"column_mass": lambda m: 0.7 * m}, None, "hydrostatic", "off g RHOX"),
    "a step in T": ("ck04_deck", {"temperature": lambda t: t * np.where(np.arange(len(t)) >= 36, 1.1, 1.0)}, None, "smooth",
                    "log temperature at depth"),
    "a spike in Pe": ("marcs_sun", {"electron_pressure": _set(30, 1e3)}, None, "smooth", "log electron_pressure at depth 3"),
    "T = 1e6 K in a deck": ("ck04_deck", {"temperature": _set(70, 1e6)}, "atlas9", "fields", "temperature at depth 71"),
    "XNE 1e-120 in a deck": ("ck04_deck", {"electron_density": _set(0, 1e-120)}, "atlas9", "fields", "electron_density at depth 1"),
    "negative VCONV in a deck": ("ck04_deck", {"convective_velocity": _set(50, -1.0)}, "atlas9", "fields", "convective_velocity"),
    "T = 1e5 K (MARCS)": ("marcs_sun", {"temperature": _set(55, 1e5)}, "marcs", "fields", "temperature at depth 56"),
}


@pytest.mark.parametrize("case", list(DEFECTS), ids=list(DEFECTS))
def test_each_test_flags_a_hand_made_defect(case, request):
    fixture, changes, fmt, test, words = DEFECTS[case]
    atm = request.getfixturevalue(fixture)
    assert consistency.check([atm], fmt)[0].ok
    (report,) = consistency.check([_broken(atm, **changes)], fmt)
    assert report.failed(test), report.describe()
    message = report.describe()
    assert f"{test}:" in message and words in message, message


def test_electron_pressure_where_both_are_given(ck04_deck):
    atm = ck04_deck.copy()
    atm.layers["electron_pressure"] = atm.layers["electron_density"] * BOLTZMANN * atm.layers["temperature"]
    (report,) = consistency.check([atm])
    assert report.ok and "electron_pressure" not in report.not_applicable
    atm.layers["electron_pressure"][12] *= 1.01
    (report,) = consistency.check([atm])
    assert report.failed("electron_pressure") and "electron_pressure: Pe / (Ne k T) at depth 13" in report.describe()
    assert "electron_pressure" in consistency.check([ck04_deck])[0].not_applicable


def test_nan_parameter_is_not_finite(ck04_deck):
    atm = ck04_deck.copy()
    atm.teff = float("nan")
    (report,) = consistency.check([atm])
    assert report.failed("finite") and "finite: teff" in report.describe()


def test_marcs_partial_pressures_below_the_field_are_floored_not_refused(marcs_sun):
    atm = marcs_sun.copy()
    atm.partial_pressures["TiO"] = np.full(marcs_sun.ndepth, -150.0)
    assert consistency.check([atm], "marcs")[0].ok
    atm.partial_pressures["lgPgas"] = atm.partial_pressures["lgPgas"].copy()
    atm.partial_pressures["lgPgas"][0] = -10.5  # log Pg is not floored: "-10.500" takes 7 of 6 characters
    (report,) = consistency.check([atm], "marcs")
    assert report.failed("fields") and "lgPgas at depth 1" in report.describe()


def test_batches_give_the_same_reports_as_single_models(ck04_deck, marcs_sun, shared):
    """The check runs on stacked arrays of models alike; mixing formats and defects changes nothing."""
    phoenix = formats.read(next((shared / "samples" / "phoenix").glob("lte05500*")))[0]
    models = [ck04_deck, _broken(marcs_sun, temperature=_set(4, np.nan)), phoenix, _broken(ck04_deck, column_mass=_swap(2, 3)), marcs_sun]
    together = consistency.check(models)
    alone = [consistency.check([m])[0] for m in models]
    assert [r.describe() for r in together] == [r.describe() for r in alone]
    assert [r.ok for r in together] == [True, False, True, False, True]
    assert {"hydrostatic", "smooth"} <= together[2].not_applicable  # PHOENIX: no RHOX, no tau_Ross


def test_require_valid_names_the_model_and_test(ck04_deck):
    bad = _broken(ck04_deck, rosseland_opacity=_set(5, -1e-3))
    with pytest.raises(consistency.CheckError) as info:
        consistency.require_valid([ck04_deck, bad, bad], "atlas9", ["row 1", "row 2", "row 3"])
    message = str(info.value)
    assert message.startswith("row 2: fails the physical-consistency check (positive: rosseland_opacity at depth 6")
    assert "1 more of the 3 models fail too" in message and "--skip-invalid" in message
    keep, problems = consistency.require_valid([ck04_deck, bad, bad], "atlas9", ["row 1", "row 2", "row 3"], skip_invalid=True)
    assert keep == [0] and [p.split(":")[0] for p in problems] == ["row 2", "row 3"]


def test_the_check_imports_no_heavy_module(shared):
    code = (
        "import sys, formats\nfrom innterpol_cli.check import check\n"
        f"reports = check(formats.read({str(shared / 'samples' / 'atlas9' / 'ksun.mod')!r}), 'atlas9')\n"
        "assert reports[0].ok\n"
        "print(' '.join(m for m in ('torch', 'pandas', 'astropy', 'rich') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


# ------------------------------------------------------------------------------ the command



def test_command_on_good_files(shared, capsys, monkeypatch):
    code, out, err = run_cli(["check", shared / "samples" / "marcs" / "sun.mod", shared / "samples" / "atlas9" / "ksun.mod"],
                         capsys, monkeypatch)
    assert code == 0, out + err
    assert err == ""
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["test", "passed", "failed", "n/a"]
    assert [line.split()[0] for line in lines[1:8]] == list(consistency.TESTS)
    assert lines[1].split()[1:4] == ["2", "0", "0"]  # finite: 2 passed
    assert lines[-1] == "2 of 2 models pass every test"


def test_command_on_a_grid_file_with_a_bad_model(shared, capsys, monkeypatch):
    source = shared / "grids" / "atlas9-ck04" / "am20ak2odfnew.dat"
    code, out, err = run_cli(["check", source], capsys, monkeypatch)
    assert code == 1 and err == ""
    failing = [line for line in out.splitlines() if line.startswith(str(source))]
    assert len(failing) == 1
    line = failing[0]
    n = len(formats.read(source))
    assert f"{source}: model " in line and "(Teff=3500 logg=4 [M/H]=-2 [a/M]=+0.4)" in line
    assert "positive: rosseland_opacity at depth 1 = -0.0003737" in line and "fields:" in line
    assert out.splitlines()[-1] == f"{n - 1} of {n} models pass every test"


def test_command_on_hand_made_broken_file(ck04_deck, tmp_path, capsys, monkeypatch):
    bad = _broken(ck04_deck, column_mass=_swap(40, 41))
    formats.write([ck04_deck, bad], tmp_path / "two.fits", "fits")
    code, out, err = run_cli(["check", tmp_path / "two.fits"], capsys, monkeypatch)
    assert code == 1
    assert f"{tmp_path / 'two.fits'}: model 2 (Teff=5750 logg=4.5 [M/H]=+0): monotonic: column_mass at depth 42" in out
    assert "model 1" not in out
    assert out.splitlines()[-1] == "1 of 2 models pass every test"


def test_command_unreadable_file(tmp_path, capsys, monkeypatch):
    (tmp_path / "x.mod").write_text("not a model\n")
    code, out, err = run_cli(["check", tmp_path / "x.mod"], capsys, monkeypatch)
    assert code == 1 and out == ""
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
