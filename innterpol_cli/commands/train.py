"""``innterpol train``: learn a grid and write its weights file."""

from __future__ import annotations

import contextlib
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

import typer

from ..app import app


@app.command()
def train(
    paths: list[str] = typer.Argument(..., help="Grid files, directories or glob patterns (.gz is fine)."),
    grid: str = typer.Option(..., "--grid", help="Name recorded in the weights (e.g. atlas9-ck04, marcs-sdss, phoenix)."),
    output: Path = typer.Option(..., "-o", "--output", help="Weights file to write (.npz)."),
    method: str | None = typer.Option(
        None, help="mlp (default: one network straight to the profiles), cae (the paper's auto-encoder + network) "
                   "or pca (PCA + network)."),
    epochs: int | None = typer.Option(
        None, help="Epochs of mlp's one stage, or of cae/pca's fine-tuning (their first two stages take their own defaults)."),
    cae_epochs: int | None = typer.Option(None, help="Auto-encoder epochs."),
    net_epochs: int | None = typer.Option(None, help="Parameter-to-latent epochs."),
    batch_size: int | None = typer.Option(None, help="Mini-batch size."),
    latent: int | None = typer.Option(None, help="Latent vector size."),
    layers: int | None = typer.Option(None, help="Hidden layers of the parameter network."),
    width: int | None = typer.Option(None, help="Width of the parameter network."),
    lr: float | None = typer.Option(None, help="Learning rate (mlp; cae/pca: of the first two stages)."),
    weight_decay: float | None = typer.Option(None, help="AdamW weight decay (mlp)."),
    structure_epochs: int | None = typer.Option(
        None, help="mlp: epochs of the structure network (RHOX, T, P, Ne/Pe learned apart; 0: none)."),
    structure_members: int | None = typer.Option(
        None, help="mlp: structure networks in the ensemble (each seeded apart; their mean is used)."),
    structure_layers: int | None = typer.Option(None, help="mlp: layers of the structure networks (default: --layers)."),
    structure_width: int | None = typer.Option(None, help="mlp: width of the structure networks (default: --width)."),
    structure_loss: str | None = typer.Option(
        None, help="mlp: the structure networks' loss: mse (default) or l1mse (mean |d| + mean d^2)."),
    patience: int | None = typer.Option(None, help="Stop a stage after this many epochs without a better validation loss."),
    seed: int | None = typer.Option(None, help="Seed of the split and of the initialisation."),
    device: str | None = typer.Option(None, help="cpu (default), cuda or auto."),
    threads: int | None = typer.Option(None, help="CPU threads for torch (0: torch's default)."),
    max_minutes: float | None = typer.Option(None, help="Wall-clock budget; stages stop early to meet it."),
    config: Path | None = typer.Option(None, help="JSON file of training settings (flags override it)."),
    checkpoint_dir: Path | None = typer.Option(None, help="Where to keep checkpoints (default: OUTPUT.ckpt/)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint."),
    force: bool = typer.Option(False, "--force", help="Replace an existing weights file."),
    calibrate_only: bool = typer.Option(
        False, "--calibrate-only",
        help="Do not train: fit the uncertainty calibration of the existing weights -o on these grid files "
             "(their recorded validation nodes), re-score the test nodes and rewrite the file.",
    ),
) -> None:
    """Train the auto-encoder and the parameter network on a grid; write one weights file.

    The file holds the network, the hybrid's residuals at every grid node and the uncertainty
    calibration (fitted on the validation nodes)."""
    with _stop_soon_after_interrupt():
        # torch comes with the `train` extra: without it the command fails here (cli.missing_extra
        # names the extra), not after reading the grid.
        import numpy as np
        import torch  # noqa: F401

        from ..console import info, warn
        from ..evaluation.scoring import along_axes
        from ..evaluation.tables import HEADLINE, print_axes
        from ..grid import build_grid, family_for_format, read_grid_files
        from ..interpolate import Interpolator
        from ..train import train as run
        from ..trainconfig import TrainConfig

        command = "innterpol " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        if calibrate_only:
            from ..calibrate import recalibrate

            weights, data = recalibrate(output, paths, grid, command, log=info, warn=warn)
            print_axes(weights.meta["provenance"]["test_metrics"], grid, HEADLINE.get(data.family.name))
            info(f"wrote {output} ({output.stat().st_size / 1e6:.2f} MB)")
            return
        if output.exists() and not force and not resume:
            raise typer.BadParameter(f"{output} exists: pass --force to replace it", param_hint="-o")
        cfg = TrainConfig.resolve(
            str(config) if config else None, method=method, cae_epochs=cae_epochs,
            net_epochs=net_epochs, batch_size=batch_size, latent=latent, layers=layers, width=width, lr=lr,
            weight_decay=weight_decay, structure_epochs=structure_epochs,
            structure_members=structure_members, structure_loss=structure_loss,
            structure_layers=structure_layers, structure_width=structure_width, patience=patience, seed=seed,
            device=device, threads=threads, max_minutes=max_minutes,
        )
        if epochs is not None:
            cfg = TrainConfig.resolve(None, **{**asdict(cfg), "epochs" if cfg.method == "mlp" else "finetune_epochs": epochs})
        info(f"reading grid files for {grid} ...")
        models, fmt, report = read_grid_files(paths)
        data = build_grid(models, family_for_format(fmt), report, warn=warn)
        info(f"{len(models)} models read ({fmt}); {len(data.params)} usable on {len(data.log_tau)} depths")
        for line in data.report:
            info(f"  {line}")
        ckpt = checkpoint_dir or output.with_name(output.name + ".ckpt")

        def score(weights, data, test_idx):
            info(f"scoring {len(test_idx)} held-out test nodes along each axis ...")
            return along_axes(Interpolator(weights), data.params, data.values, test_idx, log=info)

        def calibrate(weights, data, val_idx):
            from ..uncertaintyfit import CalibrationError, fit

            info(f"calibrating the uncertainty on {len(val_idx)} validation nodes ...")
            try:
                return fit(Interpolator(weights), data.params, data.values, val_idx, log=info)
            except (CalibrationError, np.linalg.LinAlgError) as exc:
                warn(f"no uncertainty calibration: {exc}; predictions from these weights carry no sigma")
                return {}, {"skipped": str(exc)}

        weights = run(data, cfg, str(output), grid_name=grid, command=command, checkpoint_dir=str(ckpt), resume=resume,
                      show_progress=True, log=info, score=score, calibrate=calibrate)
        print_axes(weights.meta["provenance"].get("test_metrics", {}), grid, HEADLINE.get(data.family.name))
        info(f"wrote {output} ({output.stat().st_size / 1e6:.2f} MB)")


