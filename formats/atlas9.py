"""ATLAS9 / Kurucz model decks (``TEFF ... GRAVITY ...``, ``READ DECK6 N RHOX,T,P,XNE,...``, ``PRADK``).

Reads single-model files and the concatenated multi-model files of the
Castelli & Kurucz (2004) grid.  The depth count is taken from ``READ DECK6 N``;
numbers are found by pattern, not by whitespace, because columns can touch
(``1.776E+06-3.737E-04``).

Writes decks in the layout of the CK04 grid files, which Turbospectrum (depth
count in columns 11-13 of ``READ DECK6``, ``TEFF`` as the first line), Synspec
(fixed TEFF positions, ``READ DECK6`` on line 23) and PySME's KrzFile read: fixed-width
fields that are also blank-separated (:data:`DECK_FIELDS`; a value that does not fit is
refused), [M/H] in the TITLE to 0.01 dex, and a PRADK derived where the model has none
(:func:`pradk`).
"""

from __future__ import annotations

import math
import re

import numpy as np

from .derive import complete
from .errors import FormatError
from .fixedwidth import fixed_fields, overflowing_fields, parse_numbers
from .model import Atmosphere, log_tau_from_opacity
from .registry import TextFormat
from .textio import read_text
from .transaction import write_text

#: ATLAS9 deck columns and the Atmosphere layer each maps to.
COLUMNS = (
    ("RHOX", "column_mass"),
    ("T", "temperature"),
    ("P", "gas_pressure"),
    ("XNE", "electron_density"),
    ("ABROSS", "rosseland_opacity"),
    ("ACCRAD", "radiative_acceleration"),
    ("VTURB", "microturbulence"),
    ("FLXCNV", "convective_flux_fraction"),
    ("VCONV", "convective_velocity"),
    ("VELSND", "sound_speed"),
)
REQUIRED = ("column_mass", "temperature", "gas_pressure", "electron_density", "rosseland_opacity")

#: The deck's fixed-width fields: RHOX, T, then eight E10.3 columns, the FORMAT
#: (1PE15.8,0PF9.1,1P8E10.3) of ATLAS9 and of the CK04 files.  Every field is written as one
#: blank and a value of at most the spec's width, so the columns stay where Fortran's fixed-column
#: readers (Synspec, ATLAS) look for them AND a blank separates every pair of numbers, which
#: list-directed and whitespace readers (Turbospectrum's ``read(*,*)``, PySME's KrzFile) need.
#: A value that would take more (a negative number or a three-digit exponent in an E10.3 field,
#: T >= 1e6 K) is refused, not written: see :func:`field_overflows`.
DECK_FIELDS = ("14.8E", "8.1f") + ("9.3E",) * 8
#: ``TEFF %6.0f.  GRAVITY %7.5f``: the positions Synspec reads.
HEADER_FIELDS = ("6.0f", "7.5f")

#: PRADK (the radiation pressure at the top of the model, dyn/cm2) over sigma Teff^4 / c:
#: 0.7087 is the median over all 7,141 CK04 models; every one of them lies within -3.7 % / +2.2 %
#: (0.683 to 0.724).  The grey Eddington value would be 2/3.  See docs/formats.md.
PRADK_OVER_FLUX = 0.7087
_STEFAN_BOLTZMANN = 5.670374419e-5  # erg cm-2 s-1 K-4 (CODATA 2018)
_SPEED_OF_LIGHT = 2.99792458e10  # cm / s

#: The standard ATLAS9 optical-depth scale, that of every CK04 model: log tau_Ross = -6.875 + 0.125 k,
#: k = 0..71.  Read-only: the one definition that innterpol's depth-scale checks share.
STANDARD_LOG_TAU = -6.875 + 0.125 * np.arange(72)
STANDARD_LOG_TAU.flags.writeable = False
#: dex: a deck's integrated log tau within this of :data:`STANDARD_LOG_TAU` at every depth is on
#: that scale (the trapezoid integral's own error is ~0.02 dex).
SNAP_TOLERANCE = 0.06

# Kurucz (Grevesse & Sauval 1998) solar log10(N/Ntot) of O and Fe, used to recover [alpha/Fe].
_KURUCZ_SOLAR_O_MINUS_FE = -3.21 - (-4.54)
#: [M/H] to 0.01 dex, so that the reader gets back what was written (the CK04 files print 0.1 dex).
_DEFAULT_TITLE = "TITLE  [{mh:+.2f}{alpha}] VTURB={vturb:g}  L/H=1.25 NOVER NEW ODF"
_DEFAULT_OPACITY = " OPACITY IFOP 1 1 1 1 1 1 1 1 1 1 1 1 1 0 1 0 0 0 0 0"
_DEFAULT_CONVECTION = " CONVECTION ON   1.25 TURBULENCE OFF  0.00  0.00  0.00  0.00"


