"""Training.  ``mlp`` (the default): one network from the parameters straight to the normalised
profiles, AdamW on a cosine schedule over a fixed number of epochs, the epoch of lowest
validation loss kept.  ``cae`` (the paper's pipeline) and ``pca``: the CAE (or PCA) first, then
the parameter network on the frozen encoder's latents, then end-to-end fine-tuning of
network + decoder on the decoded profiles.  Early stopping on the validation split at every
stage.  Then the
hybrid's arrays (:mod:`innterpol_cli.hybridfit`): blend weights fitted on the validation nodes
along each axis, and the network's residuals at every grid node, test nodes included.

What a run is asked to do (:class:`~innterpol_cli.trainconfig.TrainConfig`) and how the nodes
are split are in :mod:`innterpol_cli.trainconfig`; the resolved config is saved in the weights file.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, engine, hybridfit
from .encoding import ParamScaling, ProfileScaling, learned_to_standard
from .grid import GridData
from .trainconfig import TrainConfig, TrainError, split_nodes
from .weightsfile import Weights, save


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
    arrays and summary (:func:`innterpol_cli.uncertaintyfit.fit`), and ``score(weights, grid,
    test_idx)`` the test metrics recorded in the file (the caller does both: training imports no
    inference).
    """
    import torch

    from .nn import AtmosphereNet

    log = log or (lambda message: None)
    device = _device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    data = normalise(grid, cfg)
    log(f"{len(grid.params)} models: {len(data.train_idx)} train, {len(data.val_idx)} validation, "
        f"{len(data.test_idx)} test")
    net_cfg = net_config(grid, cfg)
    run = Run(cfg, AtmosphereNet(net_cfg).to(device), torch.tensor(data.train_idx, device=device),
              torch.tensor(data.val_idx, device=device), Path(checkpoint_dir) / "checkpoint.pt" if checkpoint_dir else None,
              command, show_progress, log)
    X = torch.tensor(data.x, dtype=torch.float32, device=device)
    Y = torch.tensor(data.y, dtype=torch.float32, device=device)
    if resume:
        load_checkpoint(run, device)
    run.start_time = time.monotonic()
    structure_arrays, struct_meta = {}, None
    if cfg.method == "mlp":
        structure_arrays, struct_meta = mlp_stages(run, grid, data, X, Y)
    else:
        latent_stages(run, grid, data, X, Y)

    run.model.eval()
    tensors = {k: v.detach().cpu().numpy() for k, v in run.model.inference_state().items()}
    for member, net in enumerate(run.structure or []):
        prefix = engine.structure_prefix(member)
        tensors.update({f"{prefix}.{k}": v.detach().cpu().numpy() for k, v in net.state_dict().items()})
    meta = build_meta(grid, cfg, grid_name, net_cfg, data, run.provenance())
    if structure_arrays:
        meta["structure"] = struct_meta
    weights = Weights(meta, tensors, data.profiles.mean, data.profiles.scale, grid.params, arrays=dict(structure_arrays))
    finalize(weights, grid, data.train_idx, data.val_idx, log)
    if calibrate is not None:
        arrays, summary = calibrate(weights, grid, data.val_idx)
        weights.arrays.update(arrays)
        weights.meta["uncertainty"] = summary
    if score is not None:
        weights.meta["provenance"]["test_metrics"] = score(weights, grid, data.test_idx)
    save(weights, output)
    return weights


# ---------------------------------------------------------------------------------- the data
@dataclass
class Normalised:
    """The split of the grid's nodes and what the networks see: scaled parameters ``x`` (N, P)
    and normalised learned profiles ``y`` (N, C, D), both scaled on the training nodes."""

    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    params: ParamScaling
    profiles: ProfileScaling
    x: np.ndarray
    y: np.ndarray


