"""The weights file: one ``.npz`` per grid, arrays only, plus a JSON document stored as bytes.

Loading uses ``numpy.load(allow_pickle=False)``: it never executes code.  Contents:

- ``tensor/<name>``: the network tensors needed for inference (float32);
- ``norm/mean`` (C, D), ``norm/scale`` (C,): the per-channel normalisation;
- ``grid/nodes`` (N, P): every grid node the network was trained from (for coverage);
- ``residual/nodes`` (N, P), ``residual/channels``, ``residual/alpha`` (P, F),
  ``residual/q`` (int16, N x F) with its ``s`` and ``k``: the
  network's residuals at every grid node, asinh-companded, and the blend weights of the hybrid;
  ``zero/channels`` and ``zero/mask`` (packed bits): where the zero-floor channels are exactly
  zero at each node (see :mod:`innterpol_cli.hybrid`); ``scalar/pradk``: log10 PRADK of each
  ATLAS9 node, interpolated like the profiles;
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
from formats.textio import atomic_output

FORMAT_VERSION = 2
#: Arrays of the hybrid (see :mod:`innterpol_cli.hybrid`).
HYBRID_PREFIXES = ("residual/", "zero/", "scalar/")


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
    name = str(path)
    if not Path(name).is_file():
        raise WeightsError(f"{name}: weights file not found")
    try:
        with np.load(name, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # zip/npz errors of every kind
        raise WeightsError(f"{name}: not a readable weights file ({exc})") from None
    try:
        meta = json.loads(arrays.pop("meta.json").tobytes().decode())
        if meta.get("format_version") != FORMAT_VERSION:
            raise WeightsError(f"{name}: weights format {meta.get('format_version')} is not {FORMAT_VERSION}")
        tensors = {k[len("tensor/"):]: v.astype(np.float64) for k, v in arrays.items() if k.startswith("tensor/")}
        extras = {k: v if np.issubdtype(v.dtype, np.integer) else v.astype(np.float64)
                  for k, v in arrays.items() if k.startswith(HYBRID_PREFIXES)}
        if "residual/nodes" in extras:
            extras["residual/nodes"] = np.round(extras["residual/nodes"], 6)
        nodes = np.round(arrays["grid/nodes"].astype(np.float64), 6)
        return Weights(meta, tensors, arrays["norm/mean"], arrays["norm/scale"], nodes, name, extras)
    except KeyError as exc:
        raise WeightsError(f"{name}: weights file lacks {exc}") from None
