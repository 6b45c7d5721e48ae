"""Training (model.training and ``palette train``): exact resume, learning, the schedules, checkpoints, the
CLI and data parallelism, on the tiny CI config (configs/tiny-cpu.json, 32x32) and real photographs."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from skimage import data
from torch import nn

import palette.cli
from model.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from model.config import LossType
from model.data.dataset import PaletteDataset
from model.diffusion.objective import TrainingObjective
from model.nn import PaletteUNet
from model.pipeline import Conditioning, PalettePipeline, Precision
from model.runtime import precision as runtime_precision
from model.runtime.precision import resolve_training_precision
from model.sampling import SamplerKind, SamplerSettings
from model.training import EMAConfig, OptimizerConfig, TrainConfig, train
from model.training.data import StreamBatches
from model.training.distributed import Distributed
from model.training.ema import ema_decay, update_ema
from model.training.evaluation import Evaluator
from model.training.metrics import read_metrics
from model.training.optim import learning_rate
from model.training.rng import capture_rng
from model.training.state import (
    ResumeError,
    TrainingProgress,
    latest_checkpoint,
    load_training_checkpoint,
    save_training_checkpoint,
)
from model.training.trainer import Trainer
from tests.conftest import random_network, tiny_model_config

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "configs" / "tiny-cpu.json"
CPU = torch.device("cpu")


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Two OpenMP threads on a 2-core machine that other processes also use run 10-20x slower than one;
    one thread keeps these tests' runtime independent of the machine's load."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train/: four real photographs, val/: a fifth, all small so that 32x32 crops show whole objects."""
    root = tmp_path_factory.mktemp("photos")
    for split, names in [("train", ["astronaut", "chelsea", "coffee", "rocket"]), ("val", ["retina"])]:
        (root / split).mkdir()
        for name in names:
            image = Image.fromarray(getattr(data, name)())
            image.thumbnail((96, 96))
            image.save(root / split / f"{name}.png")
    return root


def tiny_config(photos: Path, *overrides: str) -> TrainConfig:
    return TrainConfig.load(
        TINY_CONFIG, [f"data.train_dir={photos / 'train'}", f"data.val_dir={photos / 'val'}", *overrides]
    )


def train_losses(out_dir: Path) -> list[float]:
    return [
        record["loss"] for record in read_metrics(out_dir / "metrics.jsonl") if record["event"] == "train"
    ]


def test_ci_config_trains_the_shared_tiny_model() -> None:
    assert TrainConfig.load(TINY_CONFIG).model == tiny_model_config()


def test_shipped_configs_load_and_paper_256_is_adm_256_without_class_conditioning() -> None:
    demo = TrainConfig.load(REPO / "configs" / "demo-64.json")
    paper = TrainConfig.load(REPO / "configs" / "paper-256.json")
    assert demo.model.resolution == 64 and paper.model.resolution == 256
    with torch.device("meta"):
        parameters = sum(p.numel() for p in PaletteUNet(paper.model.unet).parameters())
    assert round(parameters / 1e6) == 553  # ADM-256's ~554M less its class embedding


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.json")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_round_trips(path: Path) -> None:
    config = TrainConfig.load(path)
    assert TrainConfig.from_dict(json.loads(config.to_json())) == config


def test_overrides_set_nested_values_parsed_as_json() -> None:
    config = TrainConfig.load(
        TINY_CONFIG,
        ["optimizer.lr=2e-4", "model.unet.channel_mult=[1,2]", "data.val_dir=null", "precision=bf16"],
    )
    assert config.optimizer.lr == 2e-4
    assert config.model.unet.channel_mult == (1, 2)
    assert config.data.val_dir is None
    assert config.precision is Precision.BF16


def test_unknown_config_keys_are_errors() -> None:
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.load(TINY_CONFIG, ["optimizer.learning_rate=1e-3"])


def test_learning_rate_warms_up_linearly_then_stays_constant() -> None:
    config = OptimizerConfig(lr=1e-3, warmup_steps=4)
    rates = [learning_rate(step, config, total_steps=7) for step in range(7)]
    assert rates == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3, 1e-3])
    assert learning_rate(0, OptimizerConfig(lr=1e-3, warmup_steps=0), total_steps=7) == 1e-3


