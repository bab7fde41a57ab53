"""MOOG model atmospheres in MOOG's ``KURUCZ`` layout (``Inmodel.f``, MOOG Feb. 2017 / 2019).

Layout, line by line (what MOOG reads, and how)::

    KURUCZ                                    a10: the model type
    innterpol: Teff=5777 logg=4.44 ...        a80: a free title
    ntau=      72                             the depth count, list-directed from column 11
     1.41555000E-03   3758.5 3.93500E+01 6.29200E+09 4.56600E-04
    ...                                       per depth, list-directed: RHOX, T, P, XNE, ABROSS
        2.000E+05                             6d13.0: the microturbulence (cm/s; < 100 is km/s)
    NATOMS        9   -0.50                   from column 11: count and [M/H] (abundance scale)
          2.0  10.93      8.0   8.59 ...      count pairs "Z log eps" (absolute, H = 12)
    NMOL         19                           from column 11: count, then the molecule codes
         606.0     106.0 ...

innterpol writes RHOX (g/cm2), T (K), the gas pressure P (dyn/cm2), the electron number
density XNE (1/cm3) and the Rosseland opacity ABROSS (cm2/g): MOOG integrates ABROSS over RHOX
for its tau scale.  From a MARCS-family model the same columns come from the same quantities
(column mass, Pg, Ne = Pe / kT, kappa_Ross); MOOG's WEBMARCS layout would drop the model's own
RHOX and kappa_Ross and recompute opacities, so KURUCZ keeps the model's tau scale.

MOOG guesses units from the numbers, and the writer never lets it guess wrong:

* P is taken as log10 when P(bottom) / P(top) < 10, XNE as log10 when XNE(bottom) / XNE(top) < 20;
* an XNE below 1e7 at the bottom is taken for an electron pressure (and divided by kT);
* a microturbulence below 100 is taken as km/s;
* more than 100 depths stop MOOG.

A model that would trip one of these is refused (:func:`unit_traps`, the ``fields`` test of
``innterpol check``).  The reader applies the same rules, so it sees what MOOG sees.

Abundances: [M/H] is MOOG's abundance scale (every element from Li on, on MOOG's solar scale of
Asplund et al. 2009).  He, C and the alpha elements (O, Ne, Mg, Si, S, Ar, Ca, Ti) are listed at
the model's own log eps (its grid's solar mix with [alpha/M] and [C/M]: Grevesse & Sauval 1998 for
CK04, Grevesse et al. 2007 for MARCS) wherever that differs from MOOG's scaled solar value, so the
file carries the composition the model was computed with.  [alpha/M] and [C/M] are also in the
title, where the reader takes them from.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .atlas9 import COLUMNS as KURUCZ_COLUMNS
from .derive import complete
from .errors import FormatError
from .model import (
    ALPHA_ELEMENTS,
    Atmosphere,
    electron_density_from_pressure,
    log_tau_from_opacity,
)
from .registry import TextFormat
from .textio import read_text
from .transaction import the_one_model, write_text

#: The depth columns innterpol writes, in order, and the Atmosphere layer of each: the first five
#: of a Kurucz deck's (MOOG's KURUCZ layout is the deck's RHOX, T, P, XNE, ABROSS).
COLUMNS = KURUCZ_COLUMNS[:5]
#: Python format of each depth column: 9 significant digits for RHOX (its increments at the top are
#: 1e-3 of it), 7 for the others; every field starts with a blank (MOOG reads them list-directed).
DEPTH_FORMATS = (" {:15.8E}", " {:10.2f}", " {:14.7E}", " {:14.7E}", " {:14.7E}")
MAX_DEPTHS = 100

#: MOOG's solar log eps (Asplund, Grevesse, Sauval & Scott 2009, as in MOOG's ``Batom.f``) of the
#: elements innterpol lists, and the molecules MOOG's own examples list (with TiO, 822, which
#: MOOG's default list of 21 lacks).
MOOG_SOLAR = {2: 10.93, 6: 8.43, 8: 8.69, 10: 7.93, 12: 7.60, 14: 7.51, 16: 7.12, 18: 6.40, 20: 6.34, 22: 4.95}
MOLECULES = (606.0, 106.0, 607.0, 608.0, 107.0, 108.0, 112.0, 707.0, 708.0, 808.0,
             12.1, 60808.0, 10108.0, 101.0, 6.1, 7.1, 8.1, 822.0, 22.1)

#: MOOG's unit guesses (``Inmodel.f``): below these a column is taken for log10 or for Pe.
LOG_P_RATIO = 10.0
LOG_NE_RATIO = 20.0
PE_NE_BELOW = 1.0e7
KMS_BELOW = 100.0


def identify(head: bytes, name: str = "") -> bool:
    """True when the text starts with MOOG's ``KURUCZ`` model type and an ``ntau=`` line."""
    try:
        lines = head.decode("latin-1").splitlines()
    except Exception:
        return False
    return len(lines) >= 3 and lines[0][:10].strip() == "KURUCZ" and lines[2].lstrip().lower().startswith("ntau")


