"""The CPU backends (model.runtime.backend): the network exported to ONNX and run by ONNX Runtime or
OpenVINO computes what PyTorch computes, is exported once per set of weights, and PyTorch takes over when a
package is missing. Tiny models on the CPU; each backend's tests skip where its package is absent."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor

from model.config import ModelConfig
from model.nn import PaletteUNet
from model.nn.blocks import SelfAttention
from model.runtime import Precision, RuntimeOptions
from model.runtime import backend as backend_module
from model.runtime import options as options_module
from model.runtime.backend import (
    Backend,
    OnnxRuntimeNetwork,
    OpenVinoNetwork,
    batch_parts,
    cached_export,
    export_key,
    load_network,
)
from model.runtime.engine import FastSampler

# Imported before the suite's exact_cpu_numerics fixture patches the probe: the hardware's own answer.
from model.runtime.precision import native_bf16_cpu as hardware_bf16
from model.sampling import PerExampleNoise, SamplerKind, SamplerSettings
from tests.conftest import EDM_RESIDUAL, random_network, tiny_model_config
from tests.model.test_fast_path import assert_same_image, conditioning

CPU = torch.device("cpu")
EXPORTED = [
    pytest.param(Backend.ONNXRUNTIME, id="onnxruntime"),
    pytest.param(Backend.OPENVINO, id="openvino"),
]
DDIM = SamplerSettings(SamplerKind.DDIM, steps=6)


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Exports go to a directory of this module's own, never the user's ~/.cache."""
    directory = tmp_path_factory.getbasetemp() / "onnx-cache"
    monkeypatch.setenv(backend_module.CACHE_ENV, str(directory))
    return directory


def require(backend: Backend) -> None:
    pytest.importorskip(backend.package)


@pytest.fixture(scope="module")
def config() -> ModelConfig:
    return tiny_model_config()


@pytest.fixture(scope="module")
def network(config: ModelConfig) -> PaletteUNet:
    return random_network(config)


def runner_for(backend: Backend, path: Path, threads: int = 1) -> Callable[..., Tensor]:
    if backend is Backend.ONNXRUNTIME:
        return OnnxRuntimeNetwork(path, threads)
    return OpenVinoNetwork(path, threads, Precision.FP32)


