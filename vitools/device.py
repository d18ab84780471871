"""Device choice and seeding: the only place in the book that decides CPU or GPU."""

import contextlib
import random

import numpy as np
import torch

from vitools._validate import finite_number, integer, torch_device


def get_device() -> torch.device:
    """Return ``cuda`` when a CUDA device is usable, else ``cpu``.

    Every notebook calls this once and moves tensors with ``.to(device)``, so the same
    code runs on a laptop CPU and on a GPU.
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and CUDA) random number generators.

    Parameters
    ----------
    seed : int
        A non-negative integer; the same seed gives the same numbers on the same machine.
    """
    seed = integer(seed, "seed", minimum=0)
    random.seed(int(seed))
    np.random.seed(int(seed))
    torch.manual_seed(int(seed))


SMALL_WORK = 2_000_000   # multiply-adds per operation below which a second CPU thread costs more than it saves


@contextlib.contextmanager
def threads_for(work: float, device: torch.device):
    """Run torch on one CPU thread inside the block when each operation is small, else leave the setting alone.

    ``work`` is the multiply-adds of the block's largest operation (an EM iteration: N C D^2). Below
    SMALL_WORK = 2e6, waking a second thread for every small operation costs more than it saves, and its
    spinning competes with other libraries' threads on a 2-core machine. Measured on 2 cores, EM per iteration
    at 1 and 2 threads: no gain from the second thread at N C D^2 = 1.4e6 (the digits in 10-D, K = 10); at 5e6
    the two were within 1.2x of each other, either way round from run to run (``python -m benchmarks --only em``
    runs data on both sides of the limit). The thread count is restored on leaving; CUDA devices are not affected.
    """
    work = finite_number(work, "work", 0, role="is the multiply-adds of the block's largest operation")
    device, threads = torch_device(device, "device"), torch.get_num_threads()
    if device.type != "cpu" or work >= SMALL_WORK or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
