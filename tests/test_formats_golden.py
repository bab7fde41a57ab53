"""Golden values pinned from real files, format detection by content, and the physics derivations."""

from __future__ import annotations

import numpy as np
import pytest

import formats
from formats import FormatError, atlas9, model

from conftest import deck_count


def test_marcs_sun_golden_values(shared):
    (sun,) = formats.read(shared / "samples" / "marcs" / "sun.mod")
    assert (sun.teff, sun.logg, sun.mh, sun.am, sun.vmic) == (5777.0, 4.44, 0.0, 0.0, 1.0)
    assert sun.geometry == "plane-parallel" and sun.mass is None
    assert sun.ndepth == 56
    k = 36  # line " 37 -0.40 -0.4944 -5.215E+06  5597.1  1.0474E+01  8.2062E+04 ..."
    layers = sun.layers
    assert layers["log_tau_ross"][k] == -0.40
    assert layers["log_tau_5000"][k] == -0.4944
    assert layers["temperature"][k] == 5597.1
    assert layers["electron_pressure"][k] == 1.0474e01
    assert layers["gas_pressure"][k] == 8.2062e04
    assert layers["rosseland_opacity"][k] == 2.8216e-01
    assert layers["density"][k] == 2.2354e-07
    assert layers["mean_molecular_weight"][k] == 1.268
    assert layers["column_mass"][k] == 3.010575
    assert sun.partial_pressures["H I"][k] == 4.88
    assert sun.abundances[0] == 12.0 and sun.abundances[25] == 7.45  # H, Fe (GAS07)
    assert sun.extra["flux"] == 6.3157e10


def test_marcs_spherical_header(shared):
    (giant,) = formats.read(shared / "samples" / "marcs" / "s4000_g+2.0_m1.0.mod")
    assert giant.geometry == "spherical"
    assert giant.mass == 1.0 and giant.radius > 1e11


def test_atlas9_grid_golden_values(shared):
    source = shared / "grids" / "atlas9-ck04" / "ap00k2odfnew.dat"
    models = formats.read(source)
    assert len(models) == deck_count(source)
    (m,) = [m for m in models if (m.teff, m.logg) == (5750.0, 4.5)]
    # First depth: " 5.56174690E-04   3628.5 1.759E+01 2.865E+09 2.398E-04 5.536E-02 2.000E+05 ..."
    assert m.layers["column_mass"][0] == 5.56174690e-04
    assert m.layers["temperature"][0] == 3628.5
    assert m.layers["gas_pressure"][0] == 1.759e01
    assert m.layers["electron_density"][0] == 2.865e09
    assert m.layers["rosseland_opacity"][0] == 2.398e-04
    assert m.layers["microturbulence"][0] == 2.0e05
    assert m.vmic == 2.0 and m.mh == 0.0 and m.am == 0.0
    # tau is not in the file: the integral of ABROSS d(RHOX) lands on the standard scale.
    np.testing.assert_array_equal(m.layers["log_tau_ross"], -6.875 + 0.125 * np.arange(72))


def test_atlas9_touching_columns_and_alpha(shared):
    """``1.776E+06-3.737E-04`` is two numbers; the 'a' files are alpha-enhanced by +0.4."""
    models = formats.read(shared / "grids" / "atlas9-ck04" / "am20ak2odfnew.dat")
    # " 3.95550770E-04   2368.8 2.662E+00 1.776E+06-3.737E-04 ...": XNE then a (negative) ABROSS.
    hits = [(m, k) for m in models for k, v in enumerate(m.layers["rosseland_opacity"]) if v == -3.737e-04]
    assert hits, "the touching-columns line was not split"
    m, k = hits[0]
    assert m.layers["electron_density"][k] == 1.776e06
    assert m.layers["column_mass"][k] == 3.95550770e-04
    assert {m.mh for m in models} == {-2.0} and {m.am for m in models} == {0.4}


