"""The book's data sets: the eye-colour x nationality table, the 8x8 digits and the breast-cancer measurements."""

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch

from vitools._validate import one_of

COLOURS = ("brown", "blue", "green")
NATIONALITIES = ("Dutch", "Greek", "Chinese", "Indian", "Italian", "German", "US", "Spanish")

# p(x = colour, z = nationality), a teaching example (not survey data) tabulated to two decimals.
# The entries add up to 0.99, not 1: chapter 1 checks the totals and normalises the table.
_EYE_COLOUR_JOINT = (
    (0.02, 0.03, 0.02, 0.01, 0.07, 0.03, 0.01, 0.00),  # brown
    (0.09, 0.01, 0.03, 0.03, 0.08, 0.04, 0.03, 0.06),  # blue
    (0.01, 0.01, 0.08, 0.06, 0.07, 0.08, 0.06, 0.06),  # green
)

N_DIGITS = 1797
N_TRAIN = 1437


def eye_colour_table():
    """The joint table p(x, z) of eye colour x and nationality z of chapter 1 (a teaching example).

    Returns
    -------
    joint : ndarray, shape (3, 8)
        Rows are colours (brown, blue, green), columns nationalities in the order of ``nationalities``.
        A fresh copy each call. The printed entries sum to 0.99, not 1.
    colours : tuple of str, length 3
    nationalities : tuple of str, length 8
    """
    return np.array(_EYE_COLOUR_JOINT, dtype=float), COLOURS, NATIONALITIES


def load_digits(split: str = "train", binarize: bool = True):
    """scikit-learn's bundled 8x8 handwritten digits, as torch tensors (no download).

    The 1,797 images are shuffled once with ``numpy.random.default_rng(0).permutation(1797)``;
    the first 1,437 are the training split, the last 360 the test split.

    Parameters
    ----------
    split : {"train", "test", "all"}
        Which part to return (``"all"`` keeps the permuted order).
    binarize : bool
        If True, pixel intensities (0..16) become 1.0 where ``pixel >= 8`` and 0.0 elsewhere;
        if False, intensities are scaled to [0, 1] by dividing by 16.

    Returns
    -------
    x : torch.Tensor, float32, shape (N, 64)
        Row-major 8x8 images: ``x[n].reshape(8, 8)``; pixel 0 is the top-left.
    y : torch.Tensor, int64, shape (N,)
        Digit labels 0..9.
    """
    splits = {"train": slice(0, N_TRAIN), "test": slice(N_TRAIN, N_DIGITS), "all": slice(0, N_DIGITS)}
    one_of(split, "split", tuple(splits))
    if not isinstance(binarize, bool):
        raise TypeError(f"binarize must be True or False, got {binarize!r}")
    pixels, labels = _digits()
    order = np.random.default_rng(0).permutation(N_DIGITS)[splits[split]]
    pixels = pixels[order]
    x = (pixels >= 8).astype(np.float32) if binarize else (pixels / 16.0).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(labels[order].astype(np.int64))


@functools.lru_cache(maxsize=1)
def _digits():
    """Pixel intensities (1797, 64) and labels (1797,) from scikit-learn's bundled ``digits.csv.gz``.

    The file is read directly, as ``sklearn.datasets.load_digits`` reads it, because importing scikit-learn costs
    about a second of every chapter's start-up; the tests check both give the same arrays. If the file is not where
    scikit-learn keeps it, scikit-learn's loader is used. Read-only arrays: callers index copies out of them.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise ImportError("load_digits reads the digits bundled with scikit-learn: pip install scikit-learn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    if path.is_file():
        table = np.loadtxt(path, delimiter=",")
        pixels, labels = table[:, :-1], table[:, -1].astype(np.int64)
    else:
        from sklearn import datasets
        bunch = datasets.load_digits()
        pixels, labels = bunch.data, bunch.target
    pixels.flags.writeable = labels.flags.writeable = False
    return pixels, labels


def load_breast_cancer(*, standardize: bool = True, intercept: bool = False, dtype: torch.dtype = torch.float64):
    """scikit-learn's bundled Wisconsin breast-cancer data (569 tumours, 30 features), as torch tensors (no download).

    The features are measurements of cell nuclei in a digitised image of a fine-needle aspirate (radius, texture,
    perimeter, area, ..., each as the mean, the standard error and the worst value over the nuclei). Rows keep the
    file's order (no shuffling).

    Parameters
    ----------
    standardize : bool
        If True, each feature column is centred and divided by its standard deviation (the population one,
        ``ddof=0``, as ``sklearn.preprocessing.StandardScaler``), so a one-unit change of any feature is one
        standard deviation of it. If False, the raw measurements.
    intercept : bool
        If True, a column of ones is put in front, column 0, so a weight vector's first entry is the intercept
        (the features then sit in columns 1..30).
    dtype : torch.dtype
        A floating-point dtype for the features; float64 (the default) because Newton's method and the
        comparisons with scikit-learn's fits are made to many digits, and the data are tiny.

    Returns
    -------
    x : torch.Tensor, shape (569, 30), or (569, 31) with ``intercept``
    y : torch.Tensor, int64, shape (569,)
        scikit-learn's labels: **1 = benign** (357 tumours), 0 = malignant (212).
    """
    if not isinstance(standardize, bool):
        raise TypeError(f"standardize must be True or False, got {standardize!r}")
    if not isinstance(intercept, bool):
        raise TypeError(f"intercept must be True or False, got {intercept!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype such as torch.float64, got {dtype!r}")
    features, labels = _breast_cancer()
    if standardize:
        features = (features - features.mean(0)) / features.std(0)
    if intercept:
        features = np.hstack([np.ones((len(features), 1)), features])
    return torch.tensor(features, dtype=dtype), torch.tensor(labels, dtype=torch.int64)


@functools.lru_cache(maxsize=1)
def _breast_cancer():
    """Features (569, 30) and labels (569,) from scikit-learn's bundled ``breast_cancer.csv``, read as
    ``sklearn.datasets.load_breast_cancer`` reads it (its first line holds the counts and the class names; the tests
    check both give the same arrays), without importing scikit-learn; scikit-learn's loader if the file is not where
    scikit-learn keeps it. Read-only arrays."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise ImportError("load_breast_cancer reads the data bundled with scikit-learn: pip install scikit-learn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "breast_cancer.csv"
    if path.is_file():
        table = np.loadtxt(path, delimiter=",", skiprows=1)
        features, labels = table[:, :-1], table[:, -1].astype(np.int64)
    else:
        from sklearn import datasets
        bunch = datasets.load_breast_cancer()
        features, labels = bunch.data, bunch.target.astype(np.int64)
    features.flags.writeable = labels.flags.writeable = False
    return features, labels
