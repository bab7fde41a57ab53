"""The codec between physical atmospheres and what the network learns: channel transforms,
parameter scaling and profile scaling.  One implementation, saved in the weights file, used by
training and inference alike (if the two ever differed, the weights would silently stop matching).

Channel transforms (each maps a depth profile ``(..., D)`` to a learned profile of the same shape):

``log``
    log10 v, for positive quantities (T, pressures, densities, opacities): positive on the way back.
``linear``
    v itself (lgTau5-like quantities, MARCS log partial pressures, Mu).
``asinh``
    asinh(v / scale), for quantities that are zero over part of the atmosphere (convection).
``steps``
    a quantity that increases with depth, learned as its top value and the logarithms of its
    increments: x = base(v); c_0 = x_0, c_k = log10(x_k - x_{k-1}).  Whatever the network or the
    blend put out, 10**c_k > 0, so the profile comes back strictly increasing: RHOX (base
    ``log``), lgTau5 (``linear``) and the MARCS geometric depth (``asinh``) are monotone by
    construction, and ABROSS = d tau / d RHOX is positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRANSFORMS = ("log", "linear", "asinh", "steps")
BASES = ("log", "linear", "asinh")

#: The smallest increment a ``steps`` channel takes from the data (a model that is flat or
#: decreasing between two depths is not learnable as monotone; see :func:`Channel.forward`).
MIN_STEP = 1e-12


def _base_forward(values: np.ndarray, base: str, scale: float) -> np.ndarray:
    if base == "log":
        return np.log10(values)
    if base == "asinh":
        return np.arcsinh(values / scale)
    return np.asarray(values, dtype=float)


def _base_inverse(values: np.ndarray, base: str, scale: float) -> np.ndarray:
    if base == "log":
        return 10.0**values
    if base == "asinh":
        return np.sinh(values) * scale
    return values


@dataclass(frozen=True)
class Channel:
    """A predicted quantity: a layer name (or ``pp:NAME`` for a MARCS partial pressure), its
    transform (see the module docstring), the ``scale`` of ``asinh``, the ``base`` of ``steps``,
    and ``zero_floor``: the quantity is exactly zero in part of the grid's models (convection in
    radiative layers), and is written as an exact zero where all grid neighbours are zero."""

    name: str
    transform: str = "log"
    scale: float = 1.0
    base: str = "log"
    zero_floor: bool = False

    def __post_init__(self):
        if self.transform not in TRANSFORMS:
            raise ValueError(f"unknown channel transform {self.transform!r}")
        if self.base not in BASES:
            raise ValueError(f"unknown base {self.base!r} of a steps channel")

    @property
    def kind(self) -> str:
        """The representation the quantity is usually interpolated in (``log``, ``linear`` or
        ``asinh``): a ``steps`` channel's base, else its transform."""
        return self.base if self.transform == "steps" else self.transform

    def valid(self, values: np.ndarray) -> str | None:
        """Why ``values`` (D,) cannot be learned under this transform, or None."""
        if not np.all(np.isfinite(values)):
            return f"non-finite {self.name}"
        if self.kind == "log" and np.any(values <= 0):
            return f"non-positive {self.name}"
        if self.transform == "steps" and np.any(np.diff(self.standard(values)) <= 0):
            return f"{self.name} not increasing with depth"
        return None

    def forward(self, values: np.ndarray) -> np.ndarray:
        """Physical values -> learned: the standard representation, and for ``steps`` the top
        value and the log10 of the increments."""
        x = self.standard(values)
        if self.transform != "steps":
            return x
        out = np.empty_like(x, dtype=float)
        out[..., 0] = x[..., 0]
        out[..., 1:] = np.log10(np.maximum(np.diff(x, axis=-1), MIN_STEP))
        return out

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return self.from_standard(self.learned_to_standard(values))

    def standard(self, values: np.ndarray) -> np.ndarray:
        """The usual representation for interpolating this quantity linearly (the baseline):
        log10 of positive quantities, asinh(v / scale) of zero-floor ones, else the values."""
        return _base_forward(values, self.kind, self.scale)

    def from_standard(self, values: np.ndarray) -> np.ndarray:
        return _base_inverse(values, self.kind, self.scale)

    def learned_to_standard(self, learned: np.ndarray) -> np.ndarray:
        """Learned values -> the standard representation (only ``steps`` channels differ)."""
        if self.transform != "steps":
            return learned
        x = np.empty_like(learned, dtype=float)
        x[..., 0] = learned[..., 0]
        x[..., 1:] = learned[..., :1] + np.cumsum(10.0 ** learned[..., 1:], axis=-1)
        return x

    def increasing(self, standard: np.ndarray, step: float = 1e-4) -> np.ndarray:
        """A standard-representation profile made strictly increasing with depth (every step at
        least ``step``, ten times below the smallest step of any CK04 or MARCS model): the
        guarantee of ``steps`` channels after a blend, whose cubic weights can be negative."""
        k = np.arange(standard.shape[-1]) * step
        return np.maximum.accumulate(standard - k, axis=-1) + k

    @property
    def error_kind(self) -> str:
        """How errors are scored: ``relative`` (percent) for positive quantities, else ``absolute``."""
        return "relative" if self.kind == "log" else "absolute"

    def to_dict(self) -> dict:
        return {"name": self.name, "transform": self.transform, "scale": self.scale, "base": self.base,
                "zero_floor": self.zero_floor}

    @classmethod
    def from_dict(cls, d: dict) -> Channel:
        return cls(d["name"], d.get("transform", "log"), float(d.get("scale", 1.0)), d.get("base", "log"),
                   bool(d.get("zero_floor", False)))


