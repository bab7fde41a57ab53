"""The result of an evaluation and its JSON document (``innterpol evaluate --json``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..encoding import Channel
from .metrics import channel_errors


@dataclass
class Evaluation:
    """Every method's predictions of the evaluated truth models, their scores and what else was measured."""

    grid_name: str
    weights_path: str
    source: str
    axes: list[str]
    channels: list[dict]  # name, transform, unit (from the weights)
    log_tau: np.ndarray
    params: np.ndarray  # (M, P) the evaluated truth models
    true: np.ndarray  # (M, C, D) physical
    predictions: dict[str, np.ndarray]  # method -> (M, C, D) physical
    summary: dict  # scoring.score
    n_truth: int
    n_without_linear: int
    notes: list[str]
    half_step: dict = field(default_factory=dict)
    synth: dict | None = None
    models: list | None = None  # the evaluated truth models (Atmosphere), for --synth
    by_axis: dict | None = None  # scoring.along_axes of the test split
    by_position: dict | None = None  # scoring.calibration_by_fraction of the test split (calibrated weights)

    def errors(self, method: str) -> np.ndarray:
        """Signed errors (M, C, D): percent for log channels, absolute otherwise."""
        return np.stack([channel_errors(self.predictions[method][:, c], self.true[:, c], Channel.from_dict(ch).error_kind)
                         for c, ch in enumerate(self.channels)], axis=1)

    def to_json(self) -> dict:
        """A JSON-ready dict (NaN becomes null)."""
        return json_safe(self._document())

    def _document(self) -> dict:
        temperature = next((c for c, ch in enumerate(self.channels) if ch["name"] == "temperature"), 0)
        per_model = {m: np.nanmax(np.abs(self.errors(m)[:, temperature]), axis=1) for m in self.predictions}
        return {
            "grid": self.grid_name,
            "weights": self.weights_path,
            "truth": self.source,
            "n_truth": self.n_truth,
            "n_evaluated": int(len(self.params)),
            "n_without_linear": self.n_without_linear,
            "statistics": "median, RMS, 95th percentile and max of |error| over every evaluated model and depth; "
                          "percent for log-learned channels, absolute (unit given) otherwise",
            "methods": self.summary.get("methods", []),
            "channels": self.summary.get("channels", {}),
            "half_step": self.half_step,
            "notes": self.notes,
            "models": [
                {"params": dict(zip(self.axes, map(float, p))),
                 "max_abs_temperature_error_percent": {m: float(v[i]) for m, v in per_model.items()}}
                for i, p in enumerate(self.params)
            ],
            **({"synth": self.synth} if self.synth is not None else {}),
            **({"by_axis": self.by_axis} if self.by_axis is not None else {}),
            **({"by_position": self.by_position} if self.by_position is not None else {}),
        }


def json_safe(value):
    """``value`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