def normalise(grid: GridData, cfg: TrainConfig) -> Normalised:
    """Split the nodes (:func:`split_nodes`; with no validation node, the first training node
    stands in) and scale parameters and profiles on the training nodes."""
    train_idx, val_idx, test_idx = split_nodes(grid.params, cfg)
    if len(train_idx) < 2:
        raise TrainError(f"too few models to train ({len(grid.params)} usable)")
    if len(val_idx) == 0:
        val_idx = train_idx[:1]
    profiles = ProfileScaling.fit(grid.transformed[train_idx])
    params = ParamScaling.fit(grid.params, grid.family.axes)
    return Normalised(train_idx, val_idx, test_idx, params, profiles, params(grid.params),
                      profiles.normalise(grid.transformed))


def net_config(grid: GridData, cfg: TrainConfig):
    """The main network's :class:`~innterpol_cli.nn.NetConfig` for ``grid``."""
    from .nn import NetConfig

    family = grid.family
    return NetConfig(n_params=len(family.axes), n_channels=len(family.channels), n_depth=grid.transformed.shape[2],
                     method=cfg.method, latent=cfg.latent, layers=cfg.layers, width=cfg.width, conv_width=cfg.conv_width)


def channel_weights(family, pp: float, convection: float, device):
    """Loss weights (1, C, 1), mean 1: ``pp`` for MARCS partial pressures, ``convection`` for the
    zero-floor channels, 1 for the others."""
    import torch

    values = np.array([pp if ch.name.startswith("pp:") else convection if ch.zero_floor else 1.0 for ch in family.channels])
    return torch.tensor(values / values.mean(), dtype=torch.float32, device=device)[None, :, None]


def wmse(pred, target, weight):
    """Mean squared error, each channel weighted (:func:`channel_weights`)."""
    return ((pred - target) ** 2 * weight).mean()


# --------------------------------------------------------------------------- the run's record
@dataclass
class Run:
    """What the stages of one training share: the model, the training and validation rows, the
    checkpoint file, and where the run stands: the stage and epoch reached, with the optimizer
    state and best epoch so far inside a stage (restored on resume), and the record of stages."""

    cfg: TrainConfig
    model: Any
    train_rows: Any
    val_rows: Any
    checkpoint: Path | None
    command: str
    show_progress: bool
    log: Callable[[str], None]
    start_time: float = 0.0
    #: The structure networks (the ensemble's members), made at their stages
    #: (:func:`structure_stage`), and their saved states.
    structure: list | None = None
    saved_structure: list | None = None
    stage: int = 0
    epoch: int = 0
    optimizer: dict | None = None
    best: dict | None = None
    best_loss: float = math.inf
    history: list[dict] = field(default_factory=list)
    #: What earlier runs of a resumed training did (stages, time, commands), kept in the checkpoint.
    earlier: dict = field(default_factory=lambda: {"history": [], "trained_seconds": 0.0, "commands": []})

    def provenance(self) -> dict:
        """The stages run, the seconds spent and the commands, this run's included."""
        return {"history": self.earlier["history"] + self.history,
                "trained_seconds": self.earlier["trained_seconds"] + time.monotonic() - self.start_time,
                "commands": self.earlier["commands"] + [self.command]}

    def stage_deadline(self, stage: int) -> float:
        """When stage ``stage`` must end under ``max_minutes`` (monotonic clock; inf: no limit).
        The budget is shared CAE 15%, latent regression 15%, fine-tuning 70%."""
        minutes = self.cfg.max_minutes
        if not minutes:
            return math.inf
        deadline = self.start_time + minutes * 60 if minutes > 0 else math.inf
        share = (1.0,) if self.cfg.method == "mlp" else (0.15, 0.15, 0.70)
        return min(deadline, self.start_time + sum(share[: stage + 1]) * minutes * 60)


