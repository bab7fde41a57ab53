"""PHOENIX-ACES-AGSS-COND-2011 structure files (``*.PHOENIX-ACES-AGSS-COND-2011.ATMOS.fits``).

Layout (Husser et al. 2013, A&A 553, A6; phoenix.astro.physik.uni-goettingen.de):

* primary header: ``PHXTEFF`` [K], ``PHXLOGG`` [log cgs], ``PHXM_H``, ``PHXALPHA``,
  ``PHXXI_L`` (microturbulence for LTE lines) [km/s], ``PHXMASS``, ``PHXREFF`` [cm],
  ``PHXLUM`` and build information;
* ``ATMOSPHERE`` table, float32, 64 layers: ``tau``, ``temp`` [K], ``pgas`` [dyn/cm2],
  ``rho`` [g/cm3], ``pe`` [dyn/cm2];
* ``ABUNDANCES`` table: ``ID`` (100 Z), ``Element``, ``Abundance`` (log eps, H = 12).

Two things the header comments get wrong, checked on the three shared samples:

* ``PHXMASS`` is labelled ``[kg]`` and ``PHXLUM`` ``[W]``, but the values are CGS:
  1.8072E+33 for a 5500 K dwarf is 0.91 Msun in grams (in kg it would be 900 Msun).
  ``mass`` is PHXMASS / 1.98841e33 g.
* ``tau`` is PHOENIX's *standard* optical depth, the continuum at its reference
  wavelength (1.2 um in the NextGen/ACES set-up, Hauschildt et al. 1999, ApJ 512, 377),
  not Rosseland: T(tau = 2/3) lies 5-10 % above Teff in all three samples, where a
  Rosseland scale gives T(2/3) ~ Teff.  It is kept, linear, as the layer ``tau_std``
  (the first layer is tau = 0, which has no logarithm); no ``log_tau_ross`` is made
  up.  Conversions that need tau_Ross, RHOX or lgTau5 therefore fail, naming them.

The whole primary header is kept in ``extra["phoenix_header"]`` and the abundance
table's IDs and element names in ``extra``, so that writing back gives the same file.
"""

from __future__ import annotations

import math

import numpy as np

from .derive import complete
from .errors import FormatError
from .model import SPHERICAL, Atmosphere
from .registry import Format
from .transaction import the_one_model, write_hdulist

SOLAR_MASS = 1.98841e33  # g, IAU 2015 nominal GM_sun / G
#: ATMOSPHERE table columns and the Atmosphere layer each maps to.
COLUMNS = (
    ("tau", "tau_std"),
    ("temp", "temperature"),
    ("pgas", "gas_pressure"),
    ("rho", "density"),
    ("pe", "electron_pressure"),
)
#: Primary-header keywords that carry parameters (written from the Atmosphere).
_PARAMETER_CARDS = ("PHXTEFF", "PHXLOGG", "PHXM_H", "PHXALPHA", "PHXXI_L", "PHXMASS", "PHXREFF")
_DEFAULT_COMMENTS = {
    "PHXTEFF": "[K] effective temperature",
    "PHXLOGG": "[cm/s^2] log (surface gravity)",
    "PHXM_H": "[M/H] metallicity (rel. sol. - Asplund &a 2009)",
    "PHXALPHA": "[a/M] alpha element enhancement",
    "PHXXI_L": "[km/s] microturbulence velocity for LTE lines",
    "PHXMASS": "[g] Stellar mass",
    "PHXREFF": "[cm] Effective stellar radius",
}
_SYMBOLS = [
    "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl",
    "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As",
    "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In",
    "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb",
    "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl",
    "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U",
]


def identify(head: bytes, name: str = "") -> bool:
    """A FITS file whose primary header has PHXTEFF."""
    if not head.startswith(b"SIMPLE  ="):
        return False
    for start in range(0, len(head) - 79, 80):
        keyword = head[start:start + 8]
        if keyword == b"PHXTEFF ":
            return True
        if keyword == b"END     ":
            return False
    return False


