"""The weights file: one ``.npz`` per grid, arrays only, plus a JSON document stored as bytes.

Loading uses ``numpy.load(allow_pickle=False)``: it never executes code.  Contents:

- ``tensor/<name>``: the network tensors needed for inference (float32);
- ``norm/mean`` (C, D), ``norm/scale`` (C,): the per-channel normalisation
  (:class:`~innterpol_cli.encoding.ProfileScaling`);
- ``grid/nodes`` (N, P): every grid node the network was trained from (for coverage);
- ``residual/nodes`` (N, P), ``residual/channels``, ``residual/alpha`` (P, F) and, where
  the stencil along an axis is linear only, ``residual/alpha_linear`` (P, F), ``residual/q`` (int16, N x F) with its ``s`` and ``k``: the
  network's residuals at every grid node, asinh-companded, and the blend weights of the hybrid;
  ``zero/channels`` and ``zero/mask`` (packed bits): where the zero-floor channels are exactly
  zero at each node (see :mod:`innterpol_cli.hybrid`); ``scalar/pradk``: log10 PRADK of each
  ATLAS9 node, interpolated like the profiles;
- ``sigma/*``: the uncertainty calibration, whose layout :mod:`innterpol_cli.uncertainty`
  declares and checks (:func:`~innterpol_cli.uncertainty.layout`);
- ``meta.json``: architecture config, channels (name, transform, unit), the depth scale,
  parameter names and normalisation, fixed scalars, provenance (data hash, split seed,
  code version, training command, test metrics).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from formats.errors import InnterpolError
from formats.model import PARAMETER_NAMES
from formats.transaction import atomic_output

from . import engine, uncertainty
from .encoding import ProfileScaling

FORMAT_VERSION = 2
#: Arrays of the hybrid (see :mod:`innterpol_cli.hybrid`).
HYBRID_PREFIXES = ("residual/", "zero/", "scalar/", uncertainty.PREFIX, "structure/")


class WeightsError(InnterpolError):
    """A weights file is missing, unreadable or inconsistent."""


@dataclass
class Weights:
    meta: dict
    tensors: dict[str, np.ndarray]
    mean: np.ndarray
    scale: np.ndarray
    nodes: np.ndarray
    path: str = ""
    #: Optional arrays of the hybrid residual correction (see the module docstring).
    arrays: dict[str, np.ndarray] | None = None

    @property
    def profile_scaling(self) -> ProfileScaling:
        """``norm/mean`` and ``norm/scale``: learned profiles <-> the network's normalised units."""
        return ProfileScaling(self.mean, self.scale)


