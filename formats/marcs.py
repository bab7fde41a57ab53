"""MARCS ``.mod`` / ``.mod.gz`` model files (Gustafsson et al. 2008 layout).

The whole file is handled: the 11 header lines, the abundance block, ``N Number
of depth points``, ``Model structure``, both structure blocks and the
``Assorted logarithmic partial pressures`` blocks.  The writer reproduces the
fixed layout that PySME's strict MarcsAtmosphere reader and Turbospectrum's
reader (radius in fixed columns, the depth count two lines above ``Model
structure``) expect.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .derive import complete
from .errors import FormatError, MissingQuantityError
from .fixedwidth import NUMBER, fixed_fields, overflowing_fields, parse_numbers
from .model import ATOMIC_MASSES, PLANE_PARALLEL, SPHERICAL, Atmosphere, scaled_abundances
from .registry import TextFormat
from .textio import read_text
from .transaction import the_one_model, write_text

BLOCK1 = (("lgTauR", "log_tau_ross"), ("lgTau5", "log_tau_5000"), ("Depth", "depth"), ("T", "temperature"),
          ("Pe", "electron_pressure"), ("Pg", "gas_pressure"), ("Prad", "radiation_pressure"),
          ("Pturb", "turbulent_pressure"))
BLOCK2 = (("lgTauR", "log_tau_ross"), ("KappaRoss", "rosseland_opacity"), ("Density", "density"),
          ("Mu", "mean_molecular_weight"), ("Vconv", "convective_velocity"),
          ("Fconv/F", "convective_flux_fraction"), ("RHOX", "column_mass"))
BLOCK1_HEADER = " k lgTauR  lgTau5    Depth     T        Pe          Pg         Prad       Pturb"
BLOCK2_HEADER = " k lgTauR    KappaRoss   Density   Mu      Vconv   Fconv/F      RHOX"
#: The partial-pressure columns of MARCS 2008 files, in file order (three blocks).
PARTIAL_PRESSURE_BLOCKS = (
    ("lgPgas", "H I", "H-", "H2", "H2+", "H2O", "OH", "CH", "CO", "CN", "C2"),
    ("N2", "O2", "NO", "NH", "TiO", "C2H2", "HCN", "C2H", "HS", "SiH", "C3H"),
    ("C3", "CS", "SiC", "SiC2", "NS", "SiN", "SiO", "SO", "S2", "SiS", "Other"),
)
#: The fixed-width fields of the structure blocks (after the 3-digit depth index), as in the
#: MARCS 2008 files: each is one blank and a value of at most the spec's width.
BLOCK1_FIELDS = (("log_tau_ross", "5.2f"), ("log_tau_5000", "7.4f"), ("depth", "10.3E"), ("temperature", "7.1f"),
                 ("electron_pressure", "11.4E"), ("gas_pressure", "11.4E"), ("radiation_pressure", "11.4E"),
                 ("turbulent_pressure", "11.4E"))
BLOCK2_FIELDS = (("log_tau_ross", "5.2f"), ("rosseland_opacity", "11.4E"), ("density", "11.4E"),
                 ("mean_molecular_weight", "5.3f"), ("convective_velocity", "10.3E"),
                 ("convective_flux_fraction", "7.5f"), ("column_mass", "13.6E"))
#: Partial pressures (log10 dyn/cm2) are F7.2 fields, lgPgas F7.3.  A value at or below -100 would
#: take the whole field and touch its neighbour; such a pressure (< 1e-99 dyn/cm2) is nothing, so
#: the writer floors them at -99.99 (MARCS itself floors at -30.00: no real file goes lower).
#: lgPgas is log10 of the gas pressure and is not floored: a value that does not fit is refused.
_PARTIAL_PRESSURE_SPEC = {"lgPgas": "6.3f", None: "6.2f"}
PARTIAL_PRESSURE_FLOOR = -99.99
PARTIAL_PRESSURE_HEADERS = (
    " k  lgPgas   H I    H-     H2     H2+    H2O    OH     CH     CO     CN     C2  ",
    " k    N2     O2     NO     NH     TiO   C2H2    HCN    C2H    HS     SiH    C3H",
    " k    C3     CS     SiC   SiC2    NS     SiN    SiO    SO     S2     SiS   Other",
)


def identify(head: bytes, name: str = "") -> bool:
    try:
        text = head.decode("latin-1")
    except Exception:
        return False
    lines = text.splitlines()
    return len(lines) > 2 and "Teff [K]" in lines[1] and "Flux [erg/cm2/s]" in lines[2]


def _leading(line: str, path: str, lineno: int, what: str) -> float:
    match = NUMBER.match(line.strip())
    if not match:
        raise FormatError(f"cannot read {what} from {line.strip()[:60]!r}", path, lineno)
    return float(match.group(0))


def read(path) -> list[Atmosphere]:
    return parse(read_text(path), str(path))


def parse(text: str, name: str) -> list[Atmosphere]:
    """The model in the text of a MARCS ``.mod`` file; ``name`` is the file errors name."""
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise FormatError("file is empty", name)
    if len(lines) < 12 or "Teff [K]" not in lines[1]:
        raise FormatError("not a MARCS model: line 2 has no 'Teff [K]'", name, min(2, len(lines)))

    def expect(i: int, text: str) -> str:
        if i >= len(lines):
            raise FormatError(f"file ends before the line with {text!r}: truncated", name, len(lines))
        if text not in lines[i]:
            raise FormatError(f"expected {text!r}, found {lines[i].strip()[:60]!r}", name, i + 1)
        return lines[i]

    teff = _leading(expect(1, "Teff [K]"), name, 2, "Teff")
    flux = _leading(expect(2, "Flux"), name, 3, "flux")
    gravity = _leading(expect(3, "Surface gravity"), name, 4, "surface gravity")
    vmic = _leading(expect(4, "Microturbulence"), name, 5, "microturbulence")
    mass = _leading(lines[5], name, 6, "mass")
    radius = _leading(lines[7], name, 8, "radius")
    luminosity = _leading(lines[8], name, 9, "luminosity")
    spherical = "Mass [Msun]" in lines[5] and mass > 0
    mh, am = _metallicity(lines[6], lines[0])
    if gravity <= 0:
        raise FormatError(f"surface gravity must be positive, found {gravity:g}", name, 4)
    expect(11, "Logarithmic chemical number abundances")
    i = 12
    abundances: list[float] = []
    while i < len(lines) and "Number of depth points" not in lines[i]:
        abundances += parse_numbers(lines[i], name, i + 1)
        i += 1
    if i >= len(lines):
        raise FormatError("no 'Number of depth points' line: truncated", name, len(lines))
    ndepth = int(_leading(lines[i], name, i + 1, "the number of depth points"))
    if ndepth < 2:
        raise FormatError(f"bad number of depth points {ndepth}", name, i + 1)
    # Each depth takes a line in each structure block: a count beyond the lines left (a corrupt
    # 99999999999) is refused before any table is sized by it; a merely truncated file is found
    # where it ends, below.
    if ndepth > len(lines) - i:
        raise FormatError(f"{ndepth} depth points announced, but only {len(lines) - i} lines follow: "
                          f"wrong depth count or truncated file", name, i + 1)
    expect(i + 1, "Model structure")
    expect(i + 2, "lgTauR")
    block1, i = _block(lines, i + 3, ndepth, len(BLOCK1) + 1, name)
    expect(i, "KappaRoss")
    block2, i = _block(lines, i + 1, ndepth, len(BLOCK2) + 1, name)
    layers = {key: block1[:, j + 1] for j, (_, key) in enumerate(BLOCK1)}
    for j, (_, key) in enumerate(BLOCK2):
        if key != "log_tau_ross":
            layers[key] = block2[:, j + 1]
    partial: dict[str, np.ndarray] = {}
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i < len(lines) and "partial pressures" in lines[i]:
        i += 1
        while i < len(lines) and lines[i].strip().startswith("k"):
            names = _partial_names(lines[i])
            table, i = _block(lines, i + 1, ndepth, len(names) + 1, name)
            for j, col in enumerate(names):
                partial[col] = table[:, j + 1]
    extra = {
        "marcs_name": lines[0].strip(),
        "marcs_teff_comment": lines[1].split("Teff [K]", 1)[1].rstrip(),
        "flux": flux,
        "luminosity": luminosity,
        "marcs_convection": lines[9].rstrip(),
        "marcs_xyz": lines[10].rstrip(),
    }
    return [
        Atmosphere(
            teff=teff, logg=round(math.log10(gravity), 4), mh=mh, am=am, vmic=vmic,
            geometry=SPHERICAL if spherical else PLANE_PARALLEL,
            mass=mass if spherical else None, radius=radius if spherical else None,
            abundances=np.array(abundances), layers=layers, partial_pressures=partial,
            extra=extra, source=name,
        )
    ]


def _partial_names(header: str) -> list[str]:
    for names, text in zip(PARTIAL_PRESSURE_BLOCKS, PARTIAL_PRESSURE_HEADERS):
        if header.split() == text.split():
            return list(names)
    # Unknown molecules: whitespace names ("H I" is the only two-word one in MARCS files).
    return header.replace("H I", "HI").split()[1:]


def _block(lines, start, ndepth, ncol, path):
    table = np.empty((ndepth, ncol))
    for k in range(ndepth):
        i = start + k
        if i >= len(lines):
            raise FormatError(f"file ends after {k} of {ndepth} depth points: truncated", path, len(lines))
        if not NUMBER.match(lines[i].strip()):
            raise FormatError(
                f"depth point {k + 1} of {ndepth} expected, found {lines[i].strip()[:50]!r}: wrong depth count?", path, i + 1
            )
        values = parse_numbers(lines[i], path, i + 1, ncol)
        if not math.isfinite(values[0]) or int(values[0]) != k + 1:
            raise FormatError(f"depth index {values[0]:g} where {k + 1} was expected: wrong depth count?", path, i + 1)
        table[k] = values
    return table, start + ndepth


def _metallicity(line: str, name_line: str) -> tuple[float, float]:
    match = re.match(r"\s*([-+]?\d+\.\d+)\s+([-+]?\d+\.\d+)\s+Metallicity", line)
    if match:
        return float(match.group(1)), float(match.group(2))
    # Some files (the Arcturus DR15 model) have a garbled line; the model name carries z and a.
    z = re.search(r"z([-+]\d+\.\d+)", name_line)
    a = re.search(r"_a([-+]\d+\.\d+)", name_line)
    return (float(z.group(1)) if z else 0.0), (float(a.group(1)) if a else 0.0)


def format_model(atm: Atmosphere, layers: dict | None = None) -> str:
    """The model as a MARCS file's text; ``layers``: ``atm``'s completed for MARCS, when the caller
    has them (:func:`formats.derive.complete`)."""
    layers = complete(atm, "marcs") if layers is None else layers
    extra = atm.extra
    n = len(layers["temperature"])
    spherical = atm.geometry == SPHERICAL
    gravity = 10.0 ** atm.logg
    flux = extra.get("flux", 5.670374419e-5 * atm.teff**4)
    name = extra.get("marcs_name") or _model_name(atm)
    lines = [name]
    lines.append(f"{atm.teff:6.0f}.      Teff [K]" + _after_teff(extra))
    lines.append(f"{flux:12.4E} Flux [erg/cm2/s]")
    lines.append(f"{gravity:12.4E} Surface gravity [cm/s2]")
    lines.append(f"{atm.vmic:5.1f}        Microturbulence parameter [km/s]")
    if spherical:
        if atm.mass is None or atm.radius is None:
            raise MissingQuantityError("a spherical MARCS model needs its mass and radius")
        lines.append(f"{atm.mass:5.1f}        Mass [Msun]")
    else:
        lines.append("  0.0        No mass for plane-parallel models")
    lines.append(f" {atm.mh:+5.2f} {atm.am:+5.2f} Metallicity [Fe/H] and [alpha/Fe]")
    if spherical:
        lines.append(f"{atm.radius:12.4E} Radius [cm] at Tau(Rosseland)=1.0")
        luminosity = extra.get("luminosity", _luminosity(flux, atm.radius))
        lines.append(f"{luminosity:12.5f} Luminosity [Lsun]")
    else:
        lines.append("  1.0000E+00 1 cm radius for plane-parallel models")
        luminosity = extra.get("luminosity", _luminosity(flux, 1.0))
        lines.append(f"{luminosity:12.4E} Luminosity [Lsun] FOR A RADIUS OF 1 cm!")
    lines.append(extra.get("marcs_convection", "  1.50 8.00 0.076 0.00 are the convection parameters: alpha, nu, y and beta"))
    abundances = atm.abundances if len(atm.abundances) else scaled_abundances(atm.mh, atm.am, atm.cm)
    abundances = np.where(abundances < -20, -99.0, abundances)[:92]
    if len(abundances) < 92:
        abundances = np.concatenate([abundances, np.full(92 - len(abundances), -99.0)])
    lines.append(extra.get("marcs_xyz") or xyz_line(abundances))
    lines.append("Logarithmic chemical number abundances, H always 12.00")
    for first in range(0, 92, 10):
        lines.append("".join(f"{v:7.2f}" for v in abundances[first:first + 10]))
    lines.append(f"{n:4d} Number of depth points")
    lines.append("Model structure")
    for header, fields in ((BLOCK1_HEADER, BLOCK1_FIELDS), (BLOCK2_HEADER, BLOCK2_FIELDS)):
        lines.append(header)
        names = [name for name, _ in fields]
        table = np.column_stack([layers[name] for name in names])
        specs = [spec for _, spec in fields]
        lines += [f"{k + 1:3d}" + fixed_fields(row, specs, names, k + 1) for k, row in enumerate(table)]
    lines.append("Assorted logarithmic partial pressures")
    for names, header, table in zip(PARTIAL_PRESSURE_BLOCKS, PARTIAL_PRESSURE_HEADERS, _partial_pressure_tables(atm, layers)):
        lines.append(header)
        specs = [_PARTIAL_PRESSURE_SPEC.get(name, _PARTIAL_PRESSURE_SPEC[None]) for name in names]
        lines += [f"{k + 1:3d}" + fixed_fields(row, specs, names, k + 1) for k, row in enumerate(table)]
    return "\n".join(lines) + "\n"


def _partial_pressure_tables(atm: Atmosphere, layers: dict) -> list[np.ndarray]:
    """The three partial-pressure blocks as (depth, column) tables, floored at PARTIAL_PRESSURE_FLOOR."""
    partial = dict(atm.partial_pressures)
    if not partial:
        # No molecular equilibrium in the source: only lgPgas is known; the other columns are
        # written as -99 (absent), which readers (PySME, Turbospectrum) do not use for synthesis.
        partial = {"lgPgas": np.log10(layers["gas_pressure"])}
    n = len(layers["temperature"])
    tables = []
    for names in PARTIAL_PRESSURE_BLOCKS:
        table = np.column_stack([np.asarray(partial.get(name, np.full(n, -99.0)), dtype=float) for name in names])
        floored = np.array([name != "lgPgas" for name in names])
        table[:, floored] = np.maximum(table[:, floored], PARTIAL_PRESSURE_FLOOR)  # NaN stays NaN: refused
        tables.append(table)
    return tables


def field_overflows(atm: Atmosphere, layers: dict | None = None) -> list[tuple[str, int | None, float, int]]:
    """Every quantity with a value that would not fit its field, as (quantity, depth (1-based), value,
    width): the first such value of each quantity (partial pressures after the floor)."""
    layers = complete(atm, "marcs") if layers is None else layers
    columns = [(name, layers[name], spec) for name, spec in BLOCK1_FIELDS + BLOCK2_FIELDS]
    for names, table in zip(PARTIAL_PRESSURE_BLOCKS, _partial_pressure_tables(atm, layers)):
        columns += [(name, table[:, j], _PARTIAL_PRESSURE_SPEC.get(name, _PARTIAL_PRESSURE_SPEC[None])) for j, name in enumerate(names)]
    return overflowing_fields(columns)


def mass_fractions(abundances) -> tuple[float, float, float]:
    """X, Y, Z (mass fractions of H, He and the rest) of log eps abundances (H = 12)."""
    eps = np.asarray(abundances, dtype=float)[: len(ATOMIC_MASSES)]
    mass = np.where(eps > -20, 10.0 ** (eps - 12.0), 0.0) * np.asarray(ATOMIC_MASSES[: len(eps)])
    x, y = mass[0] / mass.sum(), mass[1] / mass.sum()
    return x, y, 1.0 - x - y


def xyz_line(abundances) -> str:
    """Line 11 of a MARCS file from the abundances: 0.74447 0.25164 3.89E-03 at [M/H] = -0.5, as in the
    grid's files; over the 18 different lines of the SDSS grid X and Y agree to 2e-5 (the grid itself
    prints 0.66519 and 0.66521 at +1.0) and Z to 1 in its last digit."""
    x, y, z = mass_fractions(abundances)
    return f"  {x:7.5f} {y:7.5f} {z:8.2E} are X, Y and Z, 12C/13C=89 (=solar)"


def _after_teff(extra: dict) -> str:
    # Line 2 after "Teff [K]" is free text in MARCS files ("Last iteration; yyyymmdd=..."), which
    # every reader skips: innterpol's note goes here, line 1 keeps the model name.
    return extra.get("marcs_teff_comment", " innterpol")


def _luminosity(flux: float, radius: float) -> float:
    # L = 4 pi R^2 F, in solar luminosities (IAU 2015 nominal L_sun = 3.828e33 erg/s).
    return 4.0 * math.pi * radius**2 * flux / 3.828e33


def _model_name(atm: Atmosphere) -> str:
    """A MARCS model name (``p5750_g+4.5_m0.0_t01_x3_z+0.00_a+0.00_c+0.00_n+0.00_o+0.00_r+0.00_s+0.00``).

    Turbospectrum reads line 1 as the model code and takes a file whose code does not start with
    ``s`` or ``p`` for something else ("This model is probably not a MARCS model!").  The composition
    class is ``st`` where [alpha/M] follows MARCS' standard relation with [M/H] (and is not 0), else
    ``x3`` (scaled solar, the SDSS grid's) for [alpha/M] = 0, else ``ae``; O follows alpha
    (``o`` = [alpha/M]), as in :func:`formats.model.scaled_abundances`.
    """
    geometry = "s" if atm.geometry == SPHERICAL else "p"
    mass = atm.mass if atm.geometry == SPHERICAL and atm.mass else 0.0
    standard_alpha = min(0.4, max(0.0, -0.4 * atm.mh))
    if atm.am and abs(atm.am - standard_alpha) < 0.005:
        composition = "st"
    else:
        composition = "x3" if abs(atm.am) < 0.005 else "ae"
    return (
        f"{geometry}{atm.teff:04.0f}_g{atm.logg:+.1f}_m{mass:.1f}_t{atm.vmic:02.0f}_{composition}_z{atm.mh:+.2f}"
        f"_a{atm.am:+.2f}_c{atm.cm:+.2f}_n+0.00_o{atm.am:+.2f}_r+0.00_s+0.00"
    )


def write(atmospheres, path) -> None:
    write_text(path, format_model(the_one_model(atmospheres, path, "a MARCS file")))


FORMAT = TextFormat(
    name="marcs", description="MARCS .mod / .mod.gz",
    identify=identify, read=read, write=write, format_model=format_model, parse=parse, field_overflows=field_overflows,
    # .mod alone is ATLAS9's too: only .mod.gz chooses MARCS for an output file.
    suffix=".mod", implied_by=(".mod.gz",),
)