def read(path) -> list[Atmosphere]:
    return parse(read_text(path), str(path))


def _numbers(line: str, path: str, lineno: int, what: str) -> list[float]:
    try:
        return [float(v.replace("D", "E").replace("d", "e")) for v in line.replace(",", " ").split()]
    except ValueError:
        raise FormatError(f"non-numeric {what}: {line.strip()!r}", path, lineno) from None


def parse(text: str, name: str) -> list[Atmosphere]:
    """The model in the text of a MOOG KURUCZ-layout file, read as MOOG reads it."""
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise FormatError("file is empty", name)
    if lines[0][:10].strip() != "KURUCZ":
        raise FormatError(f"line 1 is {lines[0][:10].strip()!r}, not the model type KURUCZ", name, 1)
    if len(lines) < 3:
        raise FormatError("file ends before the ntau= line", name, len(lines))
    title = lines[1].strip()
    count = _numbers(lines[2][10:], name, 3, "depth count")
    if len(count) != 1 or count[0] != int(count[0]) or not 1 < count[0] <= MAX_DEPTHS:
        raise FormatError(f"bad depth count {lines[2].strip()!r} (MOOG takes 2 to {MAX_DEPTHS})", name, 3)
    n = int(count[0])
    if len(lines) < 3 + n + 1:
        raise FormatError(f"file ends after {len(lines) - 3} of {n} depths", name, len(lines))
    table = []
    for k in range(n):
        values = _numbers(lines[3 + k], name, 4 + k, "depth values")
        if len(values) < 5:
            raise FormatError(f"depth {k + 1} has {len(values)} values; RHOX, T, P, XNE, ABROSS needed", name, 4 + k)
        table.append(values[:5])
    table = np.array(table, dtype=float)
    if not np.all(np.isfinite(table)):
        raise FormatError("non-finite depth values", name, 4 + int(np.argmax(~np.all(np.isfinite(table), axis=1))))
    rhox, t, p, ne, kappa = table.T
    # MOOG's unit guesses, as it makes them
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if p[-1] / p[0] < LOG_P_RATIO:
            p = 10.0**p
        if ne[-1] / ne[0] < LOG_NE_RATIO:
            ne = 10.0**ne
        if ne[-1] < PE_NE_BELOW:
            ne = electron_density_from_pressure(ne, t)
    i = 3 + n
    vturb_line = lines[i] if i < len(lines) else ""
    vturb = _numbers(vturb_line[:13], name, i + 1, "microturbulence")
    if not vturb:
        raise FormatError("missing the microturbulence line after the depths", name, i + 1)
    vmic = vturb[0] if vturb[0] < KMS_BELOW else vturb[0] / 1e5
    i += 1
    mh, abundances = 0.0, {}
    if i < len(lines) and lines[i].upper().startswith("NATOMS"):
        head = _numbers(lines[i][10:], name, i + 1, "NATOMS line")
        if not head or head[0] != int(head[0]) or head[0] < 0:
            raise FormatError(f"bad NATOMS line {lines[i].strip()!r}", name, i + 1)
        natoms = int(head[0])
        mh = head[1] if len(head) > 1 else 0.0
        pairs, j = [], i + 1
        while len(pairs) < 2 * natoms:
            if j >= len(lines):
                raise FormatError(f"file ends before the {natoms} NATOMS abundances", name, j)
            pairs += _numbers(lines[j], name, j + 1, "abundances")
            j += 1
        abundances = {int(round(pairs[2 * a])): pairs[2 * a + 1] for a in range(natoms)}
    teff, logg = _parameters(title, name)
    am = _alpha(title, abundances, mh)
    eps = _eps(mh, am, abundances)
    layers = {
        "column_mass": rhox,
        "temperature": t,
        "gas_pressure": p,
        "electron_density": ne,
        "rosseland_opacity": kappa,
        "log_tau_ross": log_tau_from_opacity(rhox, kappa),
    }
    atm = Atmosphere(teff=teff, logg=logg, mh=mh, am=am, vmic=vmic, abundances=eps, layers=layers,
                     extra={"moog_title": title}, source=name)
    return [atm]


