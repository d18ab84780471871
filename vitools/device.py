"""Device choice and seeding: the only place in the book that decides CPU or GPU."""

import random

import numpy as np
import torch

from vitools._validate import integer


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
