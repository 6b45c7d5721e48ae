"""Networks. The U-Net knows nothing of schedules or samplers: (condition, y_t, gamma) -> output; the
preconditioning beside it is the one place that turns noise levels into input and output scales."""

from model.nn.preconditioning import EDMPreconditionedUNet, create_network
from model.nn.unet import PaletteUNet

__all__ = ["EDMPreconditionedUNet", "PaletteUNet", "create_network"]