def save_checkpoint(run: Run, stage: int, epoch: int, optimizer=None, best: dict | None = None,
                    best_loss: float = math.inf) -> None:
    """Write the run's checkpoint (atomically), if it has a checkpoint file."""
    import torch

    if not run.checkpoint:
        return
    run.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    tmp = run.checkpoint.with_suffix(".tmp")
    torch.save({"stage": stage, "epoch": epoch, "model": run.model.state_dict(),
                "structure": [net.state_dict() for net in run.structure] if run.structure else None,
                "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "best": best, "best_loss": best_loss, "provenance_json": json.dumps(run.provenance())}, tmp)
    tmp.replace(run.checkpoint)


def load_checkpoint(run: Run, device) -> None:
    """Restore the model, the stage reached and the record of earlier runs from the checkpoint."""
    import warnings

    import torch

    path = run.checkpoint
    if not path or not path.exists():
        raise TrainError(f"--resume: no checkpoint at {path}")
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols are not for the user
            warnings.simplefilter("ignore")
            saved = torch.load(path, map_location=device, weights_only=True)
        if not isinstance(saved, dict) or "model" not in saved:
            raise ValueError("not a checkpoint")
    except Exception:  # torch's UnpicklingError advises weights_only=False: never for a file we did not write
        raise TrainError(f"{path}: not an innterpol checkpoint (damaged, or it holds pickled objects, which "
                         f"innterpol never loads): remove it, or start without --resume") from None
    run.model.load_state_dict(saved["model"])
    structure = saved.get("structure")
    run.saved_structure = [structure] if isinstance(structure, dict) else structure  # one member: a dict
    run.stage, run.epoch = int(saved["stage"]), int(saved["epoch"])
    run.optimizer, run.best = saved.get("optimizer"), saved.get("best")
    run.best_loss = float(saved.get("best_loss", math.inf))
    run.earlier = json.loads(saved.get("provenance_json", "null") or "null") or run.earlier
    run.log(f"resuming from {path}: stage {run.stage}, epoch {run.epoch}")


# ---------------------------------------------------------------------------------- a stage
def get_lr(epoch: int, epochs: int, lr: float, floor: float, time_done: float = 0.0) -> float:
    """The learning rate of ``epoch``: cosine decay from ``lr`` to ``floor * lr`` over ``epochs``
    or, with a wall-clock budget, over the stage's time (``time_done``: the fraction of it
    spent), whichever runs out first; ``floor * lr`` from then on."""
    done = max(epoch / max(1, epochs), time_done)
    return lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(done, 1.0))))


@dataclass
class BestEpoch:
    """The epoch of lowest validation loss in a stage so far: its loss, the module's state then,
    and the epochs run since."""

    loss: float = math.inf
    state: dict | None = None
    since: int = 0

    def update(self, val_loss: float, module) -> None:
        if val_loss < self.loss:
            self.loss, self.since = val_loss, 0
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        else:
            self.since += 1


def train_epoch(module, optimizer, rows, batch_size: int, step_fn) -> float:
    """One pass over the training ``rows`` in a random order, a step per mini-batch; the mean loss."""
    import torch

    module.train()
    perm = rows[torch.randperm(len(rows), device=rows.device)]
    total = 0.0
    for b in range(0, len(perm), batch_size):
        batch = perm[b: b + batch_size]
        optimizer.zero_grad(set_to_none=True)
        loss = step_fn(batch)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(batch)
    return total / len(perm)


