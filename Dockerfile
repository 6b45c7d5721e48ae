# syntax=docker/dockerfile:1
# One image for the Palette API and workers (`palette api`, `palette worker`).
#
# CUDA-capable without a CUDA base image: PyTorch's CUDA wheels carry the CUDA runtime and cuDNN, so the
# host only needs the NVIDIA driver and the NVIDIA Container Toolkit (docker-compose.yml reserves the GPU
# for the worker). Without a GPU the same image samples on the CPU. For a CPU-only image (about 1 GB
# smaller) build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cpu.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/palette
ENV PATH=/opt/palette/bin:$PATH
# torch first, from the CUDA index: the project's own requirement (torch>=2.4,<2.15) is then satisfied.
RUN pip install --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY model ./model
COPY jobs ./jobs
COPY service ./service
COPY workers ./workers
COPY palette ./palette
# [cpu]: ONNX Runtime and OpenVINO, the CPU backends (README "Performance"); CUDA workers run PyTorch.
RUN pip install ".[cpu]"

FROM python:${PYTHON_VERSION}-slim
COPY --from=build /opt/palette /opt/palette
ENV PATH=/opt/palette/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PALETTE_DEVICE=auto
RUN useradd --create-home --uid 10001 palette
USER palette
WORKDIR /home/palette
# 8000: the API; 9100: a worker's own process metrics (palette worker --metrics-port 9100)
EXPOSE 8000 9100
ENTRYPOINT ["palette"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