#: Seconds Ctrl-C gets to stop training through KeyboardInterrupt before the process is ended.
INTERRUPT_GRACE = 1.5


@contextlib.contextmanager
def _stop_soon_after_interrupt(grace: float = INTERRUPT_GRACE):
    """Make Ctrl-C end ``train`` within ``grace`` seconds at any stage.

    Python raises KeyboardInterrupt only between bytecodes of the main thread, so a long call into
    C (a torch kernel, a large numpy operation, an import) can delay it for many seconds.  The C
    signal handler also writes the signal number to the wakeup descriptor at once; a watcher
    thread reads it and, if the process is still alive ``grace`` seconds later, ends it with
    exit code 130.  The weights file is only ever replaced by an atomic rename, so the previous
    weights stay as they were.  Both are undone when the block ends.
    """
    import os
    import signal
    import threading

    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    try:
        previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except ValueError:  # not in the main thread (embedded use): KeyboardInterrupt alone
        os.close(read_fd)
        os.close(write_fd)
        yield
        return

    finished = threading.Event()

    def watch() -> None:
        while True:
            received = os.read(read_fd, 64)
            if not received:
                os.close(read_fd)
                return
            if signal.SIGINT in received and not finished.wait(grace):
                sys.stderr.write("error: interrupted\n")
                sys.stderr.flush()
                os._exit(130)

    threading.Thread(target=watch, name="interrupt-watch", daemon=True).start()
    try:
        yield
    finally:
        finished.set()
        signal.set_wakeup_fd(previous)
        os.close(write_fd)  # the watcher reads end-of-file and returns