def _parameters(title: str, name: str) -> tuple[float, float]:
    """Teff and log g from the title (``Teff=5777 logg=4.44``, or ``5777/4.44`` as MOOG's own examples)."""
    teff = re.search(r"T\s*eff\s*=?\s*([\d.]+)", title, re.IGNORECASE)
    logg = re.search(r"log\s*g\s*=?\s*([-+\d.]+)", title, re.IGNORECASE)
    if teff and logg:
        return float(teff.group(1)), float(logg.group(1))
    slash = re.search(r"(\d{4,5}(?:\.\d*)?)\s*/\s*([-+]?\d+(?:\.\d*)?)", title)
    if slash:
        return float(slash.group(1)), float(slash.group(2))
    raise FormatError(f"cannot read Teff and log g from the title {title!r} (write 'Teff=5777 logg=4.44')", name, 2)


def _alpha(title: str, abundances: dict, mh: float) -> float:
    match = re.search(r"\[\s*a(?:lpha)?\s*/\s*(?:M|Fe)\s*\]\s*=?\s*([-+]?\d+(?:\.\d*)?)", title, re.IGNORECASE)
    return float(match.group(1)) if match else 0.0


def _eps(mh: float, am: float, listed: dict) -> np.ndarray:
    from .model import scaled_abundances

    eps = scaled_abundances(mh, am)
    for z, value in MOOG_SOLAR.items():  # what MOOG takes for an element the file does not list
        eps[z - 1] = value + (mh if z > 2 else 0.0)
    for z, value in listed.items():
        if 1 <= z <= len(eps):
            eps[z - 1] = value
    return eps


def unit_traps(atm: Atmosphere, layers: dict | None = None) -> list[tuple[str, int | None, float, str]]:
    """Where MOOG would misread ``atm``'s units: (quantity, depth (1-based) or None, value, why);
    ``layers``: ``atm``'s completed for MOOG (the five depth columns), when the caller has them."""
    layers = complete(atm, "moog") if layers is None else layers
    p, ne = layers["gas_pressure"], layers["electron_density"]
    traps = []
    n = len(p)
    if n > MAX_DEPTHS:
        traps.append(("depths", None, float(n), f"more than MOOG's {MAX_DEPTHS} depths"))
    if n and not p[-1] >= LOG_P_RATIO * p[0]:
        traps.append(("gas_pressure", n, float(p[-1] / p[0]), f"P(bottom) / P(top) below {LOG_P_RATIO:g}: MOOG would take P for log10"))
    if n and not ne[-1] >= LOG_NE_RATIO * ne[0]:
        traps.append(("electron_density", n, float(ne[-1] / ne[0]),
                      f"XNE(bottom) / XNE(top) below {LOG_NE_RATIO:g}: MOOG would take XNE for log10"))
    if n and not ne[-1] >= PE_NE_BELOW:
        traps.append(("electron_density", n, float(ne[-1]), f"XNE below {PE_NE_BELOW:g} at the bottom: MOOG would take it for Pe"))
    vturb = atm.vmic * 1e5
    if not vturb >= KMS_BELOW and vturb != 0.0:
        traps.append(("microturbulence", None, float(atm.vmic), f"below {KMS_BELOW:g} cm/s: MOOG would take it for km/s"))
    return traps


def field_overflows(atm: Atmosphere, layers: dict | None = None) -> list[tuple[str, int | None, float, int]]:
    """Values the KURUCZ layout cannot carry, as (quantity, depth, value, width): MOOG's unit traps
    (:func:`unit_traps`; width 0) and numbers too wide for their field."""
    layers = complete(atm, "moog") if layers is None else layers
    out = [(quantity, depth, value, 0) for quantity, depth, value, _ in unit_traps(atm, layers)]
    for (_, name), spec in zip(COLUMNS, DEPTH_FORMATS):
        width = len(spec.format(1.0))
        for k, value in enumerate(layers[name]):
            if len(spec.format(value)) > width or not math.isfinite(value):
                out.append((name, k + 1, float(value), width - 1))
                break
    return out


