"""Grids of model atmospheres as training arrays: file discovery, the common depth scale,
channel transforms, duplicates and rejects.

A *family* (atlas9, marcs, phoenix) fixes the parameter axes and which depth quantities
the network predicts; everything else a written file needs is derived (see
:func:`innterpol_cli.interpolate.complete_layers`).
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


class GridError(InnterpolError):
    """A set of grid files cannot be used for training or evaluation."""


@dataclass(frozen=True)
class Channel:
    """A predicted quantity: a layer name (or ``pp:NAME`` for a MARCS partial pressure) and the
    transform under which it is learned: ``log`` (log10), ``linear``, or ``asinh`` (asinh(x / scale),
    for quantities that are zero over part of the atmosphere)."""

    name: str
    transform: str = "log"
    scale: float = 1.0

    def forward(self, values: np.ndarray) -> np.ndarray:
        if self.transform == "log":
            return np.log10(values)
        if self.transform == "asinh":
            return np.arcsinh(values / self.scale)
        return values

    def inverse(self, values: np.ndarray) -> np.ndarray:
        if self.transform == "log":
            return 10.0 ** values
        if self.transform == "asinh":
            return np.sinh(values) * self.scale
        return values

    def to_dict(self) -> dict:
        return {"name": self.name, "transform": self.transform, "scale": self.scale}


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
        Channel("column_mass"),
        Channel("temperature"),
        Channel("gas_pressure"),
        Channel("electron_density"),
        Channel("radiative_acceleration"),
        # Convection columns are zero in radiative layers, hence asinh; scales are typical values.
        Channel("convective_flux_fraction", "asinh", 0.01),
        Channel("convective_velocity", "asinh", 1.0e4),
        Channel("sound_speed", "asinh", 1.0e5),
    ),
    "atlas9",
    tuple(-6.875 + 0.125 * np.arange(72)),
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
        Channel("column_mass"),
        Channel("log_tau_5000", "linear"),
        Channel("mean_molecular_weight", "linear"),
        Channel("convective_velocity", "asinh", 1.0e4),
        Channel("convective_flux_fraction", "asinh", 0.01),
        Channel("depth", "asinh", 1.0e6),
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


def read_grid_files(paths, progress=None) -> tuple[list[Atmosphere], str, list[str]]:
    """All models in the files; returns (models, format, report).  Mixed formats are an error."""
    files = expand_paths(paths)
    if not files:
        raise GridError("no model files found in " + ", ".join(map(str, paths)))
    report: list[str] = []
    models: list[Atmosphere] = []
    fmt_seen: dict[str, str] = {}
    for n, path in enumerate(files):
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
        if progress:
            progress(n + 1, len(files))
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

    Models off that scale, with missing or non-finite quantities, or with values their
    transform cannot take, are reported and skipped; duplicate nodes are reported and the
    first is kept.  Nothing is dropped silently.
    """
    report = list(report or [])
    warn = warn or (lambda message: None)
    log_tau = np.array(family.log_tau) if family.log_tau else _common_scale(models, report, family.depth_layer)
    params, values, sources, kept = [], [], [], []
    seen: dict[tuple, str] = {}
    digest = hashlib.sha256()
    for model in models:
        label = f"{Path(model.source).name} ({model.describe()})"
        node = tuple(round(float(getattr(model, axis)), 4) for axis in family.axes)
        tau = model.layers.get(family.depth_layer)
        if tau is None or len(tau) != len(log_tau) or np.max(np.abs(tau - log_tau)) > 1e-6:
            if family.name == "phoenix" and tau is not None and np.all(np.isfinite(tau)):
                pass  # resampled below
            else:
                report.append(f"off the common depth scale, skipped: {label}")
                continue
        columns = []
        problem = None
        for channel in family.channels:
            v = _channel_values(model, channel)
            if v is None:
                problem = f"lacks {channel.name}"
                break
            v = np.asarray(v, dtype=float)
            if len(tau) != len(log_tau) or np.max(np.abs(tau - log_tau)) > 1e-6:
                v = np.interp(log_tau, tau, v)  # PHOENIX only: others were skipped above
            if not np.all(np.isfinite(v)):
                problem = f"non-finite {channel.name}"
                break
            if channel.transform == "log" and np.any(v <= 0):
                problem = f"non-positive {channel.name}"
                break
            columns.append(v)
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
    )


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


def axis_steps(params: np.ndarray) -> np.ndarray:
    """The smallest spacing between distinct values on each axis (0 for a single value)."""
    steps = []
    for j in range(params.shape[1]):
        values = np.unique(params[:, j])
        steps.append(float(np.min(np.diff(values))) if len(values) > 1 else 0.0)
    return np.array(steps)
