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
from .registry import Format

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


class _Column:
    """One table column: its FITS name, TFORM and TUNIT, and ``key``, its field in the row arrays
    (the same in every chunk of a table, whatever the column ends up being called)."""

    __slots__ = ("key", "name", "form", "unit", "dtype", "width")

    def __init__(self, key: str, name: str, form: str, unit: str | None = None):
        self.key, self.name, self.form, self.unit = key, name, form, unit
        count, kind = int(form[:-1] or 1), form[-1]
        self.width = count if kind == "D" and key not in SCALARS else None  # vectors: their length
        self.dtype = {"D": ">f8", "J": ">i4", "A": f"S{count}"}[kind]
        if self.width is not None:
            self.dtype = (">f8", (count,))


class _Layout:
    """The columns of a table, from the models it holds: every quantity any of them has, vectors as
    long as the longest, strings as wide as the widest.  Layouts of chunks merge into the table's."""

    def __init__(self):
        self.rows = 0
        self.depth = self.abundance = self.meta = 1
        self.geometry = 0
        self.name = -1  # the widest name in bytes; -1 while no model has one (no NAME column)
        self.layers: set[str] = set()
        self.sigmas: set[str] = set()
        self.partial: list[str] = []  # in order of first appearance
        self.sources: set[str] = set()  # at most two: only whether there is one matters

    @classmethod
    def of(cls, models, names: list[bytes], metas: list[bytes]) -> _Layout:
        import os

        layout = cls()
        layout.rows = len(models)
        layout.depth = max([1] + [m.ndepth for m in models])
        layout.abundance = max([1] + [len(m.abundances) for m in models])
        layout.meta = max([1] + [len(x) for x in metas])
        layout.geometry = max(len(m.geometry) for m in models)
        layout.name = max(len(x) for x in names) if any(names) else -1
        for m in models:
            layout.layers.update(m.layers)
            layout.sigmas.update(m.uncertainty)
            layout.partial += [k for k in m.partial_pressures if k not in layout.partial]
            if m.source and len(layout.sources) < 2:
                layout.sources.add(os.path.basename(m.source))
        return layout

    def merge(self, other: _Layout) -> None:
        self.rows += other.rows
        self.depth, self.abundance = max(self.depth, other.depth), max(self.abundance, other.abundance)
        self.meta, self.geometry = max(self.meta, other.meta), max(self.geometry, other.geometry)
        self.name = max(self.name, other.name)
        self.layers |= other.layers
        self.sigmas |= other.sigmas
        self.partial += [k for k in other.partial if k not in self.partial]
        self.sources = set(sorted(self.sources | other.sources)[:2])

    def gridname(self) -> str:
        return next(iter(self.sources)) if len(self.sources) == 1 else ""

    def partial_columns(self) -> list[tuple[str, str]]:
        """(column, MARCS name) of every partial pressure: ``PP_<sanitised>``, made unique."""
        pairs: list[tuple[str, str]] = []
        for name in self.partial:
            column = PARTIAL_PRESSURE_PREFIX + _sanitise(name)
            while column.upper() in (c.upper() for c, _ in pairs):
                column += "_"
            pairs.append((column, name))
        return pairs

    def columns(self) -> list[_Column]:
        width = self.depth
        columns = [_Column(key, key, "D", SCALAR_UNITS.get(key)) for key in SCALARS]
        if self.name >= 0:  # the CSV's name column: one per row, as a directory batch would name its files
            columns.append(_Column("NAME", "NAME", f"{self.name}A"))
        columns.append(_Column("GEOMETRY", "GEOMETRY", f"{self.geometry}A"))
        columns += [_Column("NDEPTH", "NDEPTH", "J"), _Column("NABUND", "NABUND", "J")]
        columns += [_Column("layer:" + name, name.upper(), f"{width}D", FITS_UNITS.get(name))
                    for name in LAYER_UNITS if name in self.layers]
        columns += [_Column("sigma:" + name, name.upper() + SIGMA_SUFFIX, f"{width}D", FITS_UNITS.get(name))
                    for name in LAYER_UNITS if name in self.sigmas]
        columns += [_Column("pp:" + name, column, f"{width}D") for column, name in self.partial_columns()]
        columns.append(_Column("ABUNDANCES", "ABUNDANCES", f"{self.abundance}D"))
        columns.append(_Column("META", "META", f"{self.meta}A"))
        return columns

    def dtype(self) -> np.dtype:
        return np.dtype([(c.key, c.dtype) for c in self.columns()])