def test_learning_rate_falls_linearly_over_the_last_decay_steps() -> None:
    config = OptimizerConfig(lr=1e-3, warmup_steps=2, decay_steps=4)
    rates = [learning_rate(step, config, total_steps=8) for step in range(8)]
    assert rates == pytest.approx([5e-4, 1e-3, 1e-3, 1e-3, 1e-3, 7.5e-4, 5e-4, 2.5e-4])
    # The same steps of a longer run are not annealed yet: a run can be extended before its decay starts.
    assert learning_rate(5, config, total_steps=20) == pytest.approx(1e-3)


def test_ema_update_is_an_exponential_moving_average() -> None:
    average, network = nn.Linear(3, 2), nn.Linear(3, 2)
    before = [p.detach().clone() for p in average.parameters()]
    update_ema(average, network, decay=0.9)
    for averaged, old, current in zip(average.parameters(), before, network.parameters(), strict=True):
        torch.testing.assert_close(averaged, 0.9 * old + 0.1 * current)


def test_ema_decay_warms_up_to_its_cap() -> None:
    config = EMAConfig(decay=0.999, warmup_power=0.75)
    assert ema_decay(0, config) == 0.0  # the first average is the trained weights, not the initialisation
    assert ema_decay(15, config) == pytest.approx(1 - 16**-0.75)
    decays = [ema_decay(step, config) for step in range(0, 100_000, 1000)]
    assert decays == sorted(decays)
    assert decays[-1] == 0.999
    assert ema_decay(0, EMAConfig(decay=0.9999, warmup_power=None)) == 0.9999


def test_switching_l1_and_l2_changes_the_loss_on_the_same_batch_and_noise(photos: Path) -> None:
    examples = PaletteDataset(photos / "train", resolution=32, tasks=("inpaint",), seed=0)
    batch = [examples[k] for k in range(4)]
    source, mask, target = (
        torch.stack([getattr(e, name) for e in batch]) for name in ("source", "mask", "target")
    )
    network = random_network(tiny_model_config())
    gamma = torch.tensor([0.9, 0.5, 0.1, 0.01], dtype=torch.float64)
    noise = torch.randn(target.shape, generator=torch.Generator().manual_seed(0))
    losses = {}
    for kind in LossType:
        objective = TrainingObjective(
            TrainConfig.load(TINY_CONFIG, [f"model.diffusion.loss={kind.value}"]).model.diffusion
        )
        with torch.no_grad():
            losses[kind] = float(objective.loss(network, source, mask, target, gamma=gamma, noise=noise))
    assert losses[LossType.L1] != pytest.approx(losses[LossType.L2], rel=0.05)
    assert losses[LossType.L2] >= losses[LossType.L1] ** 2  # mean |e|^2 >= (mean |e|)^2 over the same errors


def test_training_starts_from_the_adm_initialisation(photos: Path, tmp_path: Path) -> None:
    trainer = Trainer(tiny_config(photos), tmp_path, Distributed(device=CPU))
    assert not trainer.network.conv_out.weight.any()  # zero output layer: the network starts at eps = 0
    assert trainer.network.conv_in.weight.std() > 0


def test_ranks_and_micro_batches_split_each_global_batch_into_contiguous_slices() -> None:
    single = iter(StreamBatches(start=16, batch_size=8, rank=0, world_size=1))
    ranks = [
        iter(StreamBatches(start=16, batch_size=8, rank=r, world_size=2, accumulation=2)) for r in range(2)
    ]
    for _ in range(3):
        assert next(single) == next(ranks[0]) + next(ranks[0]) + next(ranks[1]) + next(ranks[1])
    with pytest.raises(ValueError, match="does not split"):
        StreamBatches(start=0, batch_size=8, rank=0, world_size=3)


