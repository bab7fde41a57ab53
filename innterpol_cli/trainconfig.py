"""What a training run is asked to do, and on which nodes.

Defaults live in :class:`TrainConfig`; a JSON config file overrides them and command-line flags
override the file.  :func:`split_nodes` makes the seeded train / validation / test split.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from formats.errors import InnterpolError


class TrainError(InnterpolError):
    pass


@dataclass
class TrainConfig:
    method: str = "mlp"
    latent: int = 64  # cae / pca only
    layers: int = 6
    width: int = 256
    conv_width: int = 64  # cae only
    epochs: int = 4000  # mlp: the one stage's epochs
    cae_epochs: int = 150
    net_epochs: int = 300
    finetune_epochs: int = 1200
    batch_size: int = 128
    lr: float = 2e-3
    finetune_lr: float = 1e-3
    weight_decay: float = 1e-5  # mlp (AdamW)
    structure_epochs: int = 3000  # mlp: epochs of the structure network (0: none)
    structure_members: int = 1  # mlp: structure networks in the ensemble, each seeded apart
    structure_layers: int = 0  # mlp: layers of the structure networks (0: --layers)
    structure_width: int = 0  # mlp: width of the structure networks (0: --width)
    structure_loss: str = "mse"  # mlp: the structure networks' loss, mse or l1mse (mean |d| + mean d^2)
    patience: int = 0  # 0: no early stopping (the best validation epoch is still the one kept)
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    pp_weight: float = 0.2  # loss weight of MARCS partial-pressure channels against the structure
    convection_weight: float = 0.25  # mlp: loss weight of the convection channels (zero in radiative layers)
    device: str = "cpu"
    threads: int = 0  # 0: torch's default
    max_minutes: float = 0.0  # 0: no wall-clock budget

    @classmethod
    def resolve(cls, config_file: str | None = None, **overrides) -> TrainConfig:
        values = asdict(cls())
        types = {f.name: type(getattr(cls(), f.name)) for f in fields(cls)}
        if config_file:
            try:
                loaded = json.loads(Path(config_file).read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise TrainError(f"{config_file}: cannot read the training config ({exc})") from None
            if not isinstance(loaded, dict):
                raise TrainError(f"{config_file}: the training config must be a JSON object")
            for key, value in loaded.items():
                if key not in values:
                    raise TrainError(f"{config_file}: unknown config key {key!r}; known: {', '.join(values)}")
                values[key] = _checked(key, value, types[key], config_file)
        for key, value in overrides.items():
            if value is not None:
                values[key] = _checked(key, value, types[key], "command line")
        cfg = cls(**values)
        if cfg.method not in ("mlp", "cae", "pca"):
            raise TrainError(f"unknown method {cfg.method!r}: use mlp, cae or pca")
        if cfg.structure_loss not in ("mse", "l1mse"):
            raise TrainError(f"unknown structure_loss {cfg.structure_loss!r}: use mse or l1mse")
        if cfg.structure_layers < 0 or cfg.structure_width < 0:
            raise TrainError("structure_layers and structure_width must be 0 (the main network's) or positive")
        if cfg.structure_members < 1:
            raise TrainError(f"structure_members must be at least 1, not {cfg.structure_members}")
        if cfg.device not in ("cpu", "cuda", "auto"):
            raise TrainError(f"unknown device {cfg.device!r}: use cpu, cuda or auto")
        return cfg


def _checked(key, value, kind, where):
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise TrainError(f"{where}: config key {key!r} must be {kind.__name__}, not {type(value).__name__}")
    return value


# ----------------------------------------------------------------------------------------- split
def split_nodes(params: np.ndarray, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train / validation / test indices.

    Test nodes are interior along at least one axis (both immediate neighbours along it exist),
    so each can be rebuilt by interpolation along that axis, and no two test nodes are
    neighbours along any axis: the neighbours stay in training.
    """
    rng = np.random.default_rng(cfg.seed)
    n = len(params)
    keys = {tuple(p): i for i, p in enumerate(params)}
    values = [np.unique(params[:, j]) for j in range(params.shape[1])]
    neighbours: dict[int, set[int]] = {}
    interior: set[int] = set()
    for i, p in enumerate(params):
        around: set[int] = set()
        for j, axis_values in enumerate(values):
            k = np.searchsorted(axis_values, p[j])
            found = []
            for step in (-1, 1):
                if 0 <= k + step < len(axis_values):
                    q = list(p)
                    q[j] = axis_values[k + step]
                    found.append(keys.get(tuple(q)))
            around.update(f for f in found if f is not None)
            if len(found) == 2 and None not in found:
                interior.add(i)
        neighbours[i] = around
    want = max(1, int(round(cfg.test_fraction * n))) if cfg.test_fraction > 0 else 0
    test: list[int] = []
    blocked: set[int] = set()
    for i in rng.permutation(sorted(interior)):
        if len(test) >= want:
            break
        if int(i) in blocked:
            continue
        test.append(int(i))
        blocked.update((int(i), *neighbours[int(i)]))
    rest = np.array(sorted(set(range(n)) - set(test)))
    must_train = {j for i in test for j in neighbours[i]}
    candidates = np.array([i for i in rest if i not in must_train])
    n_val = min(len(candidates), max(1, int(round(cfg.val_fraction * n))))
    val = np.sort(rng.choice(candidates, size=n_val, replace=False)) if n_val else np.array([], dtype=int)
    train = np.array(sorted(set(rest) - set(val.tolist())))
    return train, val, np.array(sorted(test), dtype=int)