def read(path) -> list[Atmosphere]:
    from astropy.io import fits

    name = str(path)
    try:
        hdul = fits.open(name, memmap=False)
    except OSError as exc:
        raise FormatError(f"not a readable FITS file ({exc})", name) from None
    with hdul:
        header = hdul[0].header
        missing = [key for key in ("PHXTEFF", "PHXLOGG") if key not in header]
        if missing:
            raise FormatError(f"primary header lacks {', '.join(missing)}: not a PHOENIX structure file", name)
        if "ATMOSPHERE" not in hdul:
            raise FormatError("no ATMOSPHERE table", name)
        table = hdul["ATMOSPHERE"].data
        if table is None or len(table) < 2:
            raise FormatError("the ATMOSPHERE table has fewer than 2 layers", name)
        columns = {c.lower() for c in table.columns.names}
        lacking = [col for col, _ in COLUMNS if col not in columns]
        if lacking:
            raise FormatError(f"ATMOSPHERE table lacks column(s) {', '.join(lacking)}", name)
        layers = {key: np.asarray(table[col], dtype=float) for col, key in COLUMNS}
        for key, values in layers.items():
            if not np.all(np.isfinite(values)):
                row = int(np.argwhere(~np.isfinite(values))[0][0]) + 1
                raise FormatError(f"non-finite {key} in row {row} of the ATMOSPHERE table", name)
        abundances = np.zeros(0)
        extra: dict = {}
        if "ABUNDANCES" in hdul and hdul["ABUNDANCES"].data is not None:
            abund = hdul["ABUNDANCES"].data
            ids = [int(v) for v in abund["ID"]]
            values = np.asarray(abund["Abundance"], dtype=float)
            abundances = np.full(max(92, max(ids) // 100), -99.0)
            for ident, value in zip(ids, values):
                z = ident // 100
                if 1 <= z <= len(abundances):
                    abundances[z - 1] = value
            extra["phoenix_abundance_ids"] = ids
            extra["phoenix_abundance_elements"] = [str(e).strip() for e in abund["Element"]]
        extra["phoenix_header"] = [
            [card.keyword, card.value, card.comment]
            for card in header.cards
            if card.keyword not in ("SIMPLE", "BITPIX", "NAXIS", "EXTEND", "") and not card.keyword.startswith("NAXIS")
        ]
        mass = header.get("PHXMASS")
        radius = header.get("PHXREFF")
        return [
            Atmosphere(
                teff=float(header["PHXTEFF"]), logg=float(header["PHXLOGG"]),
                mh=float(header.get("PHXM_H", 0.0)), am=float(header.get("PHXALPHA", 0.0)),
                vmic=float(header.get("PHXXI_L", 2.0)), geometry=SPHERICAL,
                mass=float(mass) / SOLAR_MASS if mass is not None else None,
                radius=float(radius) if radius is not None else None,
                abundances=abundances, layers=layers, extra=extra, source=name,
            )
        ]


def build_hdulist(atm: Atmosphere, layers: dict | None = None):
    """The structure file of ``atm``, in memory; ``layers``: ``atm``'s completed for PHOENIX, when the
    caller has them (:func:`formats.derive.complete`)."""
    from astropy.io import fits

    layers = complete(atm, "phoenix") if layers is None else layers
    primary = fits.PrimaryHDU()
    header = primary.header
    stored = {key: (value, comment) for key, value, comment in atm.extra.get("phoenix_header", [])}
    wanted = {
        "PHXTEFF": atm.teff, "PHXLOGG": atm.logg, "PHXM_H": atm.mh, "PHXALPHA": atm.am, "PHXXI_L": atm.vmic,
        "PHXMASS": atm.mass * SOLAR_MASS if atm.mass is not None else None,
        "PHXREFF": atm.radius,
    }
    cards = list(atm.extra.get("phoenix_header", []))
    if not cards:
        cards = [["EXTNAME", "PRIMARY", ""]] + [[key, None, _DEFAULT_COMMENTS[key]] for key in _PARAMETER_CARDS]
    for key, value, comment in cards:
        if key in wanted:
            new = wanted[key]
            if new is None:
                continue
            old = stored.get(key, (None, None))[0]
            # Keep the stored value when it says the same: PHXMASS is not exact after a division by Msun.
            value = old if isinstance(old, (int, float)) and math.isclose(old, new, rel_tol=1e-12) else float(new)
        header.append((key, value, comment), end=True)
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name=col, format="E", array=np.asarray(layers[key], dtype=np.float32)) for col, key in COLUMNS],
        name="ATMOSPHERE",
    )
    if "phoenix_abundance_ids" in atm.extra:
        ids = atm.extra["phoenix_abundance_ids"]
        elements = atm.extra["phoenix_abundance_elements"]
        values = [atm.abundances[i // 100 - 1] if i // 100 <= len(atm.abundances) else -99.0 for i in ids]
    else:
        present = [z for z in range(1, min(len(atm.abundances), len(_SYMBOLS)) + 1) if atm.abundances[z - 1] > -20]
        ids = [100 * z for z in present]
        elements = [_SYMBOLS[z - 1] for z in present]
        values = [atm.abundances[z - 1] for z in present]
    abund = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="ID", format="I", array=np.asarray(ids, dtype=np.int16)),
            fits.Column(name="Element", format="2A", array=np.asarray(elements)),
            fits.Column(name="Abundance", format="E", array=np.asarray(values, dtype=np.float32)),
        ],
        name="ABUNDANCES",
    )
    for hdu in (table, abund):
        hdu.header.comments["EXTNAME"] = ""  # as in the PHOENIX files
    return fits.HDUList([primary, table, abund])


def write(atmospheres, path) -> None:
    write_hdulist(build_hdulist(the_one_model(atmospheres, path, "a PHOENIX structure file")), path)


FORMAT = Format(
    name="phoenix", description="PHOENIX-ACES .ATMOS.fits structure file",
    identify=identify, read=read, write=write,
    suffix=".ATMOS.fits", implied_by=(".fits", ".fit", ".fits.gz"), implied_only_with=".atmos.",
)
