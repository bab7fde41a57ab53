"""Training.  ``mlp`` (the default): one network from the parameters straight to the normalised
profiles, AdamW on a cosine schedule over a fixed number of epochs, the epoch of lowest
validation loss kept.  ``cae`` (the paper's pipeline) and ``pca``: the CAE (or PCA) first, then
the parameter network on the frozen encoder's latents, then end-to-end fine-tuning of
network + decoder on the decoded profiles.  Early stopping on the validation split at every
stage.  Then the
hybrid's arrays (:mod:`innterpol_cli.hybrid`): blend weights fitted on the validation nodes
along each axis, and the network's residuals at every grid node, test nodes included.

Defaults live in :class:`TrainConfig`; a JSON config file overrides them and command-line
flags override the file.  The resolved config is saved in the weights file.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from formats.errors import InnterpolError

from . import __version__, engine, hybrid
from .encoding import ParamScaling, learned_to_standard
from .grid import GridData
from .weightsfile import Weights, save


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


# ------------------------------------------------------------------------------------ training
class _Progress:
    """A Rich progress display on stderr (a plain line per stage when stderr is not a terminal)."""

    def __init__(self, enabled: bool = True):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from .console import err

        self.enabled = enabled
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[losses]}"), TimeElapsedColumn(), TimeRemainingColumn(), console=err,
            disable=not enabled,
        )

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def stage(self, name: str, total: int, completed: int = 0):
        return self.progress.add_task(name, total=total, completed=completed, losses="")

    def update(self, task, epoch: int, train_loss: float, val_loss: float, best: float):
        self.progress.update(task, completed=epoch, losses=f"train {train_loss:.2e}  val {val_loss:.2e}  best {best:.2e}")


def train(grid: GridData, cfg: TrainConfig, output: str, *, grid_name: str, command: str = "",
          checkpoint_dir: str | None = None, resume: bool = False, show_progress: bool = True, log=None,
          score=None, calibrate=None) -> Weights:
    """Train on ``grid`` and write the weights file ``output``; returns the weights.

    ``calibrate(weights, grid, val_idx)``, when given, returns the uncertainty calibration's
    arrays and summary (:func:`innterpol_cli.uncertainty.fit`), and ``score(weights, grid,
    test_idx)`` the test metrics recorded in the file (the caller does both: training imports no
    inference).
    """
    import torch

    from .nn import AtmosphereNet, NetConfig

    log = log or (lambda message: None)
    device = _device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    family = grid.family
    train_idx, val_idx, test_idx = split_nodes(grid.params, cfg)
    if len(train_idx) < 2:
        raise TrainError(f"too few models to train ({len(grid.params)} usable)")
    if len(val_idx) == 0:
        val_idx = train_idx[:1]
    log(f"{len(grid.params)} models: {len(train_idx)} train, {len(val_idx)} validation, {len(test_idx)} test")

    y_all = grid.transformed  # (N, C, D)
    mean = y_all[train_idx].mean(axis=0)
    spread = y_all[train_idx].std(axis=0)  # (C, D)
    scale = np.sqrt(np.mean(spread**2, axis=1))
    scale = np.where(scale > 1e-8, scale, 1.0)
    y_norm = (y_all - mean) / scale[:, None]

    scaling = ParamScaling.fit(grid.params, family.axes)
    x_norm = scaling(grid.params)

    def channel_weights(pp: float, convection: float) -> torch.Tensor:
        values = np.array([pp if ch.name.startswith("pp:") else convection if ch.zero_floor else 1.0
                           for ch in family.channels])
        return torch.tensor(values / values.mean(), dtype=torch.float32, device=device)[None, :, None]

    weight = channel_weights(cfg.pp_weight, cfg.convection_weight if cfg.method == "mlp" else 1.0)
    # The epoch kept is the one of lowest validation loss on the structure (T, pressures, RHOX, ...):
    # the convection columns, zero in radiative layers and noisy, and the partial pressures would
    # otherwise pick an early epoch whose structure is far from the best.
    structure = channel_weights(0.0, 0.0)

    net_cfg = NetConfig(
        n_params=len(family.axes), n_channels=len(family.channels), n_depth=y_all.shape[2], method=cfg.method,
        latent=cfg.latent, layers=cfg.layers, width=cfg.width, conv_width=cfg.conv_width,
    )
    model = AtmosphereNet(net_cfg).to(device)
    X = torch.tensor(x_norm, dtype=torch.float32, device=device)
    Y = torch.tensor(y_norm, dtype=torch.float32, device=device)
    tr = torch.tensor(train_idx, device=device)
    va = torch.tensor(val_idx, device=device)

    def wmse(pred, target, w=None):
        return ((pred - target) ** 2 * (weight if w is None else w)).mean()

    ckpt_path = Path(checkpoint_dir) / "checkpoint.pt" if checkpoint_dir else None
    nets = {"structure": None}  # the structure network, made at its stage (see below)
    saved_structure = None
    state = {"stage": 0, "epoch": 0}
    # What earlier runs of a resumed training did (stages, time, command), kept in the checkpoint.
    earlier = {"history": [], "trained_seconds": 0.0, "commands": []}
    if resume:
        if not ckpt_path or not ckpt_path.exists():
            raise TrainError(f"--resume: no checkpoint at {ckpt_path}")
        import warnings

        try:
            with warnings.catch_warnings():  # torch's notes on pickle protocols are not for the user
                warnings.simplefilter("ignore")
                saved = torch.load(ckpt_path, map_location=device, weights_only=True)
            if not isinstance(saved, dict) or "model" not in saved:
                raise ValueError("not a checkpoint")
        except Exception:  # torch's UnpicklingError advises weights_only=False: never for a file we did not write
            raise TrainError(f"{ckpt_path}: not an innterpol checkpoint (damaged, or it holds pickled objects, which "
                             f"innterpol never loads): remove it, or start without --resume") from None
        model.load_state_dict(saved["model"])
        saved_structure = saved.get("structure")
        state = {"stage": int(saved["stage"]), "epoch": int(saved["epoch"]), "optimizer": saved.get("optimizer"),
                 "best": saved.get("best"), "best_loss": float(saved.get("best_loss", math.inf))}
        earlier = json.loads(saved.get("provenance_json", "null") or "null") or earlier
        log(f"resuming from {ckpt_path}: stage {state['stage']}, epoch {state['epoch']}")

    deadline = time.monotonic() + cfg.max_minutes * 60 if cfg.max_minutes > 0 else math.inf
    # Stage budgets when a wall-clock limit is set: CAE 15%, latent regression 15%, fine-tuning 70%.
    stage_share = (1.0,) if cfg.method == "mlp" else (0.15, 0.15, 0.70)
    start_time = time.monotonic()

    def save_checkpoint(stage, epoch, optimizer, best, best_loss):
        if not ckpt_path:
            return
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = ckpt_path.with_suffix(".tmp")
        so_far = {"history": earlier["history"] + history,
                  "trained_seconds": earlier["trained_seconds"] + time.monotonic() - start_time,
                  "commands": earlier["commands"] + [command]}
        torch.save({"stage": stage, "epoch": epoch, "model": model.state_dict(),
                    "structure": nets["structure"].state_dict() if nets["structure"] is not None else None,
                    "optimizer": optimizer.state_dict() if optimizer is not None else None,
                    "best": best, "best_loss": best_loss, "provenance_json": json.dumps(so_far)}, tmp)
        tmp.replace(ckpt_path)

    history: list[dict] = []

    def run_stage(stage, name, epochs, params, lr, step_fn, val_fn, decay=0.0, floor=0.03, module=None):
        if state["stage"] > stage:
            return
        module = module if module is not None else model
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=decay) if decay else torch.optim.Adam(params, lr=lr)
        first = 0
        best_loss, best = math.inf, None
        if state["stage"] == stage and state.get("optimizer") and state["epoch"] > 0:
            optimizer.load_state_dict(state["optimizer"])
            first = state["epoch"]
            best, best_loss = state.get("best"), state.get("best_loss", math.inf)
        stage_deadline = min(deadline, start_time + sum(stage_share[: stage + 1]) * cfg.max_minutes * 60) if cfg.max_minutes else math.inf
        since_best = 0
        first_val = None
        with _Progress(show_progress) as progress:
            task = progress.stage(name, epochs, first)
            stage_start = time.monotonic()
            for epoch in range(first, epochs):
                # Cosine decay to ``floor`` times the initial rate, over the epochs or, with a
                # wall-clock budget, over the stage's time, whichever runs out first.
                done = epoch / max(1, epochs)
                if math.isfinite(stage_deadline):
                    done = max(done, (time.monotonic() - stage_start) / max(1e-9, stage_deadline - stage_start))
                for group in optimizer.param_groups:
                    group["lr"] = lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(done, 1.0))))
                module.train()
                perm = tr[torch.randperm(len(tr), device=device)]
                total = 0.0
                for b in range(0, len(perm), cfg.batch_size):
                    batch = perm[b: b + cfg.batch_size]
                    optimizer.zero_grad(set_to_none=True)
                    loss = step_fn(batch)
                    loss.backward()
                    optimizer.step()
                    total += float(loss.detach()) * len(batch)
                module.eval()
                with torch.no_grad():
                    val_loss = float(val_fn(va))
                if first_val is None:
                    first_val = val_loss
                if val_loss < best_loss:
                    best_loss, since_best = val_loss, 0
                    best = {k: v.detach().clone() for k, v in module.state_dict().items()}
                else:
                    since_best += 1
                progress.update(task, epoch + 1, total / len(perm), val_loss, best_loss)
                if (epoch + 1) % 25 == 0:
                    save_checkpoint(stage, epoch + 1, optimizer, best, best_loss)
                if (cfg.patience and since_best >= cfg.patience) or time.monotonic() > stage_deadline:
                    break
        if best is not None:
            module.load_state_dict(best)
        log(f"{name}: best validation loss {best_loss:.3e}")
        history.append({"stage": name, "epochs": epoch + 1 - first if epochs > first else 0,
                        "first_val_loss": first_val, "best_val_loss": best_loss})
        state.update(stage=stage + 1, epoch=0, optimizer=None, best=None, best_loss=math.inf)
        # At a stage boundary there is no optimizer state to keep: the next stage builds its own, over
        # its own parameters (a resume after an interrupt early in that stage starts it afresh).
        save_checkpoint(stage + 1, 0, None, None, math.inf)

    structure_arrays: dict[str, np.ndarray] = {}
    if cfg.method == "mlp":
        # Stage 0: every channel, on the profiles themselves.
        run_stage(0, "network -> profiles", cfg.epochs, list(model.net.parameters()), cfg.lr,
                  lambda b: wmse(model(X[b]), Y[b]), lambda b: wmse(model(X[b]), Y[b], structure),
                  decay=cfg.weight_decay, floor=0.0)
        if cfg.structure_epochs > 0:
            structure_arrays, struct_meta = _structure_stage(
                grid, cfg, train_idx, X, tr, va, device, state, saved_structure, nets, run_stage)
    elif cfg.method == "cae":
        run_stage(0, "auto-encoder", cfg.cae_epochs, list(model.encoder.parameters()) + list(model.decoder.parameters()),
                  cfg.lr, lambda b: wmse(model.autoencode(model.padded(Y[b])), Y[b]),
                  lambda b: wmse(model.autoencode(model.padded(Y[b])), Y[b]))
        with torch.no_grad():
            latents = model.encoder(model.padded(Y))
    else:
        # PCA: the decoder starts as the leading principal components of the training profiles.
        flat = y_norm[train_idx].reshape(len(train_idx), -1)
        _, sing, vt = np.linalg.svd(flat - flat.mean(axis=0), full_matrices=False)
        comps = vt[: cfg.latent]
        with torch.no_grad():
            model.decoder.linear.weight.copy_(torch.tensor(comps.T, dtype=torch.float32))
            model.decoder.linear.bias.copy_(torch.tensor(flat.mean(axis=0), dtype=torch.float32))
        latents = torch.tensor((y_norm.reshape(len(y_norm), -1) - flat.mean(axis=0)) @ comps.T, dtype=torch.float32, device=device)
        state["stage"] = max(state["stage"], 1)
    if cfg.method != "mlp":
        lat_scale = latents[tr].std(dim=0).clamp_min(1e-6)
        run_stage(1, "network -> latent", cfg.net_epochs, list(model.net.parameters()), cfg.lr,
                  lambda b: (((model.net(X[b]) - latents[b]) / lat_scale) ** 2).mean(),
                  lambda b: (((model.net(X[b]) - latents[b]) / lat_scale) ** 2).mean())
        run_stage(2, "end-to-end fine-tuning", cfg.finetune_epochs,
                  list(model.net.parameters()) + list(model.decoder.parameters()),
                  cfg.finetune_lr, lambda b: wmse(model(X[b]), Y[b]), lambda b: wmse(model(X[b]), Y[b]))

    model.eval()
    tensors = {k: v.detach().cpu().numpy() for k, v in model.inference_state().items()}
    if nets["structure"] is not None:
        tensors.update({f"structure.{k}": v.detach().cpu().numpy() for k, v in nets["structure"].state_dict().items()})
    meta = {
        "grid": grid_name,
        "family": family.name,
        "native_format": family.native_format,
        "config": net_cfg.to_dict(),
        "train_config": asdict(cfg),
        "channels": [dict(ch.to_dict(), unit=_unit(ch.name)) for ch in family.channels],
        "log_tau": grid.log_tau.tolist(),
        "depth_layer": family.depth_layer,
        "axes": list(family.axes),
        "param_norm": scaling.to_dict(),
        "fixed": grid.fixed,
        "reference": _reference(grid),
        "provenance": {
            "data_hash": grid.data_hash,
            "n_models": int(len(grid.params)),
            "split_seed": cfg.seed,
            "split": {"train": len(train_idx), "validation": len(val_idx), "test": len(test_idx)},
            "test_nodes": grid.params[test_idx].tolist(),
            "validation_nodes": grid.params[val_idx].tolist(),
            "code_version": __version__,
            "command": (earlier["commands"] or [command])[0],
            **({"resumed_with": earlier["commands"][1:] + [command]} if earlier["commands"] else {}),
            "trained_seconds": round(earlier["trained_seconds"] + time.monotonic() - start_time, 1),
            "history": earlier["history"] + history,
            "report": grid.report,
        },
    }
    if structure_arrays:
        meta["structure"] = struct_meta
    weights = Weights(meta, tensors, mean, scale, grid.params, arrays=dict(structure_arrays))
    finalize(weights, grid, train_idx, val_idx, log)
    if calibrate is not None:
        arrays, summary = calibrate(weights, grid, val_idx)
        weights.arrays.update(arrays)
        weights.meta["uncertainty"] = summary
    if score is not None:
        weights.meta["provenance"]["test_metrics"] = score(weights, grid, test_idx)
    save(weights, output)
    return weights


def finalize(weights: Weights, grid: GridData, train_idx: np.ndarray, val_idx: np.ndarray, log=None) -> None:
    """Attach the hybrid's arrays to ``weights`` (in place).

    Every channel but the MARCS partial pressures (too many to store) gets residuals, in its
    standard representation, at every grid node, test nodes included, so that each grid model
    comes back (int16 codes).  The blend weights are fitted per
    axis on the validation nodes, each rebuilt from the training nodes alone (see
    :func:`innterpol_cli.hybrid.fit_alpha`).
    """
    log = log or (lambda message: None)
    family = grid.family
    scaling = ParamScaling.from_dict(weights.meta["param_norm"], family.axes)
    kept = {k: v for k, v in (weights.arrays or {}).items() if k.startswith("structure/")}
    pred = np.concatenate([engine.profiles(weights.tensors, weights.meta, kept, weights.mean, weights.scale,
                                           scaling(grid.params[s: s + 2048]))
                           for s in range(0, len(grid.params), 2048)])
    learned = pred * weights.scale[None, :, None] + weights.mean[None]
    channels = np.array([c for c, ch in enumerate(family.channels) if not ch.name.startswith("pp:")])
    n_depth = grid.values.shape[2]
    truth = np.stack([family.channels[c].standard(grid.values[:, c]) for c in channels], axis=1).reshape(len(pred), -1)
    network = learned_to_standard(list(family.channels), learned, channels)
    alpha, alpha_linear, counts = hybrid.fit_alpha(grid.params, truth, network, np.asarray(train_idx),
                                                   np.asarray(val_idx), n_depth, log,
                                                   names=[family.channels[c].name for c in channels])
    zero_channels = np.array([c for c in channels if family.channels[c].zero_floor], dtype=int)
    zero = grid.values[:, zero_channels].reshape(len(grid.params), -1) == 0.0 if len(zero_channels) else None
    weights.arrays = {**kept, **hybrid.residual_arrays(grid.params, truth - network, channels, alpha, zero,
                                                       zero_channels, alpha_linear)}
    # Per-node scalars the files carry, interpolated like the profiles (log10): ATLAS9's PRADK.
    for name, values in grid.scalars.items():
        if np.all(values > 0):
            weights.arrays[f"scalar/{name}"] = np.log10(values)
    weights.meta["hybrid"] = {
        "alpha_fitted_on": dict(zip(family.axes, counts)),
        "alpha": {axis: {family.channels[c].name: float(alpha[j, i * n_depth]) for i, c in enumerate(channels)}
                  for j, axis in enumerate(family.axes)},
        "alpha_linear": {axis: {family.channels[c].name: float(alpha_linear[j, i * n_depth])
                                for i, c in enumerate(channels)} for j, axis in enumerate(family.axes)},
    }


#: The channels the structure network learns (those of them a grid has): the quantities the
#: synthesis codes read and the accuracy tables judge.
STRUCTURE = ("column_mass", "temperature", "gas_pressure", "electron_density", "electron_pressure")


def _structure_stage(grid: GridData, cfg: TrainConfig, train_idx, X, tr, va, device, state, saved, nets, run_stage):
    """Stage 1 of ``mlp``: a second network of the same shape for the structure channels alone,
    in their standard representation (log10 RHOX, T, P, Ne / Pe) standardised at every depth.
    Learned apart from the convection columns and partial pressures, these come out several times
    more accurate (the README's method comparison); at inference they replace the main network's
    (:func:`innterpol_cli.engine.profiles`).  Seeded at the stage's start, so that a run resumed
    at the stage boundary gives the same network as one that never stopped."""
    import torch

    from .nn import NetConfig, ProfileNet

    family = grid.family
    channels = [c for c, ch in enumerate(family.channels) if ch.name in STRUCTURE]
    standard = np.stack([family.channels[c].standard(grid.values[:, c]) for c in channels], axis=1)
    mean = standard[train_idx].mean(axis=0)
    scale = np.maximum(standard[train_idx].std(axis=0), 1e-6)
    Y = torch.tensor((standard - mean) / scale, dtype=torch.float32, device=device)
    if state["stage"] <= 1:
        torch.manual_seed(cfg.seed + 1)
    net = ProfileNet(NetConfig(n_params=X.shape[1], n_channels=len(channels), n_depth=standard.shape[2], method="mlp",
                               layers=cfg.layers, width=cfg.width)).to(device)
    if saved is not None:
        net.load_state_dict(saved)
    nets["structure"] = net
    shape = (-1, len(channels), standard.shape[2])

    def loss(b):
        return ((net(X[b]).view(shape) - Y[b]) ** 2).mean()

    run_stage(1, "structure network", cfg.structure_epochs, list(net.parameters()), cfg.lr, loss, loss,
              decay=cfg.weight_decay, floor=0.0, module=net)
    net.eval()
    return ({"structure/mean": mean, "structure/scale": scale},
            {"channels": channels, "layers": cfg.layers, "width": cfg.width})


def _unit(name: str) -> str:
    from formats.model import LAYER_UNITS

    if name.startswith("pp:"):
        return "log10(dyn / cm2)"
    return LAYER_UNITS.get(name, "")


def _reference(grid: GridData) -> dict:
    """Abundance pattern and format text of a solar-metallicity model of the grid, scaled at predict time."""
    models = grid.models or []
    pick = None
    for m in models:
        if abs(m.mh) < 1e-6 and abs(m.am) < 1e-6:
            pick = m
            break
    pick = pick or (models[0] if models else None)
    if pick is None:
        return {}
    keep = ("kurucz_h_he", "atlas9_opacity", "atlas9_convection", "marcs_convection", "marcs_xyz")
    eps = np.array(pick.abundances, dtype=float)
    solar = eps.copy()
    solar[2:] = np.where(eps[2:] > -20, eps[2:] - pick.mh, eps[2:])
    return {"abundances": solar.tolist(), "abundances_am": pick.am, "extra": {k: pick.extra[k] for k in keep if k in pick.extra}}


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("--device cuda: no CUDA device is available (use --device cpu)")
    return torch.device(name)
