"""innterpol's FITS table of model atmospheres: one binary-table row per model.

Layout (the same for one model and for 10,000):

* HDU 0: an empty primary HDU carrying ``ORIGIN``, ``CREATOR`` and ``GRIDNAME``.
* HDU 1, ``EXTNAME = 'ATMOSPHERES'``, one row per model:

  ==============================  ========  ===============================================
  column                          type      content
  ==============================  ========  ===============================================
  TEFF LOGG MH AM CM VMIC         float64   parameters (K, log cgs, dex, dex, dex, km/s)
  GEOMETRY                        string    ``plane-parallel`` or ``spherical``
  MASS RADIUS                     float64   Msun, cm; NaN for plane-parallel models
  NDEPTH NABUND                   int32     used length of the depth and abundance vectors
  LOG_TAU_ROSS, TEMPERATURE, ...  float64[] every depth quantity of :data:`LAYER_UNITS`
                                            that any model has, upper-cased, with TUNIT
                                            (:data:`FITS_UNITS`, FITS-standard strings)
  <QUANTITY>_SIGMA                float64[] 1-sigma uncertainty of a depth quantity, same
                                            TUNIT (innterpol's predictions)
  PP_<name>                       float64[] MARCS partial pressures, log10 dyn/cm2 (TCOMM)
  ABUNDANCES                      float64[] log eps (H = 12), Z = 1, 2, ...
  META                            string    JSON of ``{"extra": ..., "source": ...}``
  ==============================  ========  ===============================================

Vectors are padded with NaN past NDEPTH (models of different depth counts share a
file), and a model that lacks a quantity others have gets an all-NaN vector, which
the reader drops.  Values are stored as float64, so the round trip is exact.

Partial-pressure names (``H I``, ``H-``, ``H2+`` ...) are not all valid FITS column
names; they are written as ``PP_<sanitised>`` and the header card ``PPNAMES`` keeps
the JSON list of ``[column, name]`` pairs.

The header of HDU 1 has ``GRIDNAME``, ``ORIGIN = 'innterpol'``, ``CREATOR``,
``DATE``, ``NMODELS``, ``LAYOUT`` (the layout version) and every item of the
``provenance`` passed to :func:`write` (long names as HIERARCH cards).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np

from .errors import FormatError
from .model import LAYER_UNITS, PLANE_PARALLEL, Atmosphere
from .textio import write_hdulist

NAME = "fits"
EXTENSIONS = (".fits", ".fit", ".fits.gz")
MULTI_MODEL = True

EXTNAME = "ATMOSPHERES"
LAYOUT_VERSION = 1
SCALARS = ("TEFF", "LOGG", "MH", "AM", "CM", "VMIC", "MASS", "RADIUS")
# TUNIT strings are FITS-standard (FITS 4.0, section 4.3), so that astropy's Table.read (and
# other FITS readers) parse them without a warning.  The standard has no dyne: pressures are
# given as erg cm-3, which is the same unit.  It has no logarithmic units either (astropy's FITS
# parser knows no log() or dex), so logarithmic columns carry no TUNIT and say what they are
# in their TCOMM card instead.
SCALAR_UNITS = {"TEFF": "K", "VMIC": "km s-1", "MASS": "solMass", "RADIUS": "cm"}
#: TUNIT of every layer quantity: LAYER_UNITS in FITS notation (a test checks they are equal).
FITS_UNITS = {
    "column_mass": "g cm-2", "temperature": "K", "gas_pressure": "erg cm-3", "electron_density": "cm-3",
    "electron_pressure": "erg cm-3", "rosseland_opacity": "cm2 g-1", "radiative_acceleration": "cm s-2",
    "microturbulence": "cm s-1", "convective_velocity": "cm s-1", "sound_speed": "cm s-1", "depth": "cm",
    "radiation_pressure": "erg cm-3", "turbulent_pressure": "erg cm-3", "density": "g cm-3",
}
#: TCOMM of the columns that have no unit.
COMMENTS = {
    "LOGG": "log10 of the surface gravity in cm s-2",
    "LOG_TAU_ROSS": "log10 of the Rosseland optical depth",
    "LOG_TAU_5000": "log10 of the optical depth at 5000 Angstrom",
    "TAU_STD": "PHOENIX standard optical depth (linear)",
}
SIGMA_SUFFIX = "_SIGMA"
SIGMA_COMMENT = "1-sigma uncertainty of {name}"
PARTIAL_PRESSURE_PREFIX = "PP_"
PARTIAL_PRESSURE_COMMENT = "log10 of the partial pressure in dyn cm-2 (= erg cm-3)"
#: Header keywords this module writes itself; everything else in the table header is provenance.
_OWN_KEYWORDS = {"EXTNAME", "GRIDNAME", "ORIGIN", "CREATOR", "DATE", "NMODELS", "LAYOUT", "PPNAMES"}


def identify(head: bytes, name: str = "") -> bool:
    """A FITS file with an ``ATMOSPHERES`` table (PHOENIX files have ``ATMOSPHERE``, singular)."""
    if not head.startswith(b"SIMPLE  ="):
        return False
    card = b"EXTNAME = 'ATMOSPHERES'"
    position = head.find(card)
    while position >= 0:
        if position % 80 == 0:  # a header card, not text inside the table data
            return True
        position = head.find(card, position + 1)
    return False


def _creator() -> str:
    """``innterpol VERSION`` from the installed distribution (formats imports nothing of the application)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"innterpol {version('innterpol')}"
    except PackageNotFoundError:
        return "innterpol unknown"