def identify(head: bytes, name: str = "") -> bool:
    """True when the text starts like a Kurucz deck (never raises)."""
    try:
        text = head.decode("latin-1")
    except Exception:
        return False
    first = text.lstrip().splitlines()[:1]
    return bool(first) and first[0].startswith("TEFF") and "GRAVITY" in first[0]


def read(path) -> list[Atmosphere]:
    """Every model in a Kurucz deck file (one or many)."""
    return parse(read_text(path), str(path))


def parse(text: str, name: str) -> list[Atmosphere]:
    """Every model in the text of a Kurucz deck file; ``name`` is the file errors name."""
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise FormatError("file is empty", name)
    starts = [i for i, line in enumerate(lines) if line.startswith("TEFF")]
    if not starts:
        raise FormatError("no 'TEFF ... GRAVITY' line: not an ATLAS9 deck", name, 1)
    models = []
    for n, start in enumerate(starts):
        stop = starts[n + 1] if n + 1 < len(starts) else len(lines)
        models.append(_read_one(lines, start, stop, name))
    return models


def _read_one(lines: list[str], start: int, stop: int, path: str) -> Atmosphere:
    head = lines[start]
    match = re.match(r"TEFF\s*([-+\d.Ee]+)\s+GRAVITY\s*([-+\d.Ee]+)", head)
    if not match:
        raise FormatError(f"cannot read Teff and gravity from {head.strip()!r}", path, start + 1)
    try:
        teff, logg = float(match.group(1)), float(match.group(2))
    except ValueError:
        raise FormatError(f"non-numeric Teff or gravity in {head.strip()!r}", path, start + 1) from None

    title = opacity = convection = None
    scale = None
    h_he: list[float] = []
    changes: dict[int, float] = {}
    deck = None
    for i in range(start + 1, stop):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("TITLE"):
            title = line.rstrip()
        elif stripped.startswith("OPACITY"):
            opacity = line.rstrip()
        elif stripped.startswith("CONVECTION"):
            convection = line.rstrip()
        elif stripped.startswith("ABUNDANCE"):
            rest = stripped
            if rest.startswith("ABUNDANCE SCALE"):
                tail = rest[len("ABUNDANCE SCALE"):]
                scale_text, _, rest = tail.partition("ABUNDANCE CHANGE")
                scale_values = parse_numbers(scale_text, path, i + 1, 1)
                scale = scale_values[0]
            else:
                _, _, rest = rest.partition("ABUNDANCE CHANGE")
            values = parse_numbers(rest, path, i + 1)
            if len(values) % 2:
                raise FormatError("ABUNDANCE CHANGE needs element/value pairs", path, i + 1)
            for z, v in zip(values[::2], values[1::2]):
                if z != int(z) or not 1 <= z <= 99:
                    raise FormatError(f"bad element number {z:g} in ABUNDANCE CHANGE", path, i + 1)
                if int(z) <= 2:
                    h_he.append(v)
                changes[int(z)] = v
        elif stripped.startswith("READ DECK6"):
            deck = i
            break
    if deck is None:
        raise FormatError("no 'READ DECK6' line after the header: truncated model", path, start + 1)
    count_match = re.match(r"\s*READ DECK6\s*(\d+)", lines[deck])
    if not count_match:
        raise FormatError("cannot read the depth count from 'READ DECK6 N'", path, deck + 1)
    ndepth = int(count_match.group(1))
    # The names follow the count, which may touch DECK6 (``READ DECK6100 RHOX,...``: Fortran I3 in
    # columns 11-13, as ATLAS writes 100 or more depths).
    names = lines[deck][count_match.end():]
    columns = [c.strip() for c in names.replace(" ", "").split(",") if c.strip()] or [c for c, _ in COLUMNS]
    known = dict(COLUMNS)
    for column in columns:
        if column not in known:
            raise FormatError(f"unknown deck column {column!r}", path, deck + 1)
    # Sized by the lines left, not by the count alone: a corrupt count (READ DECK6 99999999999)
    # must not ask for gigabytes before the loop below finds the deck too short.
    table = np.empty((max(0, min(ndepth, stop - deck - 1)), len(columns)))
    for k in range(ndepth):
        i = deck + 1 + k
        if i >= stop or lines[i].strip().startswith(("PRADK", "BEGIN", "TEFF")):
            raise FormatError(
                f"READ DECK6 promises {ndepth} depths but the deck has only {k}", path, min(i, len(lines)) + 1 if i < len(lines) else len(lines)
            )
        table[k] = parse_numbers(lines[i], path, i + 1, len(columns))
    extra: dict = {}
    pradk = None
    for i in range(deck + 1 + ndepth, stop):
        stripped = lines[i].strip()
        if not stripped:
            continue
        if stripped.startswith("PRADK"):
            pradk = parse_numbers(stripped[5:], path, i + 1, 1)[0]
        elif stripped.startswith("BEGIN"):
            extra["atlas9_begin"] = lines[i].rstrip()
        elif re.match(r"^[-+\d.]", stripped):
            raise FormatError(
                f"more depth lines than READ DECK6 promises ({ndepth})", path, i + 1
            )

    layers = {known[c]: table[:, j] for j, c in enumerate(columns)}
    if "column_mass" in layers and "rosseland_opacity" in layers and np.all(layers["column_mass"] > 0) and np.all(layers["rosseland_opacity"] > 0):
        layers["log_tau_ross"] = _log_tau(layers["column_mass"], layers["rosseland_opacity"])
    if pradk is not None:
        extra["pradk"] = pradk
    for key, value in (("atlas9_title", title), ("atlas9_opacity", opacity), ("atlas9_convection", convection)):
        if value is not None:
            extra[key] = value
    mh = _metallicity(title, scale)
    if scale is not None:
        extra["abundance_scale"] = scale
    if len(h_he) == 2:
        extra["kurucz_h_he"] = h_he
    kurucz = np.full(99, -20.0)
    for z, v in changes.items():
        if z >= 3:
            kurucz[z - 1] = v
    # [alpha/Fe] from O against Fe, to 0.1 dex (the -4.0a CK04 models print O/Fe 0.04 dex off).
    am = round((kurucz[7] - kurucz[25]) - _KURUCZ_SOLAR_O_MINUS_FE, 1) if changes.get(8) and changes.get(26) else 0.0
    vmic = float(np.median(layers["microturbulence"])) / 1e5 if "microturbulence" in layers else 2.0
    abundances = _kurucz_to_eps(kurucz, h_he, mh)
    extra["atlas9_columns"] = columns
    return Atmosphere(
        teff=teff, logg=logg, mh=mh, am=am + 0.0, vmic=vmic, abundances=abundances,
        layers=layers, extra=extra, source=path,
    )