def network_inputs(batch: int, size: int, gammas: list[float]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    generator = torch.Generator().manual_seed(batch * 1000 + size)
    source = torch.rand(batch, 3, size, size, generator=generator) * 2 - 1
    mask = (torch.rand(batch, 1, size, size, generator=generator) > 0.5).float()
    y_t = torch.randn(batch, 3, size, size, generator=generator)
    return source, mask, y_t, torch.tensor(gammas, dtype=torch.float32)


@pytest.mark.parametrize("backend", EXPORTED)
def test_the_exported_network_outputs_what_pytorch_does_within_1e_4_at_any_batch_and_size(
    backend: Backend, network: PaletteUNet, config: ModelConfig, tmp_path: Path
) -> None:
    """Exact mode: fp32 (OpenVINO is told so; left alone it runs bf16 on CPUs with native bf16, which is
    off by ~1e-2). One export serves every batch size and image size."""
    require(backend)
    runner = runner_for(backend, cached_export(network, config, backend, tmp_path))
    for batch, size, gammas in [(1, 32, [0.5]), (3, 32, [1e-4, 0.3, 0.999]), (2, 64, [0.05, 0.7])]:
        inputs = network_inputs(batch, size, gammas)
        with torch.inference_mode():
            expected = network(*inputs)
        actual = runner(*inputs)
        assert actual.shape == expected.shape
        assert (actual - expected).abs().max().item() < 1e-4, (batch, size)


def test_onnxruntime_runs_each_attention_block_as_one_fused_op_and_openvino_the_standard_ops(
    network: PaletteUNet, config: ModelConfig, tmp_path: Path
) -> None:
    """ONNX Runtime's fused attention never builds the HW x HW score matrix; OpenVINO does not read ONNX
    Runtime's contrib ops. The ONNX Runtime export is made first: the OpenVINO one after it must not
    inherit its attention."""
    onnx = pytest.importorskip("onnx")
    blocks = sum(isinstance(module, SelfAttention) for module in network.modules())
    assert blocks > 0

    def operators(backend: Backend) -> list[str]:
        graph = onnx.load(str(cached_export(network, config, backend, tmp_path))).graph
        return [node.op_type for node in graph.node]

    fused = operators(Backend.ONNXRUNTIME)
    assert fused.count("MultiHeadAttention") == blocks
    assert "Softmax" not in fused
    standard = operators(Backend.OPENVINO)
    assert "MultiHeadAttention" not in standard
    assert standard.count("Softmax") == blocks


def test_each_backend_has_an_export_of_its_own(network: PaletteUNet, config: ModelConfig) -> None:
    assert export_key(network, config, Backend.ONNXRUNTIME) != export_key(network, config, Backend.OPENVINO)


@pytest.mark.parametrize(("batch", "threads"), [(1, 2), (2, 2), (3, 2), (4, 2), (5, 3), (2, 8), (7, 1)])
def test_a_batch_splits_into_one_contiguous_part_per_thread_of_near_equal_size(
    batch: int, threads: int
) -> None:
    parts = batch_parts(batch, threads)
    assert len(parts) == min(batch, threads)
    assert [row for part in parts for row in range(batch)[part]] == list(range(batch))
    sizes = [part.stop - part.start for part in parts]
    assert max(sizes) - min(sizes) <= 1


def test_onnxruntime_splits_a_batch_across_its_threads_and_returns_the_whole_batchs_output(
    network: PaletteUNet, config: ModelConfig, tmp_path: Path
) -> None:
    """Two threads run a batch of three as parts of two and one rows, each in a one-thread session;
    the rows come back in order, equal to PyTorch's whole batch."""
    require(Backend.ONNXRUNTIME)
    runner = OnnxRuntimeNetwork(cached_export(network, config, Backend.ONNXRUNTIME, tmp_path), threads=2)
    inputs = network_inputs(3, 32, [0.1, 0.5, 0.9])
    with torch.inference_mode():
        expected = network(*inputs)
    actual = runner(*inputs)
    assert sorted(runner.sessions) == [1, 2]  # the split ran on the one-thread session
    assert actual.shape == expected.shape
    assert (actual - expected).abs().max().item() < 1e-4


@pytest.mark.parametrize("backend", EXPORTED)
def test_an_edm_preconditioned_network_exports_with_its_float64_scalings(
    backend: Backend, tmp_path: Path
) -> None:
    """The EDM wrapper computes c_in, c_skip, c_out from gamma in float64, down to gamma = 1e-8 where
    sigma = 1e4; the export keeps them (OpenVINO computes them in float32: still within 1e-4)."""
    require(backend)
    config = ModelConfig(unet=tiny_model_config().unet, diffusion=EDM_RESIDUAL)
    network = random_network(config)
    runner = runner_for(backend, cached_export(network, config, backend, tmp_path))
    inputs = network_inputs(4, 32, [1e-8, 0.01, 0.5, 0.9999])
    with torch.inference_mode():
        expected = network(*inputs)
    assert (runner(*inputs) - expected).abs().max().item() < 1e-4


@pytest.mark.parametrize("backend", EXPORTED)
def test_a_ddim_sample_through_the_backend_is_the_pytorch_fast_path_sample(
    backend: Backend, network: PaletteUNet, config: ModelConfig
) -> None:
    require(backend)
    source, mask = conditioning(3)
    seeds = [3, 4, 5]
    samples = []
    for options in (RuntimeOptions(), RuntimeOptions(backend=backend)):
        sampler = FastSampler(network, config, CPU, options)
        assert sampler.backend is options.backend
        samples.append(sampler.sample(source, mask, PerExampleNoise(seeds, CPU), DDIM))
    assert_same_image(samples[1], samples[0])


def test_a_restart_reuses_the_export_of_unchanged_weights(
    config: ModelConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key hashes the weights, not the object: a second process loading the same checkpoint builds a
    new module with equal weights, and finds the file the first one exported."""
    exports: list[Path] = []
    real_export = backend_module.export_onnx

    def counted(*args: object) -> None:
        exports.append(args[2])  # type: ignore[arg-type]
        real_export(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(backend_module, "export_onnx", counted)
    first = cached_export(random_network(config, seed=1), config, Backend.ONNXRUNTIME, tmp_path)
    modified = first.stat().st_mtime_ns
    second = cached_export(random_network(config, seed=1), config, Backend.ONNXRUNTIME, tmp_path)
    assert second == first
    assert len(exports) == 1
    assert first.stat().st_mtime_ns == modified
    assert [path.name for path in tmp_path.iterdir()] == [first.name]  # no temporary file left behind


def test_changed_weights_get_a_new_export(config: ModelConfig, tmp_path: Path) -> None:
    require(Backend.ONNXRUNTIME)
    network = random_network(config, seed=2)
    before = cached_export(network, config, Backend.ONNXRUNTIME, tmp_path)
    with torch.no_grad():
        network.conv_out.bias.add_(0.25)  # one tensor of the output layer
    after = cached_export(network, config, Backend.ONNXRUNTIME, tmp_path)
    assert after != before
    inputs = network_inputs(2, 32, [0.2, 0.8])
    with torch.inference_mode():
        expected = network(*inputs)
    assert (OnnxRuntimeNetwork(after, 1)(*inputs) - expected).abs().max().item() < 1e-4


def test_the_export_key_covers_the_config_as_well_as_the_weights(
    network: PaletteUNet, config: ModelConfig
) -> None:
    other = dataclasses.replace(config, diffusion=dataclasses.replace(config.diffusion, sigma_data=0.25))
    key = export_key(network, config, Backend.ONNXRUNTIME)
    assert export_key(network, config, Backend.ONNXRUNTIME) == key
    assert export_key(network, other, Backend.ONNXRUNTIME) != key


@pytest.mark.parametrize(
    ("backend", "missing"),
    [
        (Backend.ONNXRUNTIME, "onnxruntime"),
        (Backend.OPENVINO, "openvino"),
        (Backend.ONNXRUNTIME, "onnx"),  # what torch.onnx.export writes with
    ],
)
def test_a_missing_package_falls_back_to_pytorch_with_one_log_line(
    backend: Backend,
    missing: str,
    network: PaletteUNet,
    config: ModelConfig,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real_import = backend_module.import_module

    def without_package(name: str) -> object:
        if name.split(".")[0] == missing:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name)

    monkeypatch.setattr(backend_module, "import_module", without_package)
    with caplog.at_level(logging.DEBUG, logger="palette"):
        sampler = FastSampler(network, config, CPU, RuntimeOptions(backend=backend))
    assert sampler.backend is Backend.TORCH
    assert len(caplog.records) == 1
    assert caplog.records[0].levelno == logging.WARNING
    assert f"{missing} not installed" in caplog.messages[0]
    assert "PyTorch" in caplog.messages[0]
    source, mask = conditioning(1)
    torch_sample = FastSampler(network, config, CPU, RuntimeOptions())
    noise = PerExampleNoise([7], CPU)
    assert torch.equal(
        sampler.sample(source, mask, noise, DDIM),
        torch_sample.sample(source, mask, PerExampleNoise([7], CPU), DDIM),
    )


def test_a_failed_export_falls_back_to_pytorch_with_one_log_line(
    network: PaletteUNet,
    config: ModelConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """E.g. a later torch without the TorchScript exporter: the worker still starts, in PyTorch."""
    require(Backend.ONNXRUNTIME)

    def broken(*args: object) -> None:
        raise RuntimeError("this exporter is gone")

    monkeypatch.setattr(backend_module, "export_onnx", broken)
    with caplog.at_level(logging.DEBUG, logger="palette"):
        runner, used = load_network(network, config, Backend.ONNXRUNTIME, cache_dir=tmp_path)
    assert used is Backend.TORCH and runner is network
    assert len(caplog.records) == 1
    assert "this exporter is gone" in caplog.messages[0]


def test_onnxruntime_runs_the_configured_threads_without_spinning(
    network: PaletteUNet, config: ModelConfig, tmp_path: Path
) -> None:
    """Spinning threads on cores shared with another process made PyTorch 5-20x slower
    (benchmarks/RESULTS.md); ONNX Runtime's threads spin by default."""
    require(Backend.ONNXRUNTIME)
    runner, _ = load_network(network, config, Backend.ONNXRUNTIME, threads=2, cache_dir=tmp_path)
    assert isinstance(runner, OnnxRuntimeNetwork)
    options = runner.session.get_session_options()
    assert options.intra_op_num_threads == 2
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_openvino_runs_the_configured_threads_in_the_precision_asked_for_where_the_cpu_has_it(
    network: PaletteUNet, config: ModelConfig, tmp_path: Path
) -> None:
    require(Backend.OPENVINO)
    path = cached_export(network, config, Backend.OPENVINO, tmp_path)
    exact = OpenVinoNetwork(path, 2, Precision.FP32).compiled
    assert int(exact.get_property("INFERENCE_NUM_THREADS")) == 2
    assert str(exact.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>"
    rounded = OpenVinoNetwork(path, 1, Precision.BF16).compiled
    # OpenVINO keeps float32 on a CPU that cannot multiply bf16, whatever the hint asks for.
    expected = "<Type: 'bfloat16'>" if hardware_bf16() else "<Type: 'float32'>"
    assert str(rounded.get_property("INFERENCE_PRECISION_HINT")) == expected


def test_the_cpu_default_without_native_bf16_is_onnxruntime_in_fp32_and_bf16_is_openvino_on_request() -> None:
    """(The suite's conftest makes every CPU look like one without native bf16.)"""
    default = RuntimeOptions.for_device(CPU)
    assert default.backend is Backend.ONNXRUNTIME and default.precision is Precision.FP32
    bf16 = RuntimeOptions.for_device(CPU, precision=Precision.BF16)
    assert bf16.backend is Backend.OPENVINO and bf16.precision is Precision.BF16
    assert RuntimeOptions.for_device(CPU, backend=Backend.TORCH, threads=3).threads == 3
    assert RuntimeOptions().backend is Backend.TORCH  # the trainer's pipeline: PyTorch


def test_the_cpu_default_with_native_bf16_is_openvino_in_bf16_unless_fp32_or_another_runtime_is_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """bf16 scored as fp32 in the model card's evaluation, at 3-4x the speed where the CPU multiplies bf16
    in hardware; the exact mode stays one option away."""
    require(Backend.OPENVINO)
    monkeypatch.setattr(options_module, "native_bf16_cpu", lambda: True)
    default = RuntimeOptions.for_device(CPU)
    assert default.backend is Backend.OPENVINO and default.precision is Precision.BF16
    exact = RuntimeOptions.for_device(CPU, precision=Precision.FP32)
    assert exact.backend is Backend.ONNXRUNTIME and exact.precision is Precision.FP32
    for backend in (Backend.ONNXRUNTIME, Backend.TORCH):
        assert RuntimeOptions.for_device(CPU, backend=backend).precision is Precision.FP32


def test_the_cpu_default_with_native_bf16_but_no_openvino_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyTorch's CPU bf16 autocast was not evaluated: without OpenVINO the default stays fp32."""
    monkeypatch.setattr(options_module, "native_bf16_cpu", lambda: True)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real_find_spec(name, *a)
    )
    default = RuntimeOptions.for_device(CPU)
    assert default.precision is Precision.FP32 and default.backend is Backend.ONNXRUNTIME


def test_options_refuse_a_backend_that_cannot_do_what_they_ask() -> None:
    with pytest.raises(ValueError, match="fp32"):
        RuntimeOptions(backend=Backend.ONNXRUNTIME, precision=Precision.BF16)
    with pytest.raises(ValueError, match="runs on the CPU"):
        RuntimeOptions.for_device(torch.device("cuda"), backend=Backend.OPENVINO)
    with pytest.raises(ValueError, match="runs on the CPU"):
        RuntimeOptions(backend=Backend.ONNXRUNTIME).check_device(torch.device("cuda"))
    with pytest.raises(ValueError, match="PyTorch's"):
        RuntimeOptions(backend=Backend.OPENVINO, cuda_graphs=True, buckets=(1, 2), max_batch=2)
    with pytest.raises(ValueError, match="threads"):
        RuntimeOptions(threads=0)
