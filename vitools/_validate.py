"""Input checks shared by the vitools modules: each error names the argument and the fix."""

import numpy as np
import torch


def as_probability_table(p, name: str, atol: float = 1e-6) -> np.ndarray:
    """Return ``p`` as a float array after checking it is a normalised probability table.

    Raises ``ValueError`` when an entry is negative or not finite, or when the entries do
    not sum to one within ``atol``.
    """
    table = np.asarray(p, dtype=float)
    if table.size == 0:
        raise ValueError(f"{name} is empty; pass a table with at least one entry")
    if not np.all(np.isfinite(table)):
        raise ValueError(f"{name} contains NaN or infinite entries; probabilities must be finite")
    if np.any(table < 0):
        raise ValueError(f"{name} has negative entries (smallest {table.min():.3g}); probabilities must be >= 0")
    total = table.sum()
    if abs(total - 1.0) > atol:
        raise ValueError(
            f"{name} sums to {total:.6g}, not 1; if it is an unnormalised table, "
            f"divide it by its total first (vitools.marginal.normalise)"
        )
    return table


def positive_int(value, name: str) -> int:
    """Return ``value`` as an int after checking it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def float_tensor(value, name: str, ndim: int | None = None) -> torch.Tensor:
    """Return ``value`` as a floating-point tensor with finite entries (and ``ndim`` dims)."""
    tensor = torch.as_tensor(value)
    if not torch.is_floating_point(tensor):
        tensor = tensor.to(torch.get_default_dtype())
    if ndim is not None and tensor.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(tensor.shape)}")
    if not torch.all(torch.isfinite(tensor)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return tensor
