"""The optimizer and its learning-rate schedule.

The learning rate is a pure function of the step, set on the optimizer before every step, so there is no
scheduler state to save and a resumed run uses exactly the rates an uninterrupted one would.
"""

from __future__ import annotations

import torch
from torch import nn

from model.training.config import OptimizerConfig


def learning_rate(step: int, config: OptimizerConfig, total_steps: int) -> float:
    """The rate for optimizer step ``step + 1`` of a ``total_steps`` run: linear warm-up over
    ``warmup_steps``, constant, then (with ``decay_steps``) a linear fall over the run's last
    ``decay_steps`` steps, reaching lr / decay_steps on the final step."""
    warm_up = 1.0 if config.warmup_steps == 0 else min(1.0, (step + 1) / config.warmup_steps)
    cool_down = 1.0 if config.decay_steps == 0 else min(1.0, (total_steps - step) / config.decay_steps)
    return config.lr * warm_up * cool_down


def build_optimizer(network: nn.Module, config: OptimizerConfig) -> torch.optim.AdamW:
    """AdamW; weight decay applies to convolution and linear weights only, never to biases or
    normalisation gains (decaying those towards 0 only fights the normalisation)."""
    decayed = [p for p in network.parameters() if p.ndim > 1]
    other = [p for p in network.parameters() if p.ndim <= 1]
    return torch.optim.AdamW(
        [
            {"params": decayed, "weight_decay": config.weight_decay},
            {"params": other, "weight_decay": 0.0},
        ],
        lr=config.lr,  # set before every step by the trainer
        betas=config.betas,
        eps=config.eps,
    )
