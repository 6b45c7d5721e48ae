"""The training loop: AdamW with warm-up, an EMA of the weights, mixed precision, gradient clipping,
data parallelism, periodic evaluation and resumable checkpoints.

Steps are optimizer steps. Everything random is keyed to the step: the examples of step s are positions
``s * batch_size ...`` of a deterministic stream, the diffusion noise of step s on rank r comes from a
generator seeded with (seed, s, r), and the global generators (dropout) are restored from the checkpoint.
On the CPU a resumed run is therefore bit-identical to an uninterrupted one; on CUDA the same holds for
the data and the noise, while cuDNN's fastest kernels are not bit-reproducible themselves.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from model.checkpoint import CheckpointError, describe_misfit, read_checkpoint, save_checkpoint
from model.data.dataset import Example, list_images
from model.diffusion.objective import TrainingObjective
from model.fullres.defaults import task_defaults
from model.nn import PaletteUNet, create_network
from model.runtime.precision import autocast, grad_scaler, resolve_training_precision
from model.training.config import TrainConfig
from model.training.data import StreamBatches, training_dataset, training_loader
from model.training.distributed import Distributed, distributed
from model.training.ema import ema_decay, update_ema
from model.training.evaluation import Evaluator
from model.training.metrics import MetricsLog
from model.training.optim import build_optimizer, learning_rate
from model.training.rng import capture_rng, derive_seed, restore_rng, seed_everything
from model.training.state import (
    ResumeError,
    TrainingProgress,
    TrainingState,
    latest_checkpoint,
    load_training_checkpoint,
    save_training_checkpoint,
    step_directory_name,
)

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"
FINAL_WEIGHTS = "final.safetensors"
# derive_seed keys of the trainer's random streams (the data stream and evaluation use their own).
NOISE_STREAM = 2
RANK_STREAM = 3


@dataclass(frozen=True)
class TrainResult:
    step: int
    out_dir: Path
    final_weights: Path  # the EMA weights as an inference checkpoint


class _Window:
    """Training statistics accumulated on the device between two log lines (no per-step host sync)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.restart()

    def restart(self) -> None:
        self.sums = torch.zeros(2, device=self.device, dtype=torch.float64)  # loss, grad norm
        self.steps = 0
        self.started = time.perf_counter()
        self.excluded = 0.0  # seconds spent evaluating and checkpointing, which are not training time

    def training_seconds(self) -> float:
        return time.perf_counter() - self.started - self.excluded

    def add(self, loss: Tensor, grad_norm: Tensor) -> None:
        self.sums += torch.stack([loss.detach().double(), grad_norm.detach().double()])
        self.steps += 1