def run_stage(run: Run, stage: int, name: str, epochs: int, params, lr: float, step_fn, val_fn, decay: float = 0.0,
              floor: float = 0.03, module=None) -> None:
    """Train ``module`` (the model by default) for stage ``stage``: Adam (AdamW with ``decay``) on
    :func:`get_lr`'s schedule, validated every epoch, stopped after ``cfg.patience`` epochs
    without a better validation loss or at the stage's deadline; the best epoch is kept.  A stage
    the run has passed is skipped, one it stopped in is resumed; checkpoints every 25 epochs and
    at the end."""
    import torch

    if run.stage > stage:
        return
    cfg = run.cfg
    module = module if module is not None else run.model
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=decay) if decay else torch.optim.Adam(params, lr=lr)
    first = 0
    best = BestEpoch()
    if run.stage == stage and run.optimizer and run.epoch > 0:
        optimizer.load_state_dict(run.optimizer)
        first = run.epoch
        best.state, best.loss = run.best, run.best_loss
    stage_deadline = run.stage_deadline(stage)
    first_val = None
    with _Progress(run.show_progress) as progress:
        task = progress.stage(name, epochs, first)
        stage_start = time.monotonic()
        for epoch in range(first, epochs):
            time_done = 0.0
            if math.isfinite(stage_deadline):
                time_done = (time.monotonic() - stage_start) / max(1e-9, stage_deadline - stage_start)
            for group in optimizer.param_groups:
                group["lr"] = get_lr(epoch, epochs, lr, floor, time_done)
            train_loss = train_epoch(module, optimizer, run.train_rows, cfg.batch_size, step_fn)
            module.eval()
            with torch.no_grad():
                val_loss = float(val_fn(run.val_rows))
            if first_val is None:
                first_val = val_loss
            best.update(val_loss, module)
            progress.update(task, epoch + 1, train_loss, val_loss, best.loss)
            if (epoch + 1) % 25 == 0:
                save_checkpoint(run, stage, epoch + 1, optimizer, best.state, best.loss)
            if (cfg.patience and best.since >= cfg.patience) or time.monotonic() > stage_deadline:
                break
    if best.state is not None:
        module.load_state_dict(best.state)
    run.log(f"{name}: best validation loss {best.loss:.3e}")
    run.history.append({"stage": name, "epochs": epoch + 1 - first if epochs > first else 0,
                        "first_val_loss": first_val, "best_val_loss": best.loss})
    run.stage, run.epoch, run.optimizer, run.best, run.best_loss = stage + 1, 0, None, None, math.inf
    # At a stage boundary there is no optimizer state to keep: the next stage builds its own, over
    # its own parameters (a resume after an interrupt early in that stage starts it afresh).
    save_checkpoint(run, stage + 1, 0)


# --------------------------------------------------------------------------------- the methods
def mlp_stages(run: Run, grid: GridData, data: Normalised, X, Y) -> tuple[dict, dict | None]:
    """``mlp``: stage 0, the network on every channel of the profiles themselves; stage 1, the
    structure network (:func:`structure_stage`).  Returns the structure's arrays and meta."""
    model, cfg = run.model, run.cfg
    weight = channel_weights(grid.family, cfg.pp_weight, cfg.convection_weight, X.device)
    # The epoch kept is the one of lowest validation loss on the structure (T, pressures, RHOX, ...):
    # the convection columns, zero in radiative layers and noisy, and the partial pressures would
    # otherwise pick an early epoch whose structure is far from the best.
    structure = channel_weights(grid.family, 0.0, 0.0, X.device)
    run_stage(run, 0, "network -> profiles", cfg.epochs, list(model.net.parameters()), cfg.lr,
              lambda b: wmse(model(X[b]), Y[b], weight), lambda b: wmse(model(X[b]), Y[b], structure),
              decay=cfg.weight_decay, floor=0.0)
    if cfg.structure_epochs <= 0:
        return {}, None
    return structure_stage(run, grid, data.train_idx, X)


def latent_stages(run: Run, grid: GridData, data: Normalised, X, Y) -> None:
    """``cae`` and ``pca``: the auto-encoder (stage 0; ``pca``: the decoder set to the leading
    principal components of the training profiles instead), the network on the frozen encoder's
    latents (stage 1), then end-to-end fine-tuning of network + decoder (stage 2)."""
    import torch

    model, cfg = run.model, run.cfg
    weight = channel_weights(grid.family, cfg.pp_weight, 1.0, X.device)

    def profile_loss(b):
        return wmse(model(X[b]), Y[b], weight)

    if cfg.method == "cae":
        def autoencoder_loss(b):
            return wmse(model.autoencode(model.padded(Y[b])), Y[b], weight)

        run_stage(run, 0, "auto-encoder", cfg.cae_epochs,
                  list(model.encoder.parameters()) + list(model.decoder.parameters()), cfg.lr, autoencoder_loss,
                  autoencoder_loss)
        with torch.no_grad():
            latents = model.encoder(model.padded(Y))
    else:
        latents = pca_latents(model, data, cfg.latent, X.device)
        run.stage = max(run.stage, 1)
    lat_scale = latents[run.train_rows].std(dim=0).clamp_min(1e-6)

    def latent_loss(b):
        return (((model.net(X[b]) - latents[b]) / lat_scale) ** 2).mean()

    run_stage(run, 1, "network -> latent", cfg.net_epochs, list(model.net.parameters()), cfg.lr, latent_loss,
              latent_loss)
    run_stage(run, 2, "end-to-end fine-tuning", cfg.finetune_epochs,
              list(model.net.parameters()) + list(model.decoder.parameters()), cfg.finetune_lr, profile_loss,
              profile_loss)