def transform_params(params: np.ndarray, axes) -> np.ndarray:
    """Teff enters as log10 Teff (the grid is roughly uniform in it); other axes as they are."""
    x = np.array(params, dtype=float, copy=True)
    for j, axis in enumerate(axes):
        if axis == "teff":
            x[:, j] = np.log10(x[:, j])
    return x


@dataclass(frozen=True)
class ParamScaling:
    """Parameters -> network inputs in [-1, 1] over the training grid (after :func:`transform_params`)."""

    axes: tuple[str, ...]
    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def fit(cls, params: np.ndarray, axes) -> ParamScaling:
        x = transform_params(params, axes)
        return cls(tuple(axes), x.min(axis=0), x.max(axis=0))

    def __call__(self, params: np.ndarray) -> np.ndarray:
        x = transform_params(np.atleast_2d(params), self.axes)
        span = np.where(self.hi > self.lo, self.hi - self.lo, 1.0)
        return 2.0 * (x - self.lo) / span - 1.0

    def to_dict(self) -> dict:
        return {"lo": np.asarray(self.lo).tolist(), "hi": np.asarray(self.hi).tolist(), "teff": "log10"}

    @classmethod
    def from_dict(cls, d: dict, axes) -> ParamScaling:
        return cls(tuple(axes), np.asarray(d["lo"], dtype=float), np.asarray(d["hi"], dtype=float))


@dataclass(frozen=True)
class ProfileScaling:
    """Profiles (N, C, D) <-> the network's normalised units: (profiles - mean) / scale, and back.

    ``mean`` is (C, D).  ``scale`` is (C,), one number per channel, for the main network (a
    channel's profile keeps its shape across depth), or (C, D), one per channel and depth, for
    the structure network (:mod:`innterpol_cli.train`).  Training and inference both go through
    here, operations in this order, so that the two agree bit for bit.
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, learned: np.ndarray) -> ProfileScaling:
        """Per channel: the training profiles' mean at each depth, and the rms over depth of their
        spread (1 where a channel does not vary)."""
        spread = learned.std(axis=0)
        scale = np.sqrt(np.mean(spread**2, axis=1))
        return cls(learned.mean(axis=0), np.where(scale > 1e-8, scale, 1.0))

    @classmethod
    def fit_per_depth(cls, standard: np.ndarray) -> ProfileScaling:
        """Per channel and depth: the training profiles' mean and spread (at least 1e-6)."""
        return cls(standard.mean(axis=0), np.maximum(standard.std(axis=0), 1e-6))

    @property
    def _depth_scale(self) -> np.ndarray:
        """``scale`` broadcast against ``mean`` (C, D)."""
        return self.scale[:, None] if self.scale.ndim == 1 else self.scale

    def normalise(self, profiles: np.ndarray, channel: int | None = None) -> np.ndarray:
        """(profiles - mean) / scale of profiles (N, C, D), or with ``channel`` of that channel's
        profiles (N, D)."""
        if channel is not None:
            return (profiles - self.mean[channel]) / self.scale[channel]
        return (profiles - self.mean) / self._depth_scale

    def denormalise(self, normalised: np.ndarray) -> np.ndarray:
        """normalised * scale + mean: the inverse of :meth:`normalise`, (N, C, D)."""
        return normalised * self._depth_scale + self.mean


def learned_to_standard(codec: list[Channel], learned: np.ndarray, channels) -> np.ndarray:
    """Learned profiles (N, C, D) -> the standard representation of ``channels``, flattened
    (N, len(channels) * D): what the hybrid blends."""
    return np.stack([codec[c].learned_to_standard(learned[:, c]) for c in channels], axis=1).reshape(len(learned), -1)