class Trainer:
    """One process's share of a training run; build it inside :func:`~model.training.distributed`."""

    def __init__(
        self, config: TrainConfig, out_dir: Path, context: Distributed, resume_from: Path | None = None
    ) -> None:
        if resume_from is None and latest_checkpoint(out_dir) is not None:
            raise ResumeError(
                f"{out_dir} already holds checkpoints of a run: resume it (--resume auto) or choose another "
                "output directory"
            )
        self.config = config
        self.out_dir = out_dir
        self.context = context
        self.device = context.device
        self.precision = resolve_training_precision(config.precision, self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
            torch.backends.cuda.matmul.allow_tf32 = True

        seed_everything(config.seed)  # the same initial weights on every rank
        # Built as is: ADM's zero-initialised output layers make every residual block start as the
        # identity, and the network's output start at zero.
        self.network = create_network(config.model).to(self.device)
        self.ema: PaletteUNet = copy.deepcopy(self.network).eval().requires_grad_(False)
        self.optimizer = build_optimizer(self.network, config.optimizer)
        self.scaler = grad_scaler(self.device, self.precision)
        self.objective = TrainingObjective(config.model.diffusion, self.device)
        # Each task's default start (an example's ``task`` indexes the model's tasks, as the data set does).
        self.task_starts = torch.tensor(
            [task_defaults(name).start for name in config.model.tasks], dtype=torch.float64
        )
        self.noise = torch.Generator(device=self.device)
        self.progress = TrainingProgress(step=0, examples_seen=0)
        state = None if resume_from is None else load_training_checkpoint(resume_from, config.model)
        if state is not None:
            self._restore(state)
        elif config.init_weights is not None:
            self._initialise_from(Path(config.init_weights))
        self.ddp = (
            DistributedDataParallel(
                self.network, device_ids=[self.device] if self.device.type == "cuda" else None
            )
            if context.is_distributed
            else None
        )
        # Every rank reads the folders before the first step, so a bad path fails the run at once, never
        # one rank while the others wait for it.
        self.dataset = training_dataset(config)
        if config.data.val_dir is not None:
            list_images(config.data.val_dir)
        self.metrics = MetricsLog(out_dir / METRICS_FILE, enabled=context.is_main)
        self.evaluator = Evaluator(config, self.device, self.precision) if context.is_main else None
        self.window = _Window(self.device)
        # Last, so that nothing above can draw from the generators after they are set.
        if state is None:
            seed_everything(derive_seed(config.seed, RANK_STREAM, context.rank))  # ranks drop out differently
        else:
            self._restore_generators(state, resume_from)

    def _initialise_from(self, path: Path) -> None:
        """Network and EMA from the inference checkpoint ``path`` (float16 weights are widened)."""
        weights = read_checkpoint(path)
        misfit = describe_misfit(self.network.state_dict(), weights.state)
        if misfit:
            raise CheckpointError(f"init_weights {path} do not fit this run's network: {misfit}")
        state = {name: tensor.float() for name, tensor in weights.state.items()}
        self.network.load_state_dict(state)
        self.ema.load_state_dict(state)
        step = weights.metadata.get("step", "")
        self.progress = TrainingProgress(
            step=0, examples_seen=0, steps_before=int(step) if step.isdigit() else 0
        )
        log.info("started from the weights %s (trained for %s steps)", path, step or "?")

    def _restore(self, state: TrainingState) -> None:
        self.network.load_state_dict(state.model)
        self.ema.load_state_dict(state.ema)
        self.optimizer.load_state_dict(state.optimizer)
        if self.scaler.is_enabled() and state.grad_scaler:
            self.scaler.load_state_dict(state.grad_scaler)
        self.progress = state.progress

    def _restore_generators(self, state: TrainingState, path: Path | None) -> None:
        same_layout = len(state.rng) == self.context.world_size and state.device_type == self.device.type
        if same_layout:
            restore_rng(state.rng[self.context.rank], self.device)
        else:
            log.warning(
                "%s was written by %d %s rank(s), this run has %d %s rank(s): global generators are "
                "re-seeded, so dropout will differ from an uninterrupted run",
                path,
                len(state.rng),
                state.device_type,
                self.context.world_size,
                self.device.type,
            )
            seed_everything(
                derive_seed(self.config.seed, RANK_STREAM, self.context.rank, state.progress.step)
            )
        if self.context.is_main:
            log.info("resumed from %s at step %d", path, state.progress.step)

    def run(self) -> TrainResult:
        config, context = self.config, self.context
        if context.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            recorded = dataclasses.replace(config, out_dir=str(self.out_dir))
            (self.out_dir / CONFIG_FILE).write_text(recorded.to_json() + "\n")
            self.metrics.truncate_after(self.progress.step)
        batches = StreamBatches(
            self.progress.examples_seen,
            config.batch_size,
            context.rank,
            context.world_size,
            config.grad_accumulation,
        )
        loader = training_loader(self.dataset, batches, workers=config.data.workers, device=self.device)
        if context.is_main:
            log.info(
                "training %.2fM parameters on %s (%s), %d rank(s) x %d = batch %d, %d photographs, "
                "steps %d to %d",
                sum(p.numel() for p in self.network.parameters()) / 1e6,
                self.device,
                self.precision.value,
                context.world_size,
                batches.per_rank,
                config.batch_size,
                len(self.dataset.files),
                self.progress.step,
                config.steps,
            )
        bar = tqdm(
            total=config.steps,
            initial=self.progress.step,
            unit="step",
            dynamic_ncols=True,
            disable=not context.is_main,
        )
        self.network.train()
        self.window.restart()
        examples = iter(loader)
        while self.progress.step < config.steps:
            self._train_step([next(examples) for _ in range(config.grad_accumulation)])
            bar.update(1)
            step = self.progress.step
            last = step == config.steps
            if step % config.log_every == 0 or last:
                self._log(bar)
            if step % config.eval.every == 0 or last:
                self._evaluate()
            if step % config.checkpoint_every == 0 or last:
                self._checkpoint()
        bar.close()
        return TrainResult(step=self.progress.step, out_dir=self.out_dir, final_weights=self._export())

    def _train_step(self, micro_batches: list[Example]) -> None:
        config, step = self.config, self.progress.step
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(step, config.optimizer, config.steps)
        # The noise levels and noise of the whole step are drawn up front, so that each example receives
        # the same ones however the rank's share of the batch is split into micro-batches.
        self.noise.manual_seed(derive_seed(config.seed, NOISE_STREAM, step, self.context.rank))
        size = sum(batch.target.shape[0] for batch in micro_batches)
        tasks = torch.cat([torch.as_tensor(batch.task).reshape(-1) for batch in micro_batches])  # collated
        starts = self.task_starts[tasks]
        gamma, from_source = self.objective.sample_levels(size, self.noise, starts)
        noise = torch.randn(
            (size, *micro_batches[0].target.shape[1:]), device=self.device, generator=self.noise
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), device=self.device)
        start = 0
        for index, batch in enumerate(micro_batches):
            source, mask, target = (
                tensor.to(self.device, non_blocking=True)
                for tensor in (batch.source, batch.mask, batch.target)
            )
            chunk = slice(start, start + target.shape[0])
            start = chunk.stop
            with self._gradient_sync(last=index == len(micro_batches) - 1):
                with autocast(self.device, self.precision):
                    loss = self.objective.loss(
                        self.network if self.ddp is None else self.ddp,
                        source,
                        mask,
                        target,
                        gamma=gamma[chunk],
                        noise=noise[chunk],
                        from_source=from_source[chunk],
                    )
                self.scaler.scale(loss / len(micro_batches)).backward()
            loss_sum += loss.detach()
        self.scaler.unscale_(self.optimizer)
        max_norm = config.optimizer.grad_clip_norm
        # With no clipping the norm is still computed (for the log); scaling by 1 changes nothing.
        grad_norm = nn.utils.clip_grad_norm_(
            self.network.parameters(), math.inf if max_norm is None else max_norm
        )
        self.scaler.step(self.optimizer)  # skipped (and the scale lowered) if fp16 gradients overflowed
        self.scaler.update()
        update_ema(self.ema, self.network, ema_decay(step, config.ema))
        self.progress = dataclasses.replace(
            self.progress, step=step + 1, examples_seen=self.progress.examples_seen + config.batch_size
        )
        self.window.add(loss_sum / len(micro_batches), grad_norm)

    def _gradient_sync(self, *, last: bool) -> AbstractContextManager[object]:
        """DDP all-reduces gradients during the backward pass of the last micro-batch only."""
        return nullcontext() if self.ddp is None or last else self.ddp.no_sync()

    def _log(self, bar: tqdm) -> None:
        window, step = self.window, self.progress.step
        totals = self.context.sum(window.sums) / (self.context.world_size * window.steps)
        loss, grad_norm = (float(value) for value in totals.cpu())
        elapsed = window.training_seconds()
        record = {
            "step": step,
            "event": "train",
            "loss": loss,
            "grad_norm": grad_norm,
            "lr": learning_rate(step - 1, self.config.optimizer, self.config.steps),
            "ema_decay": ema_decay(step - 1, self.config.ema),
            "images_per_second": window.steps * self.config.batch_size / elapsed,
            "examples_seen": self.progress.examples_seen,
            "time": time.time(),
        }
        self.metrics.append(record)
        bar.set_postfix(
            loss=f"{loss:.4f}", lr=f"{record['lr']:.2e}", img_s=f"{record['images_per_second']:.1f}"
        )
        window.restart()

    def _evaluate(self) -> None:
        started, step = time.perf_counter(), self.progress.step
        if self.evaluator is not None:
            grid = Path(SAMPLES_DIR) / f"{step_directory_name(step)}.png"
            record = self.evaluator(self.network, self.ema, self.out_dir / grid)
            self.metrics.append({"step": step, "event": "eval", **record, "samples": grid.as_posix()})
            log.info(
                "step %d: val loss %.4f (EMA %.4f), EMA sample PSNR %.2f dB, samples in %s",
                step,
                record["val_loss"],
                record["val_loss_ema"],
                record["psnr_ema"],
                self.out_dir / grid,
            )
        self.context.barrier()
        self.window.excluded += time.perf_counter() - started

    def _checkpoint(self) -> None:
        started = time.perf_counter()
        rng = self.context.gather(capture_rng(self.device))
        if self.context.is_main:
            path = save_training_checkpoint(
                self.out_dir,
                progress=self.progress,
                model_config=self.config.model,
                train_config=self.config.to_dict(),
                network=self.network,
                ema=self.ema,
                optimizer=self.optimizer,
                grad_scaler=self.scaler.state_dict(),
                rng=rng,
                device_type=self.device.type,
                keep=self.config.keep_checkpoints,
            )
            log.info("step %d: checkpoint %s", self.progress.step, path)
        self.context.barrier()
        self.window.excluded += time.perf_counter() - started

    def _export(self) -> Path:
        """OUT/final.safetensors: the EMA weights as an inference checkpoint."""
        path = self.out_dir / FINAL_WEIGHTS
        if self.context.is_main:
            save_checkpoint(
                path,
                self.ema.state_dict(),
                self.config.model,
                dtype=torch.float16 if self.config.export_fp16 else None,
                metadata={"step": str(self.progress.trained_steps), "weights": "ema"},
            )
            log.info("final EMA weights: %s", path)
        self.context.barrier()
        return path


def train(
    config: TrainConfig,
    *,
    out_dir: str | Path | None = None,
    resume_from: Path | None = None,
    device: str = "auto",
) -> TrainResult:
    """Train (or resume, from a checkpoint directory) as one process or as one rank under torchrun."""
    with distributed(device) as context:
        trainer = Trainer(config, Path(out_dir or config.out_dir), context, resume_from)
        return trainer.run()