def save(weights: Weights, path: str | os.PathLike) -> None:
    arrays = {f"tensor/{k}": np.asarray(v, dtype=np.float32) for k, v in weights.tensors.items()}
    arrays["norm/mean"] = np.asarray(weights.mean, dtype=np.float64)
    arrays["norm/scale"] = np.asarray(weights.scale, dtype=np.float64)
    # Grid parameters are stored as float32 (half the size) and rounded back to 1e-6 on loading.
    arrays["grid/nodes"] = np.asarray(weights.nodes, dtype=np.float32)
    for key, value in (weights.arrays or {}).items():
        value = np.asarray(value)
        arrays[key] = value if np.issubdtype(value.dtype, np.integer) else value.astype(np.float32)
    meta = dict(weights.meta, format_version=FORMAT_VERSION)
    arrays["meta.json"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    # Uncompressed: loading is then a copy (about 25 ms faster per predict), and the file is read once.
    np.savez(buffer, **arrays)
    with atomic_output(path, "wb") as handle:
        handle.write(buffer.getvalue())


def load(path: str | os.PathLike) -> Weights:
    """The weights in ``path``, validated (:func:`validate`): a malformed file is a WeightsError
    naming the file and the field, never a KeyError or a reshape error later."""
    name = str(path)
    if not Path(name).is_file():
        raise WeightsError(f"{name}: weights file not found")
    try:
        with np.load(name, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # zip/npz errors of every kind
        if "pickle" in str(exc):  # numpy's advice (allow_pickle) is not for a weights file
            raise WeightsError(f"{name}: not an innterpol weights file (it holds pickled objects or is not an .npz "
                               f"archive; innterpol loads arrays only and never runs code from a file)") from None
        raise WeightsError(f"{name}: not a readable weights file (not an .npz archive of arrays)") from None
    if "meta.json" not in arrays:
        raise WeightsError(f"{name}: not an innterpol weights file (no meta.json)")
    try:
        meta = json.loads(arrays.pop("meta.json").tobytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise WeightsError(f"{name}: meta.json is not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if hasattr(exc, "lineno") else " (nested too deeply)"
        raise WeightsError(f"{name}: meta.json is not valid JSON{where}") from None
    if not isinstance(meta, dict):
        raise WeightsError(f"{name}: meta.json is a JSON {type(meta).__name__}, not an object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise WeightsError(f"{name}: weights format {meta.get('format_version')!r} is not {FORMAT_VERSION}")
    validate(meta, arrays, name)
    tensors = {k[len("tensor/"):]: v.astype(np.float64) for k, v in arrays.items() if k.startswith("tensor/")}
    extras = {k: v if np.issubdtype(v.dtype, np.integer) else v.astype(np.float64)
              for k, v in arrays.items() if k.startswith(HYBRID_PREFIXES)}
    if "residual/nodes" in extras:
        extras["residual/nodes"] = np.round(extras["residual/nodes"], 6)
    nodes = np.round(arrays["grid/nodes"].astype(np.float64), 6)
    return Weights(meta, tensors, arrays["norm/mean"], arrays["norm/scale"], nodes, name, extras)


# --------------------------------------------------------------------------------- the schema
AXES = PARAMETER_NAMES
FAMILIES = ("atlas9", "marcs", "phoenix")


class _Schema:
    """Checks of one weights file, each raising WeightsError naming the file and the field."""

    def __init__(self, name: str, meta: dict, arrays: dict[str, np.ndarray]):
        self.name, self.meta, self.arrays = name, meta, arrays

    def fail(self, field: str, problem: str):
        raise WeightsError(f"{self.name}: malformed weights file: {field}: {problem}")

    def key(self, container: dict, key: str, kind, where: str = "meta.json", optional: bool = False):
        field = f"{where} {key!r}"
        if key not in container:
            if optional:
                return None
            self.fail(field, "missing")
        value = container[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            wanted = " or ".join(k.__name__ for k in kinds)
            self.fail(field, f"is a {type(value).__name__}, not a {wanted}")
        return value

    def numbers(self, value, field: str, length: int | None = None) -> None:
        if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            self.fail(field, "is not a list of numbers")
        if length is not None and len(value) != length:
            self.fail(field, f"has {len(value)} values, not {length}")
        if not np.all(np.isfinite(np.asarray(value, dtype=float))):
            self.fail(field, "has non-finite values")

    def positive_int(self, container: dict, key: str, where: str) -> int:
        value = self.key(container, key, int, where)
        if value < 1:
            self.fail(f"{where} {key!r}", f"must be at least 1, not {value}")
        return value

    def array(self, key: str, shape: tuple, integer: bool = False, finite: bool = True, optional: bool = False):
        """``arrays[key]`` with ``shape`` (None: any length on that axis); None if optional and absent."""
        if key not in self.arrays:
            if optional:
                return None
            self.fail(f"array {key!r}", "missing")
        value = self.arrays[key]
        if value.ndim != len(shape) or any(want is not None and got != want for got, want in zip(value.shape, shape)):
            shown = "(" + ", ".join("N" if w is None else str(w) for w in shape) + ")"
            self.fail(f"array {key!r}", f"has shape {value.shape}, expected {shown}")
        if integer and not np.issubdtype(value.dtype, np.integer):
            self.fail(f"array {key!r}", f"has type {value.dtype}, expected integers")
        if not integer and not np.issubdtype(value.dtype, np.floating):
            self.fail(f"array {key!r}", f"has type {value.dtype}, expected floating point")
        if finite and not integer and not np.all(np.isfinite(value)):
            self.fail(f"array {key!r}", f"has {int(np.sum(~np.isfinite(value)))} non-finite values")
        return value


def validate(meta: dict, arrays: dict[str, np.ndarray], name: str = "weights") -> None:
    """Check the keys, types and shapes of a format-2 weights file (see the module docstring) and that
    its tensors are finite, so that prediction never meets a malformed one."""
    schema = _Schema(name, meta, arrays)
    key = schema.key
    for field in ("grid", "native_format"):
        key(meta, field, str)
    family = key(meta, "family", str)
    if family not in FAMILIES:
        schema.fail("meta.json 'family'", f"{family!r} is not one of {', '.join(FAMILIES)}")
    axes = key(meta, "axes", list)
    if not axes or not all(isinstance(a, str) and a in AXES for a in axes) or len(set(axes)) != len(axes) or "teff" not in axes:
        schema.fail("meta.json 'axes'", f"{axes!r} is not a list of distinct axes from {', '.join(AXES)} with teff")
    n_params = len(axes)
    config = key(meta, "config", dict)
    n_channels = schema.positive_int(config, "n_channels", "meta.json 'config'")
    n_depth = schema.positive_int(config, "n_depth", "meta.json 'config'")
    layers = schema.positive_int(config, "layers", "meta.json 'config'")
    method = key(config, "method", str, "meta.json 'config'")
    if method not in ("mlp", "cae", "pca"):
        schema.fail("meta.json 'config' 'method'", f"{method!r} is not mlp, cae or pca")
    channels = key(meta, "channels", list)
    if len(channels) != n_channels:
        schema.fail("meta.json 'channels'", f"has {len(channels)} entries, config says {n_channels}")
    for i, channel in enumerate(channels):
        where = f"meta.json 'channels'[{i}]"
        if not isinstance(channel, dict):
            schema.fail(where, f"is a {type(channel).__name__}, not an object")
        key(channel, "name", str, where)
        for field, kind in (("transform", str), ("base", str), ("scale", (int, float)), ("zero_floor", bool)):
            key(channel, field, kind, where, optional=True)
    schema.numbers(key(meta, "log_tau", list), "meta.json 'log_tau'", n_depth)
    norm = key(meta, "param_norm", dict)
    schema.numbers(key(norm, "lo", list, "meta.json 'param_norm'"), "meta.json 'param_norm' 'lo'", n_params)
    schema.numbers(key(norm, "hi", list, "meta.json 'param_norm'"), "meta.json 'param_norm' 'hi'", n_params)
    key(meta, "depth_layer", str, optional=True)
    for field in ("fixed", "reference", "provenance", "hybrid", "uncertainty", "structure"):
        key(meta, field, dict, optional=True)
    reference = meta.get("reference") or {}
    if "abundances" in reference:
        schema.numbers(reference["abundances"], "meta.json 'reference' 'abundances'")
    key(reference, "extra", dict, "meta.json 'reference'", optional=True)
    fixed = meta.get("fixed") or {}
    key(fixed, "vmic_by_geometry", dict, "meta.json 'fixed'", optional=True)
    if "vmic" in fixed:
        schema.numbers(fixed["vmic"], "meta.json 'fixed' 'vmic'")

    schema.array("norm/mean", (n_channels, n_depth))
    scale = schema.array("norm/scale", (n_channels,))
    if np.any(scale == 0):
        schema.fail("array 'norm/scale'", "has zeros")
    nodes = schema.array("grid/nodes", (None, n_params))
    if len(nodes) == 0:
        schema.fail("array 'grid/nodes'", "is empty")

    width = _tensor(schema, "net.inp.weight", (None, n_params)).shape[0]
    _tensor(schema, "net.inp.bias", (width,))
    for i in range(layers - 1):
        _tensor(schema, f"net.hidden.{i}.weight", (width, width))
        _tensor(schema, f"net.hidden.{i}.bias", (width,))
    if method == "mlp":
        _tensor(schema, "net.out.weight", (n_channels * n_depth, width))
        _tensor(schema, "net.out.bias", (n_channels * n_depth,))
    else:
        latent = _tensor(schema, "net.out.weight", (None, width)).shape[0]
        _tensor(schema, "net.out.bias", (latent,))
        _tensor(schema, "decoder.linear.weight", (n_channels * n_depth, latent))
        _tensor(schema, "decoder.linear.bias", (n_channels * n_depth,))
    if method == "cae":
        c2 = 2 * schema.positive_int(config, "conv_width", "meta.json 'config'")
        reduced = (-(-n_depth // 4) * 4) // 4
        _tensor(schema, "decoder.dense.weight", (c2 * reduced, latent))
        _tensor(schema, "decoder.dense.bias", (c2 * reduced,))
        deconv1 = _tensor(schema, "decoder.deconv1.weight", (c2, None, None))
        _tensor(schema, "decoder.deconv1.bias", (deconv1.shape[1],))
        deconv2 = _tensor(schema, "decoder.deconv2.weight", (deconv1.shape[1], n_channels, None))
        _tensor(schema, "decoder.deconv2.bias", (n_channels,))
        # Each transposed convolution (stride 2, padding 1) takes L depths to 2 (L - 1) + K - 2.
        if 4 * reduced + 2 * deconv1.shape[2] + deconv2.shape[2] - 12 < n_depth:
            schema.fail("array 'tensor/decoder.deconv2.weight'", "its kernels give fewer depths than config 'n_depth'")

    structure = key(meta, "structure", dict, optional=True)
    if structure:
        where = "meta.json 'structure'"
        layers_s = schema.positive_int(structure, "layers", where)
        indices = key(structure, "channels", list, where)
        if not indices or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < n_channels for c in indices):
            schema.fail(f"{where} 'channels'", f"is not a list of channel numbers 0..{n_channels - 1}")
        members = structure.get("members", 1)
        if not isinstance(members, int) or isinstance(members, bool) or not 1 <= members <= 16:
            schema.fail(f"{where} 'members'", "is not a whole number from 1 to 16")
        for member in range(members):
            prefix = engine.structure_prefix(member)
            width_s = _tensor(schema, f"{prefix}.inp.weight", (None, n_params)).shape[0]
            _tensor(schema, f"{prefix}.inp.bias", (width_s,))
            for i in range(layers_s - 1):
                _tensor(schema, f"{prefix}.hidden.{i}.weight", (width_s, width_s))
                _tensor(schema, f"{prefix}.hidden.{i}.bias", (width_s,))
            _tensor(schema, f"{prefix}.out.weight", (len(indices) * n_depth, width_s))
            _tensor(schema, f"{prefix}.out.bias", (len(indices) * n_depth,))
        schema.array("structure/mean", (len(indices), n_depth))
        if np.any(schema.array("structure/scale", (len(indices), n_depth)) <= 0):
            schema.fail("array 'structure/scale'", "has values that are not positive")

    if "residual/nodes" in arrays:
        residual_nodes = schema.array("residual/nodes", (None, n_params))
        count = len(residual_nodes)
        residual_channels = schema.array("residual/channels", (None,), integer=True)
        if np.any((residual_channels < 0) | (residual_channels >= n_channels)):
            schema.fail("array 'residual/channels'", f"has channel numbers outside 0..{n_channels - 1}")
        features = len(residual_channels) * n_depth
        schema.array("residual/alpha", (n_params, features))
        schema.array("residual/alpha_linear", (n_params, features), optional=True)
        q = schema.array("residual/q", (count, features), integer=True)
        if q.dtype != np.int16:
            schema.fail("array 'residual/q'", f"has type {q.dtype}, expected int16")
        schema.array("residual/s", (features,))
        k = schema.array("residual/k", (features,))
        if np.any(k == 0):
            schema.fail("array 'residual/k'", "has zeros")
        zero_channels = schema.array("zero/channels", (None,), integer=True, optional=True)
        if zero_channels is not None and len(zero_channels):
            if np.any((zero_channels < 0) | (zero_channels >= n_channels)):
                schema.fail("array 'zero/channels'", f"has channel numbers outside 0..{n_channels - 1}")
            mask = schema.array("zero/mask", (count, -(-len(zero_channels) * n_depth // 8)), integer=True, optional=True)
            if mask is not None and mask.dtype != np.uint8:
                schema.fail("array 'zero/mask'", f"has type {mask.dtype}, expected uint8")
        # log10 PRADK is NaN at nodes without one (the writer then derives it from Teff).
        schema.array("scalar/pradk", (count,), finite=False, optional=True)
        uncertainty.check_arrays(schema.array, schema.fail, n_params, len(residual_channels), n_channels, n_depth)


def _tensor(schema: _Schema, name: str, shape: tuple) -> np.ndarray:
    return schema.array(f"tensor/{name}", shape)