def _log_tau(column_mass: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """log tau_Ross of a deck: tau is not written, so integrate ABROSS d(RHOX).

    When the integral lies within SNAP_TOLERANCE dex of the standard ATLAS9 scale at
    every depth (trapezoid error is ~0.02 dex), the model was computed on that scale
    and the exact standard values are returned.
    """
    log_tau = log_tau_from_opacity(column_mass, opacity)
    if on_standard_scale(log_tau):
        return STANDARD_LOG_TAU.copy()
    return log_tau


def on_standard_scale(log_tau):
    """Whether a log tau_Ross (D,), or each row of (N, D), lies within :data:`SNAP_TOLERANCE` of
    :data:`STANDARD_LOG_TAU` at every depth (never for another depth count)."""
    log_tau = np.asarray(log_tau, dtype=float)
    if log_tau.shape[-1:] != STANDARD_LOG_TAU.shape:
        return np.zeros(log_tau.shape[:-1], dtype=bool) if log_tau.ndim > 1 else np.False_
    return np.all(np.abs(log_tau - STANDARD_LOG_TAU) < SNAP_TOLERANCE, axis=-1)


def _metallicity(title: str | None, scale: float | None) -> float:
    # The TITLE carries [M/H]; the ABUNDANCE SCALE of some CK04 models is wrong (it echoes Teff).
    if title:
        match = re.search(r"\[\s*([-+]?\d+(?:\.\d*)?)", title)
        if match:
            return float(match.group(1))
    if scale and scale > 0:
        return round(math.log10(scale), 2)
    return 0.0


def _kurucz_to_eps(kurucz: np.ndarray, h_he: list[float], mh: float) -> np.ndarray:
    """Kurucz log10(N/Ntot) of the solar mix (scaled by 10**[M/H]) to log eps (H = 12)."""
    h_fraction, he_fraction = (h_he + [0.92040, 0.07834][len(h_he):])[:2]
    eps = np.empty(99)
    eps[0] = 12.0
    eps[1] = math.log10(he_fraction / h_fraction) + 12.0
    eps[2:] = kurucz[2:] + mh - math.log10(h_fraction) + 12.0
    eps[2:][kurucz[2:] <= -19.99] = -99.0
    return eps


def _eps_to_kurucz(eps: np.ndarray, mh: float, h_he: list[float] | None = None) -> tuple[list[float], np.ndarray]:
    """log eps (H = 12) to Kurucz H/He number fractions and solar-mix log10(N/Ntot) before scaling.

    With ``h_he`` given (as read from a deck) the conversion is the exact inverse of the reader's.
    """
    eps = np.concatenate([eps, np.full(max(0, 99 - len(eps)), -99.0)])[:99]
    present = eps > -20
    number = np.where(present, 10.0 ** (eps - 12.0), 0.0)
    if h_he:
        h_fraction, he_fraction = h_he
    else:
        h_fraction = 1.0 / number.sum()
        he_fraction = number[1] * h_fraction
    kurucz = np.where(present, np.log10(np.maximum(number, 1e-300) * h_fraction) - mh, -20.0)
    kurucz = np.maximum(kurucz, -20.0)
    return [h_fraction, he_fraction], kurucz


def format_model(atm: Atmosphere, layers: dict | None = None) -> str:
    """One deck as text, in the CK04 layout; ``layers``: ``atm``'s completed for ATLAS9, when the
    caller has them (:func:`formats.derive.complete`)."""
    layers = complete(atm, "atlas9") if layers is None else layers
    extra = atm.extra
    alpha = "a" if atm.am >= 0.2 else ""
    header = fixed_fields((atm.teff, atm.logg), HEADER_FIELDS, ("Teff", "log g"))
    lines = [f"TEFF{header[:7]}.  GRAVITY{header[7:]} LTE "]
    lines.append(extra.get("atlas9_title") or _DEFAULT_TITLE.format(mh=atm.mh, alpha=alpha, vturb=atm.vmic))
    lines.append(extra.get("atlas9_opacity") or _DEFAULT_OPACITY)
    lines.append(extra.get("atlas9_convection") or _DEFAULT_CONVECTION)
    h_he, kurucz = _eps_to_kurucz(
        atm.abundances if len(atm.abundances) else _solar_eps(atm), atm.mh, extra.get("kurucz_h_he")
    )
    scale = extra.get("abundance_scale", 10.0 ** atm.mh)
    lines.append(f"ABUNDANCE SCALE {scale:9.5f} ABUNDANCE CHANGE 1 {h_he[0]:7.5f} 2 {h_he[1]:7.5f}")
    for first in range(3, 100, 6):
        pairs = "".join(f" {z:2d} {kurucz[z - 1]:6.2f}" for z in range(first, min(first + 6, 100)))
        lines.append(" ABUNDANCE CHANGE" + pairs)
    n = len(layers["column_mass"])
    if n > 999:  # the count is an I3 field (columns 11-13)
        raise FormatError(f"{atm.describe()}: {n} depths do not fit the 3-digit depth count of READ DECK6 (at most 999)")
    lines.append(f"READ DECK6{n:3d} RHOX,T,P,XNE,ABROSS,ACCRAD,VTURB, FLXCNV,VCONV,VELSND")
    table = np.column_stack([layers[name] for _, name in COLUMNS])
    names = [name for _, name in COLUMNS]
    for k, row in enumerate(table):
        lines.append(fixed_fields(row, DECK_FIELDS, names, k + 1))
    lines.append(f"PRADK {pradk(atm):10.4E}")
    lines.append(extra.get("atlas9_begin") or "BEGIN                    ITERATION  15 COMPLETED")
    return "\n".join(lines) + "\n"


def pradk(atm: Atmosphere) -> float:
    """PRADK of a deck: the model's own (read from a deck), else the radiation pressure of its top
    layer (a MARCS source), else PRADK_OVER_FLUX * sigma Teff^4 / c, the CK04 grid's relation."""
    value = atm.extra.get("pradk")
    if value is not None:
        return float(value)
    if "radiation_pressure" in atm.layers:
        return float(atm.layers["radiation_pressure"][0])
    return PRADK_OVER_FLUX * _STEFAN_BOLTZMANN * atm.teff**4 / _SPEED_OF_LIGHT


def field_overflows(atm: Atmosphere, layers: dict | None = None) -> list[tuple[str, int | None, float, int]]:
    """Every quantity with a value that would not fit its field, as (quantity, depth (1-based, None
    for the header), value, width): the first such value of each quantity."""
    header = overflowing_fields([("Teff", [atm.teff], HEADER_FIELDS[0]), ("log g", [atm.logg], HEADER_FIELDS[1])])
    layers = complete(atm, "atlas9") if layers is None else layers
    deck = overflowing_fields([(name, layers[name], spec) for (_, name), spec in zip(COLUMNS, DECK_FIELDS)])
    return [(name, None, value, width) for name, _, value, width in header] + deck


def _solar_eps(atm: Atmosphere) -> np.ndarray:
    from .model import scaled_abundances

    return scaled_abundances(atm.mh, atm.am, atm.cm)


def write(atmospheres, path) -> None:
    """Write one deck, or many concatenated as in the CK04 grid files."""
    write_text(path, "".join(format_model(atm) for atm in atmospheres))


FORMAT = TextFormat(
    name="atlas9", description="ATLAS9 / Kurucz deck (single or concatenated)",
    identify=identify, read=read, write=write, format_model=format_model, parse=parse, field_overflows=field_overflows,
    suffix=".dat", implied_by=(".dat", ".krz", ".atm", ".kurucz"), multi_model=True,
)
