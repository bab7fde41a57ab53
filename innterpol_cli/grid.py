"""Grids of model atmospheres as training arrays: file discovery, families and their channels,
the common depth scale, duplicates and rejects.

A *family* (atlas9, marcs, phoenix) fixes the parameter axes and which depth quantities
the network predicts; everything else a written file needs is derived (see
:meth:`innterpol_cli.interpolate.Interpolator.predict_arrays` and ``formats.derived_quantities``).
"""

from __future__ import annotations

import glob
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from formats import Atmosphere, FormatError, InnterpolError, identify
from formats import read as read_models
from formats.atlas9 import SNAP_TOLERANCE, STANDARD_LOG_TAU

from .encoding import Channel


class GridError(InnterpolError):
    """A set of grid files cannot be used for training or evaluation."""


@dataclass(frozen=True)
class Family:
    name: str
    axes: tuple[str, ...]
    channels: tuple[Channel, ...]
    native_format: str
    #: The fixed depth scale, when the family has one; else taken from the files.
    log_tau: tuple[float, ...] | None = None
    #: The layer that carries the depth scale (PHOENIX files give tau on their own
    #: reference scale, "tau_std", not tau_Ross).
    depth_layer: str = "log_tau_ross"


ATLAS9 = Family(
    "atlas9",
    ("teff", "logg", "mh", "am"),
    (
        # RHOX as increments: strictly increasing whatever is predicted (ABROSS > 0).
        Channel("column_mass", "steps", base="log"),
        Channel("temperature"),
        Channel("gas_pressure"),
        Channel("electron_density"),
        Channel("radiative_acceleration"),
        # Zero in radiative layers (and VELSND in some layers of 799 CK04 models), hence asinh
        # and exact zeros where the grid has them; scales are typical values.
        Channel("convective_flux_fraction", "asinh", 0.01, zero_floor=True),
        Channel("convective_velocity", "asinh", 1.0e4, zero_floor=True),
        Channel("sound_speed", "asinh", 1.0e5, zero_floor=True),
    ),
    "atlas9",
    tuple(STANDARD_LOG_TAU),
)

MARCS_PARTIAL_PRESSURES = (
    "H I", "H-", "H2", "H2+", "H2O", "OH", "CH", "CO", "CN", "C2",
    "N2", "O2", "NO", "NH", "TiO", "C2H2", "HCN", "C2H", "HS", "SiH", "C3H",
    "C3", "CS", "SiC", "SiC2", "NS", "SiN", "SiO", "SO", "S2", "SiS", "Other",
)

MARCS = Family(
    "marcs",
    ("teff", "logg", "mh"),
    (
        Channel("temperature"),
        Channel("electron_pressure"),
        Channel("gas_pressure"),
        Channel("radiation_pressure"),
        Channel("rosseland_opacity"),
        Channel("density"),
        # Monotone by construction: increments of log RHOX, of lgTau5 and of asinh(depth / 1e6 cm).
        Channel("column_mass", "steps", base="log"),
        Channel("log_tau_5000", "steps", base="linear"),
        Channel("mean_molecular_weight", "linear"),
        Channel("convective_velocity", "asinh", 1.0e4, zero_floor=True),
        Channel("convective_flux_fraction", "asinh", 0.01, zero_floor=True),
        Channel("depth", "steps", 1.0e6, base="asinh"),
    )
    # Partial pressures are already log10 in the files.
    + tuple(Channel(f"pp:{name}", "linear") for name in MARCS_PARTIAL_PRESSURES),
    "marcs",
)

PHOENIX = Family(
    "phoenix",
    ("teff", "logg", "mh", "am"),
    (
        Channel("temperature"),
        Channel("gas_pressure"),
        Channel("density"),
        Channel("electron_pressure"),
    ),
    "phoenix",
    depth_layer="tau_std",
)

FAMILIES = {f.name: f for f in (ATLAS9, MARCS, PHOENIX)}