def test_phoenix_golden_values(shared):
    path = next((shared / "samples" / "phoenix").glob("lte05500-4.50-0.0*"))
    (m,) = formats.read(path)
    assert (m.teff, m.logg, m.mh, m.am, m.vmic) == (5500.0, 4.5, 0.0, 0.0, 1.0)
    assert m.geometry == "spherical"
    assert m.mass == pytest.approx(1.8072e33 / 1.98841e33)  # PHXMASS is in grams despite its "[kg]" comment
    assert m.radius == 6.1784e10
    assert m.ndepth == 64
    assert m.layers["tau_std"][0] == 0.0 and m.layers["tau_std"][-1] == 100.0
    assert m.layers["temperature"][0] == np.float32(3053.4622)
    assert m.layers["electron_pressure"][0] == np.float32(2.0072e-10)
    assert m.abundances[0] == 12.0 and m.abundances[1] == np.float32(10.93)
    assert "log_tau_ross" not in m.layers  # PHOENIX's tau is not Rosseland: nothing is made up


@pytest.mark.parametrize(
    "relative, expected",
    [
        ("grids/atlas9-ck04/ap00k2odfnew.dat", "atlas9"),
        ("samples/atlas9/ksun.mod", "atlas9"),
        ("samples/marcs/sun.mod", "marcs"),
        ("samples/marcs/marcs_test.mod.gz", "marcs"),
        ("samples/phoenix/lte03500-4.50-0.0.PHOENIX-ACES-AGSS-COND-2011.ATMOS.fits", "phoenix"),
    ],
)
def test_detection_by_content(shared, tmp_path, relative, expected):
    source = shared / relative
    assert formats.identify(source) == expected
    # The name says nothing: content decides (ATLAS9 and MARCS both use .mod).
    renamed = tmp_path / "model.mod"
    renamed.write_bytes(source.read_bytes())
    assert formats.identify(renamed) == expected


def test_detection_of_fits_tables_and_not_phoenix(shared, tmp_path):
    models = formats.read(next((shared / "samples" / "phoenix").glob("lte05500*")))
    formats.write(models, tmp_path / "t.fits", "fits")
    assert formats.identify(tmp_path / "t.fits") == "fits"  # META holds PHX keywords: not a PHOENIX file
    for info in formats.FORMATS.values():
        head = (tmp_path / "t.fits").read_bytes()[:65536]
        assert info.identify(head, "t.fits") == (info.name == "fits")


def test_unknown_and_ambiguous_formats_list_the_known_ones(tmp_path, monkeypatch):
    path = tmp_path / "notes.mod"
    path.write_text("hello\nworld\n")
    with pytest.raises(FormatError) as info:
        formats.identify(path)
    message = str(info.value)
    assert str(path) in message and "line 1" in message
    assert all(name in message for name in formats.FORMATS)
    monkeypatch.setattr(formats, "identify_bytes", lambda head, name="": ["atlas9", "marcs"])
    with pytest.raises(FormatError, match="ambiguous format: matches atlas9, marcs"):
        formats.identify(path)
    with pytest.raises(FormatError, match="known formats: atlas9, marcs, phoenix, fits"):
        formats.get_format("kurucz")


def test_identifiers_never_raise():
    for info in formats.FORMATS.values():
        for head in (b"", b"\x00\xff" * 100, b"SIMPLE  =", "TEFF é".encode()):
            assert info.identify(head, "x") in (True, False)


def test_format_from_suffix():
    assert formats.format_from_suffix("a.fits") == "fits"
    assert formats.format_from_suffix("x.PHOENIX-ACES-AGSS-COND-2011.ATMOS.fits") == "phoenix"
    assert formats.format_from_suffix("grid.dat") == "atlas9"
    assert formats.format_from_suffix("s.mod.gz") == "marcs"
    assert formats.format_from_suffix("s.mod") is None  # ambiguous: the user must say


