"""Whether this machine has a CUDA device, asked of torch only where one may exist.

The workflow asks when it reads the config (with ``compute.device: auto``,
do the model jobs take the ``gpu`` resource?), and Snakemake reads the
config for every call, a dry run included, and on a cluster for every job.
Importing torch takes seconds, so on a machine without any GPU driver the
answer comes without it. The jobs themselves choose their device with
``aemap.compute.resolve_device``.
"""

from __future__ import annotations

import glob
import sys

# What a GPU is reached through on Linux: NVIDIA's driver (/dev/nvidiactl; /dev/nvhost-*
# and /dev/nvmap on Jetson boards), AMD's (/dev/kfd: PyTorch's ROCm build answers as
# CUDA) and WSL2's GPU paravirtualisation (/dev/dxg). Without any of them no build of
# torch sees a CUDA device.
GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/nvhost-*", "/dev/nvmap", "/dev/kfd", "/dev/dxg")


def gpu_driver_present(nodes: tuple[str, ...] = GPU_DEVICE_NODES) -> bool:
    """Whether this machine may have a CUDA device: True off Linux (not checked
    there), else whether any GPU driver's device node exists."""
    if not sys.platform.startswith("linux"):
        return True
    return any(glob.glob(pattern) for pattern in nodes)


def cuda_available() -> bool:
    """``torch.cuda.is_available()``, without importing torch where no GPU driver is."""
    if not gpu_driver_present():
        return False
    import torch

    return torch.cuda.is_available()