def title(atm: Atmosphere) -> str:
    """Line 2: a MOOG file's own title as read, else the parameters (what :func:`parse` reads back)
    and the provenance (innterpol's version and weights, or the source file), at most 80 characters."""
    if atm.extra.get("moog_title"):
        return str(atm.extra["moog_title"])[:80]
    text = f"Teff={atm.teff:.0f} logg={atm.logg:.2f} [M/H]={atm.mh:+.2f} [a/M]={atm.am:+.2f}"
    if atm.cm:
        text += f" [C/M]={atm.cm:+.2f}"
    note = atm.extra.get("innterpol")
    if note:
        note = re.sub(r" \(beyond one grid step\)| \(cell not fully populated\)", "", note)
        note = note.replace(" interpolated with ", " ").replace(" with ", " ").replace(".npz", "")
    elif atm.source:
        note = "from " + re.split(r"[\\/]", atm.source)[-1]
    return f"{text} {note or ''}".strip()[:80]


def _listed(atm: Atmosphere) -> dict[int, float]:
    """The NATOMS pairs: He, C and the alpha elements at the model's own log eps (its grid's solar
    mix, [alpha/M], [C/M]) wherever that differs from MOOG's solar value scaled by [M/H]; a model
    without abundances gets MOOG's solar value + [M/H] + [alpha/M] (or + [C/M])."""
    listed = {2: _helium(atm)}
    own = atm.abundances
    for z in (6,) + ALPHA_ELEMENTS:
        if len(own) >= z and own[z - 1] > -20:
            value = float(own[z - 1])
        else:
            value = MOOG_SOLAR[z] + atm.mh + (atm.cm if z == 6 else atm.am)
        if abs(value - MOOG_SOLAR[z] - atm.mh) >= 0.005:
            listed[z] = value
    return listed


def format_model(atm: Atmosphere, layers: dict | None = None) -> str:
    """The model as MOOG KURUCZ-layout text; ``layers``: ``atm``'s completed for MOOG, when the caller
    has them (:func:`formats.derive.complete`)."""
    layers = complete(atm, "moog") if layers is None else layers
    traps = unit_traps(atm, layers)
    if traps:
        quantity, depth, value, why = traps[0]
        where = f" at depth {depth}" if depth else ""
        raise FormatError(f"{atm.describe()}: {quantity} = {value:.4g}{where}: {why}; not written")
    n = len(layers["column_mass"])
    lines = ["KURUCZ", title(atm), f"ntau=     {n:3d}"]
    table = np.column_stack([layers[name] for _, name in COLUMNS])
    for row in table:
        lines.append("".join(spec.format(value) for spec, value in zip(DEPTH_FORMATS, row)))
    lines.append(f"{atm.vmic * 1e5:13.3E}")
    listed = _listed(atm)
    lines.append(f"NATOMS    {len(listed):5d} {atm.mh:7.2f}")
    pairs = [f"{z:9.1f} {eps:6.2f}" for z, eps in sorted(listed.items())]
    for start in range(0, len(pairs), 4):
        lines.append("".join(pairs[start: start + 4]))
    lines.append(f"NMOL      {len(MOLECULES):5d}")
    codes = [f"{code:10.1f}" for code in MOLECULES]
    for start in range(0, len(codes), 8):
        lines.append("".join(codes[start: start + 8]))
    return "\n".join(lines) + "\n"


def _helium(atm: Atmosphere) -> float:
    """log eps(He) of the model (the grid's He / H), else MOOG's solar value."""
    if len(atm.abundances) > 1 and atm.abundances[1] > -20:
        return float(atm.abundances[1])
    return MOOG_SOLAR[2]


def write(atmospheres, path) -> None:
    """Write one model (MOOG files hold one)."""
    write_text(path, format_model(the_one_model(atmospheres, path, "a MOOG model file", hint="")))


FORMAT = TextFormat(
    name="moog", description="MOOG model atmosphere, KURUCZ layout",
    identify=identify, read=read, write=write, format_model=format_model, parse=parse, field_overflows=field_overflows,
    suffix=".moog", implied_by=(".moog",),
)