def pca_latents(model, data: Normalised, latent: int, device):
    """Set ``pca``'s decoder to the leading principal components of the training profiles;
    returns every node's coefficients on them (N, latent)."""
    import torch

    flat = data.y[data.train_idx].reshape(len(data.train_idx), -1)
    _, sing, vt = np.linalg.svd(flat - flat.mean(axis=0), full_matrices=False)
    comps = vt[:latent]
    with torch.no_grad():
        model.decoder.linear.weight.copy_(torch.tensor(comps.T, dtype=torch.float32))
        model.decoder.linear.bias.copy_(torch.tensor(flat.mean(axis=0), dtype=torch.float32))
    return torch.tensor((data.y.reshape(len(data.y), -1) - flat.mean(axis=0)) @ comps.T, dtype=torch.float32,
                        device=device)


#: The channels the structure network learns (those of them a grid has): the quantities the
#: synthesis codes read and the accuracy tables judge.
STRUCTURE = ("column_mass", "temperature", "gas_pressure", "electron_density", "electron_pressure")


def structure_loss(difference, kind: str):
    """The structure network's training loss of ``difference`` (prediction - target, standardised):
    ``mse``, or ``l1mse``, mean |d| + mean d^2, which weighs the typical node as L1 does (the
    median error) while the square still pulls in the rare large misses."""
    squared = (difference**2).mean()
    return squared if kind == "mse" else difference.abs().mean() + squared


def structure_stage(run: Run, grid: GridData, train_idx: np.ndarray, X) -> tuple[dict, dict]:
    """Stages 1, 2, ... of ``mlp``: an ensemble of ``cfg.structure_members`` networks (of the
    main one's shape unless ``structure_layers`` / ``structure_width`` say otherwise) for the
    structure channels alone, in their standard representation
    (log10 RHOX, T, P, Ne / Pe) standardised at every depth, one stage per member, each member
    seeded apart.  Learned apart from the convection columns and partial pressures, these come
    out several times more accurate (the README's method comparison); at inference the members'
    mean replaces the main network's output for those channels
    (:func:`innterpol_cli.engine.profiles`).  Each member is seeded at its stage's start, so
    that a run resumed at a stage boundary gives the same networks as one that never stopped.
    Returns the structure's arrays and meta."""
    import torch

    from .nn import NetConfig, ProfileNet

    cfg, family = run.cfg, grid.family
    channels = [c for c, ch in enumerate(family.channels) if ch.name in STRUCTURE]
    standard = np.stack([family.channels[c].standard(grid.values[:, c]) for c in channels], axis=1)
    scaling = ProfileScaling.fit_per_depth(standard[train_idx])
    Y = torch.tensor(scaling.normalise(standard), dtype=torch.float32, device=X.device)
    shape = (-1, len(channels), standard.shape[2])
    members = cfg.structure_members  # at least 1 (TrainConfig.resolve)
    layers, width = cfg.structure_layers or cfg.layers, cfg.structure_width or cfg.width
    saved = run.saved_structure or []
    run.structure = []
    for member in range(members):
        stage = 1 + member
        if run.stage <= stage:
            torch.manual_seed(cfg.seed + 1 + 1000 * member)
        net = ProfileNet(NetConfig(n_params=X.shape[1], n_channels=len(channels), n_depth=standard.shape[2],
                                   method="mlp", layers=layers, width=width)).to(X.device)
        if member < len(saved) and saved[member] is not None:
            net.load_state_dict(saved[member])
        run.structure.append(net)

        def loss(b, net=net):
            return structure_loss(net(X[b]).view(shape) - Y[b], cfg.structure_loss)

        name = "structure network" if members == 1 else f"structure network {member + 1} of {members}"
        run_stage(run, stage, name, cfg.structure_epochs, list(net.parameters()), cfg.lr, loss, loss,
                  decay=cfg.weight_decay, floor=0.0, module=net)
        net.eval()
    return ({"structure/mean": scaling.mean, "structure/scale": scaling.scale},
            {"channels": channels, "layers": layers, "width": width, "members": members})