def test_derivations_are_consistent(shared):
    """Pe <-> Ne kT, rho <-> mu, kappa = d tau / d RHOX invert each other on the solar MARCS model."""
    (sun,) = formats.read(shared / "samples" / "marcs" / "sun.mod")
    L = sun.layers
    ne = model.electron_density_from_pressure(L["electron_pressure"], L["temperature"])
    np.testing.assert_allclose(model.electron_pressure_from_density(ne, L["temperature"]), L["electron_pressure"])
    rho = model.density_from_pressure(L["gas_pressure"], L["temperature"], L["mean_molecular_weight"])
    np.testing.assert_allclose(rho, L["density"], rtol=2e-3)  # Mu is printed to 4 digits
    kappa = model.opacity_from_log_tau(L["column_mass"], L["log_tau_ross"])
    np.testing.assert_allclose(kappa, L["rosseland_opacity"], rtol=0.05)  # lgTauR is printed to 0.01 dex
    log_tau = model.log_tau_from_opacity(L["column_mass"], L["rosseland_opacity"])
    # The top boundary (tau_1 = kappa_1 RHOX_1) is ATLAS's, not MARCS's: agreement from tau ~ 1e-3 down.
    np.testing.assert_allclose(log_tau[7:], L["log_tau_ross"][7:], atol=0.03)


def test_marcs_to_atlas9_derives_xne(shared, tmp_path):
    (sun,) = formats.read(shared / "samples" / "marcs" / "sun.mod")
    derived = formats.derived_quantities(sun, "atlas9")
    assert {"electron_density", "sound_speed"} <= set(derived)
    expected = sun.layers["electron_pressure"] / (model.BOLTZMANN * sun.layers["temperature"])
    np.testing.assert_allclose(derived["electron_density"], expected)
    atlas9.write([sun], tmp_path / "sun.dat")
    (deck,) = atlas9.read(tmp_path / "sun.dat")
    np.testing.assert_allclose(deck.layers["electron_density"], expected, rtol=5e-4)  # printed to 4 digits
    np.testing.assert_array_equal(deck.layers["column_mass"], sun.layers["column_mass"])
    # ATLAS9 prints ABROSS to 4 digits where MARCS prints 5.
    np.testing.assert_allclose(deck.layers["rosseland_opacity"], sun.layers["rosseland_opacity"], rtol=5e-4)


@pytest.mark.parametrize(
    "source, target, missing",
    [
        ("samples/atlas9/ksun.mod", "marcs", "lgTau5"),
        ("samples/phoenix/lte05500-4.50-0.0.PHOENIX-ACES-AGSS-COND-2011.ATMOS.fits", "marcs", "lgTau5"),
        ("samples/phoenix/lte05500-4.50-0.0.PHOENIX-ACES-AGSS-COND-2011.ATMOS.fits", "atlas9", "RHOX"),
        ("samples/marcs/sun.mod", "phoenix", "tau"),
    ],
)
def test_underivable_quantities_are_named(shared, tmp_path, source, target, missing):
    models = formats.read(shared / source)
    with pytest.raises(formats.MissingQuantityError, match=missing):
        formats.write(models, tmp_path / "out", target)
    assert not list(tmp_path.iterdir())


def test_atlas9_depth_count_comes_from_read_deck6(shared, tmp_path):
    """Copies of the CK04 grid with 71-depth models exist: the count is read, not assumed."""
    lines = (shared / "samples" / "atlas9" / "ksun.mod").read_text().splitlines()
    deck = next(i for i, line in enumerate(lines) if line.startswith("READ DECK6"))
    lines[deck] = lines[deck].replace("READ DECK6 72", "READ DECK6 71")
    del lines[deck + 72]
    path = tmp_path / "short.dat"
    path.write_text("\n".join(lines) + "\n")
    (m,) = formats.read(path)
    assert m.ndepth == 71 and len(m.layers["log_tau_ross"]) == 71
    atlas9.write([m], tmp_path / "again.dat")
    assert "READ DECK6 71 " in (tmp_path / "again.dat").read_text()