def _sanitise(name: str) -> str:
    text = name.replace("+", "p").replace("-", "m")
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def build_hdulist(atmospheres, provenance: dict | None = None):
    """The HDUList of ``atmospheres``, built column by column."""
    from astropy.io import fits

    models = list(atmospheres)
    n = len(models)
    if n == 0:
        raise FormatError("no models to write")
    ndepth = np.array([m.ndepth for m in models], dtype=np.int32)
    nabund = np.array([len(m.abundances) for m in models], dtype=np.int32)
    width = max(int(ndepth.max()), 1)
    abund_width = max(int(nabund.max()), 1)

    columns = []
    scalar_values = {
        "TEFF": [m.teff for m in models], "LOGG": [m.logg for m in models], "MH": [m.mh for m in models],
        "AM": [m.am for m in models], "CM": [m.cm for m in models], "VMIC": [m.vmic for m in models],
        "MASS": [math.nan if m.mass is None else m.mass for m in models],
        "RADIUS": [math.nan if m.radius is None else m.radius for m in models],
    }
    for key in SCALARS:
        columns.append(fits.Column(name=key, format="D", unit=SCALAR_UNITS.get(key), array=np.array(scalar_values[key], dtype=float)))
    names = [str(m.extra.get("name", "")) for m in models]
    if any(names):  # the CSV's name column: one per row, as a directory batch would name its files
        columns.append(fits.Column(name="NAME", format=f"{max(len(x.encode()) for x in names)}A",
                                   array=np.array([x.encode() for x in names])))
    geometry = np.array([m.geometry for m in models])
    columns.append(fits.Column(name="GEOMETRY", format=f"{max(len(g) for g in geometry)}A", array=geometry))
    columns.append(fits.Column(name="NDEPTH", format="J", array=ndepth))
    columns.append(fits.Column(name="NABUND", format="J", array=nabund))

    present = [name for name in LAYER_UNITS if any(name in m.layers for m in models)]
    for name in present:
        table = np.full((n, width), np.nan)
        for i, m in enumerate(models):
            values = m.layers.get(name)
            if values is not None:
                table[i, : len(values)] = values
        columns.append(fits.Column(name=name.upper(), format=f"{width}D", unit=FITS_UNITS.get(name), array=table))
    for name in [name for name in LAYER_UNITS if any(name in m.uncertainty for m in models)]:
        table = np.full((n, width), np.nan)
        for i, m in enumerate(models):
            values = m.uncertainty.get(name)
            if values is not None:
                table[i, : len(values)] = values
        columns.append(fits.Column(name=name.upper() + SIGMA_SUFFIX, format=f"{width}D", unit=FITS_UNITS.get(name),
                                   array=table))

    pp_names: list[str] = []
    for m in models:
        pp_names += [k for k in m.partial_pressures if k not in pp_names]
    pp_columns = []
    for name in pp_names:
        column = PARTIAL_PRESSURE_PREFIX + _sanitise(name)
        while column.upper() in (c.upper() for c, _ in pp_columns):
            column += "_"
        pp_columns.append((column, name))
        table = np.full((n, width), np.nan)
        for i, m in enumerate(models):
            values = m.partial_pressures.get(name)
            if values is not None:
                table[i, : len(values)] = values
        columns.append(fits.Column(name=column, format=f"{width}D", array=table))

    abundances = np.full((n, abund_width), np.nan)
    for i, m in enumerate(models):
        abundances[i, : len(m.abundances)] = m.abundances
    columns.append(fits.Column(name="ABUNDANCES", format=f"{abund_width}D", array=abundances))
    meta = [json.dumps({"extra": m.extra, "source": m.source}, default=_json_default) for m in models]
    meta_bytes = np.array([s.encode("utf-8") for s in meta])
    columns.append(fits.Column(name="META", format=f"{max(1, max(len(s) for s in meta_bytes))}A", array=meta_bytes))

    table_hdu = fits.BinTableHDU.from_columns(columns, name=EXTNAME)
    header = table_hdu.header
    for i, column in enumerate(columns, start=1):
        comment = COMMENTS.get(column.name) or (PARTIAL_PRESSURE_COMMENT if column.name.startswith(PARTIAL_PRESSURE_PREFIX) else None)
        if column.name.endswith(SIGMA_SUFFIX):
            quantity = column.name[: -len(SIGMA_SUFFIX)]
            comment = SIGMA_COMMENT.format(name=quantity) + (f" ({COMMENTS[quantity]})" if quantity in COMMENTS else "")
        if comment:
            header[f"TCOMM{i}"] = comment
    provenance = dict(provenance or {})
    gridname = str(provenance.pop("gridname", "") or _common_source(models))
    from datetime import datetime, timezone

    header["GRIDNAME"] = (gridname, "grid or collection the models come from")
    header["ORIGIN"] = ("innterpol", "organisation or software that wrote the file")
    header["CREATOR"] = (_creator(), "software version")
    header["DATE"] = (datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"), "UTC time of writing")
    header["NMODELS"] = (n, "number of models (rows)")
    header["LAYOUT"] = (LAYOUT_VERSION, "innterpol FITS table layout version")
    if pp_columns:
        header["PPNAMES"] = (json.dumps(pp_columns), "partial-pressure columns and MARCS names")
    for key, value in provenance.items():
        _set_card(header, key, value)
    primary = fits.PrimaryHDU()
    primary.header["ORIGIN"] = "innterpol"
    primary.header["CREATOR"] = _creator()
    primary.header["GRIDNAME"] = gridname
    return fits.HDUList([primary, table_hdu])


def _set_card(header, key: str, value) -> None:
    if not isinstance(value, (str, int, float, bool)) or value is None:
        value = json.dumps(value, default=_json_default)
    keyword = str(key).upper()
    if keyword in _OWN_KEYWORDS:
        keyword = "PROV_" + keyword
    if len(keyword) > 8 or not re.fullmatch(r"[A-Z0-9_-]+", keyword):
        keyword = "HIERARCH " + re.sub(r"[^A-Z0-9_.-]", "_", keyword)
    header[keyword] = value


def _common_source(models) -> str:
    import os

    sources = {os.path.basename(m.source) for m in models if m.source}
    return sources.pop() if len(sources) == 1 else ""


def write(atmospheres, path, provenance: dict | None = None) -> None:
    """Write ``atmospheres`` as one table; ``path`` "-" is stdout, a ``.gz`` name is gzipped."""
    import warnings

    from astropy.io.fits.verify import VerifyWarning

    hdulist = build_hdulist(atmospheres, provenance)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VerifyWarning)  # HIERARCH cards for long provenance keys
        write_hdulist(hdulist, path)