# ------------------------------------------------------------------------------ the weights
def build_meta(grid: GridData, cfg: TrainConfig, grid_name: str, net_cfg, data: Normalised, record: dict) -> dict:
    """The weights file's meta.json (:mod:`innterpol_cli.weightsfile`) for a run whose
    :meth:`Run.provenance` is ``record``."""
    family = grid.family
    commands = record["commands"]
    return {
        "grid": grid_name,
        "family": family.name,
        "native_format": family.native_format,
        "config": net_cfg.to_dict(),
        "train_config": asdict(cfg),
        "channels": [dict(ch.to_dict(), unit=_unit(ch.name)) for ch in family.channels],
        "log_tau": grid.log_tau.tolist(),
        "depth_layer": family.depth_layer,
        "axes": list(family.axes),
        "param_norm": data.params.to_dict(),
        "fixed": grid.fixed,
        "reference": _reference(grid),
        "provenance": {
            "data_hash": grid.data_hash,
            "n_models": int(len(grid.params)),
            "split_seed": cfg.seed,
            "split": {"train": len(data.train_idx), "validation": len(data.val_idx), "test": len(data.test_idx)},
            "test_nodes": grid.params[data.test_idx].tolist(),
            "validation_nodes": grid.params[data.val_idx].tolist(),
            "code_version": __version__,
            "command": commands[0],
            **({"resumed_with": commands[1:]} if len(commands) > 1 else {}),
            "trained_seconds": round(record["trained_seconds"], 1),
            "history": record["history"],
            "report": grid.report,
        },
    }


def finalize(weights: Weights, grid: GridData, train_idx: np.ndarray, val_idx: np.ndarray, log=None) -> None:
    """Attach the hybrid's arrays to ``weights`` (in place).

    Every channel but the MARCS partial pressures (too many to store) gets residuals, in its
    standard representation, at every grid node, test nodes included, so that each grid model
    comes back (int16 codes).  The blend weights are fitted per
    axis on the validation nodes, each rebuilt from the training nodes alone (see
    :func:`innterpol_cli.hybridfit.fit_alpha`).
    """
    log = log or (lambda message: None)
    family = grid.family
    scaling = ParamScaling.from_dict(weights.meta["param_norm"], family.axes)
    kept = {k: v for k, v in (weights.arrays or {}).items() if k.startswith("structure/")}
    pred = np.concatenate([engine.profiles(weights.tensors, weights.meta, kept, weights.mean, weights.scale,
                                           scaling(grid.params[s: s + 2048]))
                           for s in range(0, len(grid.params), 2048)])
    learned = weights.profile_scaling.denormalise(pred)
    channels = np.array([c for c, ch in enumerate(family.channels) if not ch.name.startswith("pp:")])
    n_depth = grid.values.shape[2]
    truth = np.stack([family.channels[c].standard(grid.values[:, c]) for c in channels], axis=1).reshape(len(pred), -1)
    network = learned_to_standard(list(family.channels), learned, channels)
    alpha, alpha_linear, counts = hybridfit.fit_alpha(grid.params, truth, network, np.asarray(train_idx),
                                                   np.asarray(val_idx), n_depth, log,
                                                   names=[family.channels[c].name for c in channels])
    zero_channels = np.array([c for c in channels if family.channels[c].zero_floor], dtype=int)
    zero = grid.values[:, zero_channels].reshape(len(grid.params), -1) == 0.0 if len(zero_channels) else None
    weights.arrays = {**kept, **hybridfit.residual_arrays(grid.params, truth - network, channels, alpha, zero,
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