def test_resumed_run_matches_an_uninterrupted_one_exactly(photos: Path, tmp_path: Path) -> None:
    # Dropout makes the global torch generator matter; the first half ends with an evaluation, which must
    # not disturb any generator; the second half makes its examples in two DataLoader workers.
    common = ["model.unet.dropout=0.1", "log_every=1", "checkpoint_every=3", "eval.every=1000"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(tiny_config(photos, "steps=6", *common), out_dir=straight)
    train(tiny_config(photos, "steps=3", *common), out_dir=resumed)
    train(
        tiny_config(photos, "steps=6", "data.workers=2", *common),
        out_dir=resumed,
        resume_from=latest_checkpoint(resumed),
    )
    assert len(train_losses(straight)) == 6
    assert train_losses(resumed) == train_losses(straight)
    for name in ("model.safetensors", "ema.safetensors", "optimizer.safetensors"):
        expected = load_file(straight / "checkpoints" / "step-0000006" / name)
        actual = load_file(resumed / "checkpoints" / "step-0000006" / name)
        assert expected.keys() == actual.keys()
        assert all(torch.equal(expected[key], actual[key]) for key in expected), name


def test_gradient_accumulation_changes_memory_use_not_the_optimisation(photos: Path, tmp_path: Path) -> None:
    # Colorization and restoration generate every pixel, so each micro-batch's mean loss has equal weight.
    common = ['model.tasks=["colorize","restore"]', "log_every=1", "steps=3", "eval.every=1000"]
    train(tiny_config(photos, *common), out_dir=tmp_path / "whole")
    train(tiny_config(photos, "grad_accumulation=4", *common), out_dir=tmp_path / "accumulated")
    assert train_losses(tmp_path / "accumulated") == pytest.approx(train_losses(tmp_path / "whole"), rel=1e-4)


def test_task_start_levels_move_restorations_start_examples_to_its_partial_start(
    photos: Path, tmp_path: Path
) -> None:
    # Every example at the start level: restoration's sit at its own start (sigma 0.32 on a full schedule,
    # noised from the JPEG) with the flag, at the noisiest level without it, so the losses must differ.
    common = ['model.tasks=["restore"]', "model.diffusion.start_level_fraction=1.0", "log_every=1", "steps=2"]
    common += ['model.diffusion.prediction="y0"', 'model.diffusion.target="residual"', "eval.every=1000"]
    common += ['model.diffusion.preconditioning="edm"', 'model.diffusion.loss_weighting="edm"']
    train(tiny_config(photos, *common), out_dir=tmp_path / "noisiest")
    train(tiny_config(photos, "model.diffusion.task_start_levels=true", *common), out_dir=tmp_path / "own")
    assert train_losses(tmp_path / "own") != pytest.approx(train_losses(tmp_path / "noisiest"), rel=1e-3)


def test_resuming_with_a_different_model_is_refused(photos: Path, tmp_path: Path) -> None:
    train(tiny_config(photos, "steps=1", "eval.every=1000"), out_dir=tmp_path)
    wider = tiny_config(photos, "model.unet.base_channels=32").model
    with pytest.raises(ResumeError, match="different model config"):
        load_training_checkpoint(latest_checkpoint(tmp_path), wider)  # type: ignore[arg-type]


def test_fp16_training_is_refused_on_the_cpu() -> None:
    with pytest.raises(ValueError, match="CUDA"):
        resolve_training_precision(Precision.FP16, CPU)


@pytest.mark.parametrize(("native_bf16", "expected"), [(True, Precision.BF16), (False, Precision.FP32)])
def test_cpu_training_defaults_to_bf16_only_where_the_cpu_has_native_bf16(
    monkeypatch: pytest.MonkeyPatch, native_bf16: bool, expected: Precision
) -> None:
    monkeypatch.setattr(runtime_precision, "native_bf16_cpu", lambda: native_bf16)
    assert resolve_training_precision(None, CPU) is expected
    assert resolve_training_precision(Precision.FP32, CPU) is Precision.FP32


@pytest.mark.slow
def test_tiny_model_learns_to_inpaint_its_training_photos(photos: Path, tmp_path: Path) -> None:
    config = tiny_config(
        photos,
        'model.tasks=["inpaint"]',
        "data.val_dir=null",  # evaluate on the training photographs: this is about fitting them
        "data.crop_scale=[0.5,1.0]",
        "steps=300",
        "optimizer.lr=0.002",
        "optimizer.warmup_steps=20",
        "ema.decay=0.99",
        "log_every=50",
        "checkpoint_every=300",
        "eval.every=300",
        "eval.images_per_task=4",
        "eval.samples_per_image=1",
        "eval.sampler_steps=10",
        "eval.loss_examples_per_task=16",
    )
    evaluator = Evaluator(config, CPU, Precision.FP32)  # the fixed batch the trainer evaluates on
    untrained = PaletteUNet(config.model.unet)
    before = evaluator(untrained, untrained, tmp_path / "before.png")
    train(config, out_dir=tmp_path / "run")
    after = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r["event"] == "eval"][-1]
    # Denoising loss on held fixed noise: about 1 at initialisation (the network outputs eps = 0).
    assert after["val_loss_ema"] < 0.25 * before["val_loss_ema"]
    # DDIM inpaintings from the EMA weights get measurably closer to the photographs in the masked region.
    assert after["psnr_ema"] > before["psnr_ema"] + 3.0