def _open(path):
    from astropy.io import fits

    name = str(path)
    try:
        return fits.open(name, memmap=False)
    except OSError as exc:
        raise FormatError(f"not a readable FITS file ({exc})", name) from None


def read_provenance(path) -> dict:
    """Grid name and provenance cards of the table header, as a dict (keys lower-cased)."""
    with _open(path) as hdul:
        header = _table(hdul, str(path)).header
        skip = re.compile(r"^(XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|TFIELDS|T[A-Z]+\d+)$")
        return {key.lower(): value for key, value in header.items() if not skip.match(key) and key not in ("EXTNAME",)}


def _table(hdul, name):
    if EXTNAME not in hdul:
        raise FormatError(f"no {EXTNAME!r} table: not an innterpol FITS file", name)
    return hdul[EXTNAME]


def read(path) -> list[Atmosphere]:
    """Every model (row) of the table."""
    name = str(path)
    with _open(path) as hdul:
        hdu = _table(hdul, name)
        data = hdu.data
        header = hdu.header
        if data is None or len(data) == 0:
            return []
        names = {c.upper() for c in data.columns.names}
        for required in ("TEFF", "LOGG", "NDEPTH", "ABUNDANCES", "TEMPERATURE"):
            if required not in names:
                raise FormatError(f"table lacks the {required} column", name)
        n = len(data)
        get = lambda key: np.asarray(data[key], dtype=float) if key in names else np.zeros(n)
        scalars = {key: get(key) for key in SCALARS}
        geometry = [g.strip() for g in data["GEOMETRY"]] if "GEOMETRY" in names else [PLANE_PARALLEL] * n
        ndepth = np.asarray(data["NDEPTH"], dtype=int)
        abundances = np.atleast_2d(np.asarray(data["ABUNDANCES"], dtype=float))
        nabund = np.asarray(data["NABUND"], dtype=int) if "NABUND" in names else np.full(n, abundances.shape[1])
        layers = {key: _vectors(data[key.upper()], n) for key in LAYER_UNITS if key.upper() in names}
        sigmas = {key: _vectors(data[key.upper() + SIGMA_SUFFIX], n) for key in LAYER_UNITS
                  if key.upper() + SIGMA_SUFFIX in names}
        pp_pairs = json.loads(header.get("PPNAMES", "[]"))
        known_pp = {column.upper() for column, _ in pp_pairs}
        for column in data.columns.names:
            if column.upper().startswith(PARTIAL_PRESSURE_PREFIX) and column.upper() not in known_pp:
                pp_pairs.append([column, column[len(PARTIAL_PRESSURE_PREFIX):]])
        partial = {pp: _vectors(data[column], n) for column, pp in pp_pairs}
        meta = list(data["META"]) if "META" in names else ["{}"] * n

    width = layers["temperature"].shape[1]
    models = []
    for i in range(n):
        k = int(ndepth[i])
        if not 2 <= k <= width:
            raise FormatError(f"row {i + 1}: NDEPTH = {k}, but the depth columns hold {width} values "
                              f"(NDEPTH must be 2 to {width})", name)
        row_layers = {key: table[i, :k].copy() for key, table in layers.items() if not np.all(np.isnan(table[i, :k]))}
        row_partial = {key: table[i, :k].copy() for key, table in partial.items() if not np.all(np.isnan(table[i, :k]))}
        row_sigma = {key: table[i, :k].copy() for key, table in sigmas.items() if not np.all(np.isnan(table[i, :k]))}
        try:
            info = json.loads(meta[i]) if meta[i] else {}
        except json.JSONDecodeError as exc:
            raise FormatError(f"row {i + 1}: META is not JSON ({exc})", name) from None
        mass, radius = scalars["MASS"][i], scalars["RADIUS"][i]
        try:
            models.append(
                Atmosphere(
                    teff=float(scalars["TEFF"][i]), logg=float(scalars["LOGG"][i]), mh=float(scalars["MH"][i]),
                    am=float(scalars["AM"][i]), cm=float(scalars["CM"][i]), vmic=float(scalars["VMIC"][i]),
                    geometry=geometry[i], mass=None if math.isnan(mass) else float(mass),
                    radius=None if math.isnan(radius) else float(radius),
                    abundances=abundances[i, : int(nabund[i])].copy(), layers=row_layers, partial_pressures=row_partial,
                    extra=info.get("extra", {}), source=info.get("source", ""), uncertainty=row_sigma,
                )
            )
        except ValueError as exc:
            raise FormatError(f"row {i + 1}: {exc}", name) from None
    return models


def _vectors(column, n: int) -> np.ndarray:
    values = np.asarray(column, dtype=float)
    return values.reshape(n, -1)