def _encode(models) -> tuple[_Layout, np.ndarray]:
    """The rows of ``models`` as FITS stores them (big-endian, NaN-padded vectors), in their own
    layout, which is returned with them."""
    models = list(models)
    if not models:
        raise FormatError("no models to write")
    names = [str(m.extra.get("name", "")).encode() for m in models]
    metas = [json.dumps({"extra": m.extra, "source": m.source}, default=_json_default).encode("utf-8") for m in models]
    layout = _Layout.of(models, names, metas)
    rows = np.zeros(len(models), layout.dtype())
    scalars = {
        "TEFF": [m.teff for m in models], "LOGG": [m.logg for m in models], "MH": [m.mh for m in models],
        "AM": [m.am for m in models], "CM": [m.cm for m in models], "VMIC": [m.vmic for m in models],
        "MASS": [math.nan if m.mass is None else m.mass for m in models],
        "RADIUS": [math.nan if m.radius is None else m.radius for m in models],
    }
    for key, values in scalars.items():
        rows[key] = np.array(values, dtype=float)
    if layout.name >= 0:
        rows["NAME"] = names
    rows["GEOMETRY"] = [m.geometry.encode("ascii") for m in models]
    rows["NDEPTH"] = [m.ndepth for m in models]
    rows["NABUND"] = [len(m.abundances) for m in models]
    for column in layout.columns():
        kind, _, name = column.key.partition(":")
        source = {"layer": "layers", "sigma": "uncertainty", "pp": "partial_pressures"}.get(kind)
        if source is not None:
            rows[column.key] = _padded([getattr(m, source).get(name) for m in models], column.width)
    rows["ABUNDANCES"] = _padded([m.abundances for m in models], layout.abundance)
    rows["META"] = metas
    return layout, rows


def _padded(vectors, width: int) -> np.ndarray:
    """The vectors as rows of a (N, width) table, padded with NaN; None is a row of NaN."""
    table = np.full((len(vectors), width), np.nan)
    for i, values in enumerate(vectors):
        if values is not None:
            table[i, : len(values)] = values
    return table


def _relayout(rows: np.ndarray, layout: _Layout) -> np.ndarray:
    """``rows`` of a chunk, in the table's ``layout`` (wider vectors and strings, columns that no
    model of the chunk had), as :func:`_encode` would have given them for the whole table."""
    out = np.zeros(len(rows), layout.dtype())
    for column in layout.columns():
        if column.key in rows.dtype.names:
            values = rows[column.key]
            if column.width is not None:
                out[column.key][:, : values.shape[1]] = values
                out[column.key][:, values.shape[1]:] = np.nan
            else:
                out[column.key] = values
        elif column.width is not None:
            out[column.key] = np.nan
    return out


def _describe(header, columns, layout: _Layout, provenance: dict | None):
    """The table header's comments, innterpol's cards and the provenance; returns the primary HDU."""
    from astropy.io import fits

    for i, column in enumerate(columns, start=1):
        comment = COMMENTS.get(column.name) or (PARTIAL_PRESSURE_COMMENT if column.name.startswith(PARTIAL_PRESSURE_PREFIX) else None)
        if column.name.endswith(SIGMA_SUFFIX):
            quantity = column.name[: -len(SIGMA_SUFFIX)]
            comment = SIGMA_COMMENT.format(name=quantity) + (f" ({COMMENTS[quantity]})" if quantity in COMMENTS else "")
        if comment:
            header[f"TCOMM{i}"] = comment
    provenance = dict(provenance or {})
    gridname = str(provenance.pop("gridname", "") or layout.gridname())
    pp_columns = layout.partial_columns()
    header["GRIDNAME"] = (gridname, "grid or collection the models come from")
    header["ORIGIN"] = ("innterpol", "organisation or software that wrote the file")
    header["CREATOR"] = (_creator(), "software version")
    header["DATE"] = (_date(), "UTC time of writing")
    header["NMODELS"] = (layout.rows, "number of models (rows)")
    header["LAYOUT"] = (LAYOUT_VERSION, "innterpol FITS table layout version")
    if pp_columns:
        header["PPNAMES"] = (json.dumps(pp_columns), "partial-pressure columns and MARCS names")
    for key, value in provenance.items():
        _set_card(header, key, value)
    primary = fits.PrimaryHDU()
    primary.header["ORIGIN"] = "innterpol"
    primary.header["CREATOR"] = _creator()
    primary.header["GRIDNAME"] = gridname
    return primary