@dataclass
class GridData:
    """Every usable model of a grid as arrays."""

    family: Family
    params: np.ndarray  # (N, n_axes), in family.axes order
    values: np.ndarray  # (N, n_channels, n_depth), physical units
    log_tau: np.ndarray  # (n_depth,)
    sources: list[str]
    fixed: dict  # scalars shared by every model (vmic, geometry rule ...)
    report: list[str] = field(default_factory=list)
    data_hash: str = ""
    models: list[Atmosphere] | None = None
    scalars: dict[str, np.ndarray] = field(default_factory=dict)  # per-model numbers the files carry (PRADK)

    @property
    def transformed(self) -> np.ndarray:
        return np.stack([ch.forward(self.values[:, i]) for i, ch in enumerate(self.family.channels)], axis=1)


def expand_paths(paths) -> list[Path]:
    """Files from paths, directories (recursively) and glob patterns, sorted, without repeats."""
    found: list[Path] = []
    for item in paths:
        text = str(item)
        if any(ch in text for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
            if not matches:
                raise GridError(f"no files match {text!r}")
            found += [m for m in matches if m.is_file()]
        else:
            path = Path(text)
            if path.is_dir():
                found += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            elif path.is_file():
                found.append(path)
            else:
                raise GridError(f"{text}: no such file or directory")
    seen, unique = set(), []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def read_grid_files(paths) -> tuple[list[Atmosphere], str, list[str]]:
    """All models in the files; returns (models, format, report).  Mixed formats are an error."""
    files = expand_paths(paths)
    if not files:
        raise GridError("no model files found in " + ", ".join(map(str, paths)))
    report: list[str] = []
    models: list[Atmosphere] = []
    fmt_seen: dict[str, str] = {}
    for path in files:
        try:
            fmt = identify(path)
        except FormatError:
            report.append(f"skipped {path}: not a model atmosphere file")
            continue
        fmt_seen.setdefault(fmt, str(path))
        if len(fmt_seen) > 1:
            kinds = ", ".join(f"{k} ({v})" for k, v in fmt_seen.items())
            raise GridError(f"mixed grids: files of several formats: {kinds}")
        models += read_models(path, fmt)
    if not models:
        raise GridError("no models found in " + ", ".join(map(str, paths)))
    return models, next(iter(fmt_seen)), report


def family_for_format(fmt: str) -> Family:
    if fmt == "fits":
        raise GridError("train from native grid files (ATLAS9, MARCS or PHOENIX), not from a FITS table")
    return FAMILIES[fmt]


def _channel_values(model: Atmosphere, channel: Channel) -> np.ndarray | None:
    if channel.name.startswith("pp:"):
        return model.partial_pressures.get(channel.name[3:])
    return model.layers.get(channel.name)


def build_grid(models: list[Atmosphere], family: Family, report: list[str] | None = None, warn=None) -> GridData:
    """Arrays of the usable models on the family's common depth scale.

    Models off that scale are resampled onto it (see :func:`_model_depths`); models with
    missing or non-finite quantities, or with values their transform cannot take, are reported
    and skipped; duplicate nodes are reported and the first is kept.  Nothing is dropped silently.
    """
    report = list(report or [])
    warn = warn or (lambda message: None)
    log_tau = np.array(family.log_tau) if family.log_tau else _common_scale(models, report, family.depth_layer)
    params, values, sources, kept, pradk = [], [], [], [], []
    seen: dict[tuple, str] = {}
    digest = hashlib.sha256()
    for model in models:
        label = f"{Path(model.source).name} ({model.describe()})"
        node = tuple(round(float(getattr(model, axis)), 4) for axis in family.axes)
        tau, why = _model_depths(model, family, log_tau)
        if tau is None:
            report.append(f"{why}, skipped: {label}")
            continue
        if why:
            report.append(f"{why}: {label}")
        resample = len(tau) != len(log_tau) or np.max(np.abs(tau - log_tau)) > 1e-6
        columns = []
        problem = None
        for channel in family.channels:
            v = _channel_values(model, channel)
            if v is None:
                problem = f"lacks {channel.name}"
                break
            v = np.asarray(v, dtype=float)
            problem = channel.valid(v)
            if problem:
                break
            columns.append(v)
        if resample and not problem:
            on_scale = _resample(model, family, tau, log_tau)
            columns = [on_scale[channel.name] for channel in family.channels]
        if problem:
            message = f"{problem}, skipped: {label}"
            report.append(message)
            if "non-finite" in problem:
                warn(message)
            continue
        if node in seen:
            report.append(f"duplicate node {dict(zip(family.axes, node))}: kept {seen[node]}, dropped {model.source}")
            continue
        seen[node] = model.source
        params.append(node)
        if "pradk" in model.extra:
            rhox = columns[[c.name for c in family.channels].index("column_mass")]
            pradk.append(_shifted_pradk(model, tau, log_tau, rhox) if resample else model.extra["pradk"])
        values.append(np.array(columns))
        sources.append(model.source)
        kept.append(model)
        digest.update(np.asarray(node, dtype=np.float64).tobytes())
        digest.update(np.asarray(columns, dtype=np.float64).tobytes())
    if not params:
        raise GridError("no usable models: " + "; ".join(report[:3]))
    fixed = _fixed_scalars(kept, family)
    return GridData(
        family=family,
        params=np.array(params, dtype=float),
        values=np.array(values),
        log_tau=log_tau,
        sources=sources,
        fixed=fixed,
        report=report,
        data_hash=digest.hexdigest(),
        models=kept,
        scalars={"pradk": np.array(pradk, dtype=float)} if len(pradk) == len(params) and None not in pradk else {},
    )


#: Depth points at and below this log tau decide whether a model is on the fixed scale: above
#: it, integrating ABROSS over RHOX (ATLAS9 writes no tau) is inaccurate for cool models
#: (up to 1 dex at the top of 3500 K models that sit on the scale at depth).
_DEEP_LOG_TAU = -2.0


def _model_depths(model: Atmosphere, family: Family, log_tau: np.ndarray) -> tuple[np.ndarray | None, str]:
    """The model's depth scale to resample from (the common scale when it is on it), and a note.

    On a fixed scale (ATLAS9), a model is on it when its recovered log tau agrees within 0.06 dex
    in the deep layers (log tau >= -2), or when it has no recovered tau at all (a non-positive
    ABROSS entry) but the scale's depth count: the top's disagreement is the integral's error,
    not the model's.  A model whose depths are the scale shifted by a near-constant offset
    (hot CK04 models start 0.125-0.875 dex deeper) is resampled onto it.  Returns (None, why)
    for a model that cannot be placed.
    """
    tau = model.layers.get(family.depth_layer)
    if family.log_tau is None:
        if tau is None or not np.all(np.isfinite(tau)):
            return None, "no finite depth scale"
        return np.asarray(tau, dtype=float), ""
    n = len(log_tau)
    if tau is None:
        if model.ndepth == n:
            return log_tau, "no recovered tau (non-positive ABROSS entry): taken on the standard scale"
        return None, "no depth scale"
    tau = np.asarray(tau, dtype=float)
    if len(tau) == n:
        offset = tau - log_tau
        deep = log_tau >= _DEEP_LOG_TAU
        if np.max(np.abs(offset)) <= 1e-6:
            return log_tau, ""
        if np.max(np.abs(offset[deep])) < SNAP_TOLERANCE:
            return log_tau, f"on the standard scale in the deep layers, {np.max(np.abs(offset)):.2f} dex off at the top"
        if np.ptp(offset) < SNAP_TOLERANCE and np.all(np.diff(tau) > 0):
            return tau, f"depth scale shifted by {np.median(offset):+.3f} dex: resampled onto the standard scale"
    if np.all(np.isfinite(tau)) and np.all(np.diff(tau) > 0):
        return tau, "off the common depth scale: resampled onto it"
    return None, "depth scale not increasing"


#: Quantities proportional to RHOX above the top of a model (ideal gas at constant T, fixed
#: ionisation): how a shifted model's missing top layers are filled in.
SCALE_WITH_MASS = ("gas_pressure", "electron_density", "electron_pressure", "density")


def _resample(model: Atmosphere, family: Family, tau: np.ndarray, log_tau: np.ndarray) -> dict[str, np.ndarray]:
    """The family's channels of ``model`` on depths ``tau`` resampled onto ``log_tau``: linear in
    log10 (positive quantities) or in the values, within the model's range.

    Above the model's top (the shifted hot CK04 models start 0.125-0.875 dex deeper) the top
    layers are filled in hydrostatically: log RHOX continues linearly in log tau, P, Ne (and
    density) scale with RHOX, T, ACCRAD and the rest keep their top values.  Then
    (P + integral of ACCRAD dRHOX) / (g RHOX), ATLAS9's hydrostatic balance, keeps at every new
    layer the value it has at the model's own top, and below the top nothing changes.
    """
    out = {}
    for channel in family.channels:
        v = np.asarray(_channel_values(model, channel), dtype=float)
        if channel.error_kind == "relative":
            out[channel.name] = 10.0 ** np.interp(log_tau, tau, np.log10(v))
        else:
            out[channel.name] = np.interp(log_tau, tau, v)
    above = log_tau < tau[0]
    if above.any() and "column_mass" in out:
        rhox = np.asarray(model.layers["column_mass"], dtype=float)
        slope = (np.log10(rhox[1]) - np.log10(rhox[0])) / (tau[1] - tau[0])
        lift = slope * (log_tau[above] - tau[0])  # log10 RHOX_new - log10 RHOX_top (< 0)
        out["column_mass"][above] = rhox[0] * 10.0**lift
        for name in SCALE_WITH_MASS:
            if name in out:
                out[name][above] = float(model.layers[name][0]) * 10.0**lift
    return out


def _shifted_pradk(model: Atmosphere, tau: np.ndarray, log_tau: np.ndarray, rhox: np.ndarray) -> float | None:
    """PRADK of a model whose top layers were filled in: its own PRADK less the radiation
    pressure of the added layers (ACCRAD, constant there, times their column mass), so that
    P_rad at its old top is unchanged; None where that would not stay positive."""
    pradk = model.extra.get("pradk")
    if pradk is None or not (log_tau[0] < tau[0]):
        return pradk
    accrad = model.layers.get("radiative_acceleration")
    if accrad is None:
        return pradk
    top = float(model.layers["column_mass"][0])
    value = pradk - float(accrad[0]) * (top - float(rhox[0]))
    return value if value > 0 else None


def _common_scale(models: list[Atmosphere], report: list[str], layer: str) -> np.ndarray:
    scales = [m.layers[layer] for m in models if layer in m.layers]
    if not scales:
        raise GridError("the models carry no optical-depth scale")
    lengths = {len(s) for s in scales}
    if len(lengths) > 1:
        raise GridError(f"inconsistent depth scales: models have {sorted(lengths)} depth points")
    stack = np.array(scales)
    reference = np.median(stack, axis=0)
    spread = np.max(np.abs(stack - reference))
    if spread > 1e-6:
        report.append(f"depth scales differ by up to {spread:.3g} dex: resampled onto the median scale")
    return reference


def _fixed_scalars(models: list[Atmosphere], family: Family) -> dict:
    vmic = sorted({round(m.vmic, 3) for m in models})
    geometry: dict = {}
    spherical = [m for m in models if m.geometry == "spherical"]
    if spherical:
        geometry = {
            "spherical_max_logg": max(m.logg for m in spherical),
            "plane_parallel_min_logg": min((m.logg for m in models if m.geometry != "spherical"), default=math.inf),
            "mass": float(np.median([m.mass for m in spherical])),
        }
    vmic_by_geometry = {}
    for g in ("spherical", "plane-parallel"):
        vs = [m.vmic for m in models if m.geometry == g]
        if vs:
            vmic_by_geometry[g] = float(np.median(vs))
    return {"vmic": vmic, "vmic_by_geometry": vmic_by_geometry, **geometry}
