"""Input checks shared by the vitools modules: each error names the argument and the fix."""

import contextlib

import numpy as np
import torch


def as_probability_table(p, name: str, atol: float = 1e-6) -> np.ndarray:
    """Return ``p`` as a float array after checking it is a normalised probability table.

    Raises ``ValueError`` when an entry is negative or not finite, or when the entries do
    not sum to one within ``atol``.
    """
    table = float_array(p, name)
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
    return integer(value, name, minimum=1)


def integer(value, name: str, minimum: int = 0) -> int:
    """Return ``value`` as an int: ``TypeError`` if it is not an integer (a float, a bool), ``ValueError`` below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def finite_number(value, name: str, minimum: float | None = None, strict: bool = False, role: str = "") -> float:
    """Return ``value`` as a float: ``TypeError`` unless it is a real number, ``ValueError`` unless it is
    finite and ``>= minimum`` (``> minimum`` with ``strict``). ``role`` says what the argument is for, e.g.
    "is the noise standard deviation", and goes into the message after the name.
    """
    expected = "a finite number" + ("" if minimum is None else f" {'>' if strict else '>='} {minimum:g}")
    subject = f"{name} {role} and" if role else name
    number = _real(value, subject, expected)
    if not np.isfinite(number) or (minimum is not None and (number <= minimum if strict else number < minimum)):
        raise ValueError(f"{subject} must be {expected}, got {value!r}")
    return number


def tolerance(value, name: str) -> float:
    """Return a stopping tolerance as a float: any real number but NaN (-inf: never stop early)."""
    expected = "a number, the smallest improvement that continues the iterations (-inf: run them all)"
    number = _real(value, name, expected)
    if np.isnan(number):
        raise ValueError(f"{name} must be {expected}, got nan")
    return number


def _real(value, subject: str, expected: str) -> float:
    """``float(value)``, or ``TypeError`` when ``value`` is not a single real number (a string, a bool, an array)."""
    if isinstance(value, (bool, str, bytes)) or value is None:
        raise TypeError(f"{subject} must be {expected}, got {value!r} of type {type(value).__name__}")
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"{subject} must be {expected} (a single number), got {type(value).__name__}") from error


def one_of(value, name: str, options, expected: str | None = None) -> str:
    """Return ``value`` after checking it is one of the strings ``options`` (``TypeError`` if not a string)."""
    expected = expected or "one of " + ", ".join(map(repr, options))
    if not isinstance(value, str):
        raise TypeError(f"{name} must be {expected}, got {value!r} of type {type(value).__name__}")
    if value not in options:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return value


def function(value, name: str, expected: str = "a function"):
    """Return ``value`` after checking it is callable (``TypeError`` otherwise)."""
    if not callable(value):
        raise TypeError(f"{name} must be {expected} (something callable), got {type(value).__name__}")
    return value


def axis_index(value, name: str, ndim: int) -> int:
    """Return ``value`` as a non-negative axis of an array with ``ndim`` dimensions."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer in [{-ndim}, {ndim - 1}], got {value!r} of type "
                        f"{type(value).__name__}")
    if not -ndim <= value < ndim:
        raise ValueError(f"{name} must be an integer in [{-ndim}, {ndim - 1}] for an array with {ndim} "
                         f"dimension(s), got {value!r}")
    return int(value) % ndim


def torch_device(value, name: str) -> torch.device:
    """Return ``value`` as a ``torch.device`` that exists on this machine."""
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"{name} must be a torch.device or a name such as 'cpu' or 'cuda', got {value!r}") from error
    if device.type == "cuda" and not (torch.cuda.is_available()
                                      and (device.index or 0) < torch.cuda.device_count()):
        raise ValueError(f"{name} is {value!r} but this machine has no such CUDA device; "
                         f"pass vitools.device.get_device() to use CUDA when it is there and the CPU otherwise")
    return device


def float_array(value, name: str) -> np.ndarray:
    """Return ``value`` as a numpy float array; ``TypeError`` naming ``name`` when it does not hold numbers."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}")
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"{name} must be an array of numbers (an ndarray, a tensor or a rectangular nested "
                        f"list), got {type(value).__name__}: {error}") from error


def float_tensor(value, name: str, ndim: int | None = None) -> torch.Tensor:
    """Return ``value`` as a floating-point tensor with finite entries (and ``ndim`` dims)."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a tensor (or array) of numbers, got {type(value).__name__}")
    try:
        tensor = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"{name} must be a tensor (or array) of numbers, got {type(value).__name__}: "
                        f"{error}") from error
    if not torch.is_floating_point(tensor):
        tensor = tensor.to(torch.get_default_dtype())
    if ndim is not None and tensor.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(tensor.shape)}")
    if not torch.all(torch.isfinite(tensor)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return tensor


def binary_tensor(value, name: str) -> torch.Tensor:
    """``value`` as a 2-D floating tensor after checking every entry is exactly 0 or 1."""
    x = float_tensor(value, name, ndim=2)
    if not torch.all((x == 0) | (x == 1)):
        raise ValueError(f"{name} must be binary: every entry exactly 0 or 1 (threshold grey values first, "
                         f"e.g. vitools.data.load_digits(binarize=True))")
    return x


@contextlib.contextmanager
def distribution_checks_off():
    """torch.distributions' argument checks off inside the block: for loops whose inputs were checked once, before."""
    validate = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        torch.distributions.Distribution.set_default_validate_args(validate)