def _date() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def build_hdulist(atmospheres, provenance: dict | None = None):
    """The HDUList of ``atmospheres``, in memory (:func:`write` streams the same bytes)."""
    from astropy.io import fits

    layout, rows = _encode(atmospheres)
    columns = [fits.Column(name=c.name, format=c.form, unit=c.unit, array=rows[c.key]) for c in layout.columns()]
    table_hdu = fits.BinTableHDU.from_columns(columns, name=EXTNAME)
    primary = _describe(table_hdu.header, columns, layout, provenance)
    return fits.HDUList([primary, table_hdu])


def _headers(layout: _Layout, provenance: dict | None) -> bytes:
    """The primary HDU and the table's header of a table of ``layout``, as astropy writes them."""
    import io

    from astropy.io import fits

    columns = [fits.Column(name=c.name, format=c.form, unit=c.unit) for c in layout.columns()]
    table_hdu = fits.BinTableHDU.from_columns(columns, name=EXTNAME, nrows=0)
    primary = _describe(table_hdu.header, columns, layout, provenance)
    buffer = io.BytesIO()
    fits.HDUList([primary, table_hdu]).writeto(buffer)
    empty = table_hdu.header.tostring().encode("ascii")
    data = buffer.getvalue()
    if not data.endswith(empty):  # astropy wrote something other than the two headers
        raise FormatError("cannot lay out the FITS headers")
    table_hdu.header["NAXIS2"] = layout.rows  # the rows follow the header, chunk by chunk
    return data[: -len(empty)] + table_hdu.header.tostring().encode("ascii")


#: FITS pads each HDU to a multiple of this many bytes (FITS 4.0, section 3.1).
BLOCK = 2880


class TableWriter:
    """One table written from chunks of models in bounded memory.  :meth:`add` stores each chunk's
    rows, in the chunk's own layout, in ``spool`` (a binary file); :meth:`finish` writes the table
    (the layout of all the chunks) into ``out``: the same bytes as :func:`build_hdulist` of every
    model at once, written by astropy."""

    def __init__(self, spool):
        self.spool = spool
        self.layout = _Layout()
        self.chunks: list[tuple[np.dtype, int]] = []

    def add(self, models) -> None:
        layout, rows = _encode(models)
        self.spool.write(rows.tobytes())
        self.chunks.append((rows.dtype, len(rows)))
        self.layout.merge(layout)

    def finish(self, out, provenance: dict | None = None) -> None:
        if not self.layout.rows:
            raise FormatError("no models to write")
        out.write(_headers(self.layout, provenance))
        final = self.layout.dtype()
        self.spool.flush()
        self.spool.seek(0)
        size = 0
        for dtype, count in self.chunks:
            rows = np.frombuffer(self.spool.read(dtype.itemsize * count), dtype=dtype, count=count)
            data = rows.tobytes() if dtype == final else _relayout(rows, self.layout).tobytes()
            out.write(data)
            size += len(data)
        out.write(bytes(-size % BLOCK))


def write_chunks(chunks, path, provenance: dict | None = None) -> None:
    """Write one table of every model in ``chunks`` (an iterable of lists of models) to ``path``
    ("-" is stdout, a ``.gz`` name is gzipped), holding one chunk in memory at a time.  Nothing
    reaches ``path`` until the last chunk is in: an error or a kill on the way leaves it as it was
    (see :func:`formats.transaction.atomic_output`)."""
    import contextlib
    import warnings

    from astropy.io.fits.verify import VerifyWarning

    from .transaction import Gzipping, atomic_output, spool_file

    with atomic_output(path, "wb") as handle, spool_file(path) as spool:
        writer = TableWriter(spool)
        for models in chunks:
            writer.add(models)
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(Gzipping(handle)) if str(path).endswith(".gz") else handle
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", VerifyWarning)  # HIERARCH cards for long provenance keys
                writer.finish(out, provenance)


def _set_card(header, key: str, value) -> None:
    if not isinstance(value, (str, int, float, bool)) or value is None:
        value = json.dumps(value, default=_json_default)
    keyword = str(key).upper()
    if keyword in _OWN_KEYWORDS:
        keyword = "PROV_" + keyword
    if len(keyword) > 8 or not re.fullmatch(r"[A-Z0-9_-]+", keyword):
        keyword = "HIERARCH " + re.sub(r"[^A-Z0-9_.-]", "_", keyword)
    header[keyword] = value


def write(atmospheres, path, provenance: dict | None = None) -> None:
    """Write ``atmospheres`` as one table; ``path`` "-" is stdout, a ``.gz`` name is gzipped."""
    write_chunks([list(atmospheres)], path, provenance)


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


FORMAT = Format(
    name="fits", description="innterpol FITS table (one row per model)",
    identify=identify, read=read, write=write, write_chunks=write_chunks,
    suffix=".fits", implied_by=(".fits", ".fit", ".fits.gz"), multi_model=True,
)