@pytest.fixture(scope="module")
def tiny_run(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four steps with a checkpoint after each (two kept), evaluations at 2 and 4, fp16 final weights."""
    out = tmp_path_factory.mktemp("run")
    config = tiny_config(
        photos, "steps=4", "checkpoint_every=1", "keep_checkpoints=2", "eval.every=2", "export_fp16=true"
    )
    train(config, out_dir=out)
    return out


def test_checkpoint_written_by_training_loads_in_the_pipeline_and_samples(
    tiny_run: Path, photo: np.ndarray
) -> None:
    for weights in (
        tiny_run / "checkpoints" / "step-0000004" / "ema.safetensors",
        tiny_run / "final.safetensors",
    ):
        pipeline = PalettePipeline.from_checkpoint(weights, "cpu")
        source = np.asarray(Image.fromarray(photo).resize((32, 32)))
        mask = np.zeros((32, 32), dtype=bool)
        mask[8:24, 8:24] = True
        samples = pipeline.sample(
            [Conditioning(source, mask)], [0], SamplerSettings(kind=SamplerKind.DDIM, steps=3)
        )
        assert samples.shape == (1, 32, 32, 3)
        assert np.array_equal(samples[0][~mask], source[~mask])


def test_final_weights_are_the_ema_weights_in_fp16(tiny_run: Path) -> None:
    final = read_checkpoint(tiny_run / "final.safetensors")
    ema = read_checkpoint(tiny_run / "checkpoints" / "step-0000004" / "ema.safetensors")
    assert final.metadata["weights"] == "ema" and final.metadata["step"] == "4"
    for name, tensor in ema.state.items():
        assert final.state[name].dtype == torch.float16
        assert torch.equal(final.state[name], tensor.half())


def test_palette_export_ships_the_latest_ema_weights_of_an_unfinished_run(
    tiny_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "shipped.safetensors"
    assert palette.cli.main(["export", "--run", str(tiny_run), "--out", str(out)]) == 0
    shipped, final = read_checkpoint(out), read_checkpoint(tiny_run / "final.safetensors")
    assert shipped.metadata["step"] == "4" and shipped.config == final.config
    assert shipped.state.keys() == final.state.keys()
    assert all(torch.equal(shipped.state[name], final.state[name]) for name in final.state)


def export_with_config(tiny_run: Path, photos: Path, tmp_path: Path, *overrides: str) -> tuple[int, Path]:
    config_file = tmp_path / "config.json"
    config_file.write_text(tiny_config(photos, *overrides).to_json())
    out = tmp_path / "shipped.safetensors"
    code = palette.cli.main(
        ["export", "--run", str(tiny_run), "--out", str(out), "--config", str(config_file)]
    )
    return code, out


def test_palette_export_takes_the_sampling_schedule_of_a_config(
    tiny_run: Path, photos: Path, tmp_path: Path
) -> None:
    code, out = export_with_config(
        tiny_run, photos, tmp_path, "model.diffusion.sample_schedule.num_steps=123"
    )
    assert code == 0
    shipped, final = read_checkpoint(out), read_checkpoint(tiny_run / "final.safetensors")
    assert shipped.config.diffusion.sample_schedule.num_steps == 123
    assert (
        dataclasses.replace(
            shipped.config,
            diffusion=dataclasses.replace(
                shipped.config.diffusion, sample_schedule=final.config.diffusion.sample_schedule
            ),
        )
        == final.config
    )


def test_palette_export_refuses_a_config_that_changes_more_than_sampling(
    tiny_run: Path, photos: Path, tmp_path: Path
) -> None:
    code, out = export_with_config(tiny_run, photos, tmp_path, "model.diffusion.loss=l1")
    assert code == 2 and not out.exists()


def test_palette_export_sets_an_inference_setting_of_an_exported_weights_file(
    tiny_run: Path, tmp_path: Path
) -> None:
    final = read_checkpoint(tiny_run / "final.safetensors")
    out = tmp_path / "resampled.safetensors"
    command = ["export", "--run", str(tiny_run / "final.safetensors"), "--out", str(out)]
    assert palette.cli.main([*command, "--set", "model.diffusion.sample_schedule.num_steps=77"]) == 0
    shipped = read_checkpoint(out)
    assert shipped.config.diffusion.sample_schedule.num_steps == 77
    assert shipped.metadata["step"] == final.metadata["step"]
    assert all(torch.equal(shipped.state[name], final.state[name]) for name in final.state)


def test_palette_export_refuses_a_set_that_changes_how_the_weights_were_trained(
    tiny_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "shipped.safetensors"
    command = ["export", "--run", str(tiny_run), "--out", str(out), "--set", "model.diffusion.loss=l1"]
    assert palette.cli.main(command) == 2 and not out.exists()


def test_palette_export_averages_with_a_checkpoint_of_the_same_network(
    tiny_run: Path, tmp_path: Path
) -> None:
    final = read_checkpoint(tiny_run / "final.safetensors")
    other = tmp_path / "other.safetensors"
    save_checkpoint(other, {name: tensor.float() + 1.0 for name, tensor in final.state.items()}, final.config)
    out = tmp_path / "mean.safetensors"
    assert (
        palette.cli.main(["export", "--run", str(tiny_run), "--out", str(out), "--average", str(other)]) == 0
    )
    mean = read_checkpoint(out)
    ema = read_checkpoint(tiny_run / "checkpoints" / "step-0000004" / "ema.safetensors").state
    for name, tensor in ema.items():
        torch.testing.assert_close(mean.state[name], (tensor + 0.5).half(), rtol=0, atol=2e-3)
    assert "mean of the EMA weights and other.safetensors" in mean.metadata["weights"]


def test_palette_export_refuses_to_average_with_another_network(tiny_run: Path, tmp_path: Path) -> None:
    final = read_checkpoint(tiny_run / "final.safetensors")
    other = tmp_path / "other.safetensors"
    config = dataclasses.replace(final.config, tasks=("inpaint",))
    save_checkpoint(other, final.state, config)
    out = tmp_path / "mean.safetensors"
    assert (
        palette.cli.main(["export", "--run", str(tiny_run), "--out", str(out), "--average", str(other)]) == 2
    )
    assert not out.exists()


def test_a_new_run_can_start_from_shipped_weights_with_a_fresh_optimizer(
    tiny_run: Path, photos: Path, tmp_path: Path
) -> None:
    shipped = tmp_path / "shipped.safetensors"
    assert palette.cli.main(["export", "--run", str(tiny_run), "--out", str(shipped)]) == 0
    config = tiny_config(photos, f"init_weights={shipped}", "steps=1")
    trainer = Trainer(config, tmp_path / "continued", Distributed(device=CPU))
    expected = read_checkpoint(shipped).state
    for name, tensor in trainer.ema.state_dict().items():
        assert torch.equal(tensor, expected[name].float()), name
    assert trainer.progress.step == 0 and not trainer.optimizer.state


def test_weights_of_a_run_started_from_shipped_weights_count_their_earlier_steps(
    tiny_run: Path, photos: Path, tmp_path: Path
) -> None:
    shipped = tmp_path / "shipped.safetensors"
    assert palette.cli.main(["export", "--run", str(tiny_run), "--out", str(shipped)]) == 0
    out = tmp_path / "continued"
    train(tiny_config(photos, f"init_weights={shipped}", "steps=2", "checkpoint_every=1"), out_dir=out)
    assert read_checkpoint(out / "final.safetensors").metadata["step"] == "6"  # 4 shipped + 2
    assert latest_checkpoint(out) == out / "checkpoints" / "step-0000002"  # the run counts from its start
    resumed = load_training_checkpoint(out / "checkpoints" / "step-0000001", tiny_config(photos).model)
    assert (resumed.progress.step, resumed.progress.trained_steps) == (1, 5)


def test_init_weights_of_another_network_shape_are_refused(photos: Path, tmp_path: Path) -> None:
    narrow = dataclasses.replace(tiny_model_config().unet, base_channels=8)
    other = dataclasses.replace(tiny_model_config(), unet=narrow)
    path = save_checkpoint(tmp_path / "other.safetensors", random_network(other).state_dict(), other)
    with pytest.raises(CheckpointError, match="do not fit"):
        Trainer(tiny_config(photos, f"init_weights={path}"), tmp_path / "run", Distributed(device=CPU))


def test_palette_export_refuses_a_folder_without_checkpoints(tmp_path: Path) -> None:
    assert palette.cli.main(["export", "--run", str(tmp_path), "--out", str(tmp_path / "w.safetensors")]) == 2
    assert not (tmp_path / "w.safetensors").exists()


def test_only_the_newest_checkpoints_are_kept_and_latest_names_the_newest(tiny_run: Path) -> None:
    root = tiny_run / "checkpoints"
    assert sorted(path.name for path in root.iterdir()) == ["latest", "step-0000003", "step-0000004"]
    assert latest_checkpoint(tiny_run) == root / "step-0000004"
    state = json.loads((root / "step-0000004" / "state.json").read_text())
    assert state["step"] == 4 and state["examples_seen"] == 4 * 8


def test_a_run_resumed_from_an_earlier_checkpoint_never_prunes_its_own(tmp_path: Path) -> None:
    network = nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(network.parameters())

    def save(step: int, keep: int) -> None:
        save_training_checkpoint(
            tmp_path,
            progress=TrainingProgress(step=step, examples_seen=step),
            model_config=tiny_model_config(),
            train_config={},
            network=network,
            ema=network,
            optimizer=optimizer,
            grad_scaler={},
            rng=[capture_rng(CPU)],
            device_type="cpu",
            keep=keep,
        )

    for step in (2, 4, 6):
        save(step, keep=3)
    save(3, keep=2)  # resumed from step 2, keeping fewer: steps 4 and 6 wait to be overwritten
    root = tmp_path / "checkpoints"
    assert latest_checkpoint(tmp_path) == root / "step-0000003"
    assert sorted(path.name for path in root.iterdir()) == [
        "latest",
        "step-0000002",
        "step-0000003",
        "step-0000004",
        "step-0000006",
    ]


def test_run_records_its_config_metrics_and_sample_grids(tiny_run: Path) -> None:
    config = TrainConfig.from_dict(json.loads((tiny_run / "config.json").read_text()))
    assert config.out_dir == str(tiny_run)
    records = read_metrics(tiny_run / "metrics.jsonl")
    evaluations = [r for r in records if r["event"] == "eval"]
    assert [r["step"] for r in evaluations] == [2, 4]
    assert set(evaluations[-1]["tasks"]) == set(config.model.tasks)
    grid = Image.open(tiny_run / evaluations[-1]["samples"])
    rows = len(config.model.tasks) * config.eval.images_per_task
    columns = config.eval.samples_per_image + 2  # source | samples | target
    assert grid.size == (columns * 34 - 2, rows * 34 - 2)  # 32-pixel tiles, 2-pixel gaps


def test_cli_trains_the_tiny_config_end_to_end(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["train", "--config", str(TINY_CONFIG), "--out", str(out), "--device", "cpu"]
    argv += ["--set", f"data.train_dir={photos / 'train'}", "--set", f"data.val_dir={photos / 'val'}"]
    assert palette.cli.main([*argv, "--set", "steps=2"]) == 0
    assert latest_checkpoint(out) == out / "checkpoints" / "step-0000002"
    sample = ["sample", "--task", "colorize", "--image", str(photos / "val" / "retina.png"), "--samples", "1"]
    sample += ["--steps", "2", "--weights", str(out / "final.safetensors"), "--device", "cpu"]
    assert palette.cli.main([*sample, "--out", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "retina-colorize-0.png").is_file()


def test_cli_resumes_from_the_runs_own_config_and_refuses_to_start_over(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = [
        "train",
        "--config",
        str(TINY_CONFIG),
        "--out",
        str(out),
        "--set",
        f"data.train_dir={photos / 'train'}",
    ]
    argv += ["--set", "data.val_dir=null", "--set", "steps=1", "--set", "eval.every=1000"]
    assert palette.cli.main(argv) == 0
    assert palette.cli.main(argv) == 2
    assert "--resume auto" in capsys.readouterr().err
    assert palette.cli.main(["train", "--out", str(out), "--resume", "auto", "--set", "steps=2"]) == 0
    assert latest_checkpoint(out) == out / "checkpoints" / "step-0000002"


def test_two_process_data_parallel_run_on_the_cpu(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += [
        "-m",
        "palette.cli",
        "train",
        "--config",
        str(TINY_CONFIG),
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    for override in [f"data.train_dir={photos / 'train'}", "data.val_dir=null", "steps=3", "eval.every=3"]:
        command += ["--set", override]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=REPO, check=False)
    assert completed.returncode == 0, completed.stderr[-4000:]
    state = json.loads((out / "checkpoints" / "step-0000003" / "state.json").read_text())
    assert state["world_size"] == 2 and len(state["rng"]) == 2
    assert state["examples_seen"] == 3 * 8  # batch_size is the global batch: 4 per rank
    pipeline = PalettePipeline.from_checkpoint(out / "final.safetensors", "cpu")
    assert pipeline.resolution == 32
