import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn import datasets

from vitools.data import eye_colour_table, load_digits


def test_eye_colour_table_shape_labels_and_totals():
    joint, colours, nationalities = eye_colour_table()
    assert joint.shape == (3, 8)
    assert colours == ("brown", "blue", "green")
    assert nationalities[0] == "Dutch" and nationalities[-1] == "Spanish"
    # The rows add up to 0.19, 0.37 and 0.43 (not the 0.44 that would make the total 1), the table to 0.99.
    np.testing.assert_allclose(joint.sum(axis=1), [0.19, 0.37, 0.43], atol=1e-12)
    np.testing.assert_allclose(joint.sum(), 0.99, atol=1e-12)


def test_eye_colour_table_returns_a_fresh_copy():
    joint, _, _ = eye_colour_table()
    joint[:] = 0
    assert eye_colour_table()[0].sum() > 0


def test_digits_split_sizes_and_types():
    x_train, y_train = load_digits("train")
    x_test, y_test = load_digits("test")
    assert x_train.shape == (1437, 64) and x_test.shape == (360, 64)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert set(torch.unique(x_train).tolist()) == {0.0, 1.0}


def test_digits_follow_the_documented_permutation_and_threshold():
    bunch = datasets.load_digits()
    order = np.random.default_rng(0).permutation(1797)
    x_test, y_test = load_digits("test")
    np.testing.assert_array_equal(x_test.numpy(), (bunch.data[order[1437:]] >= 8).astype(np.float32))
    np.testing.assert_array_equal(y_test.numpy(), bunch.target[order[1437:]])
    x_grey, _ = load_digits("all", binarize=False)
    np.testing.assert_allclose(x_grey.numpy(), bunch.data[order] / 16.0, rtol=1e-6)
    x_all, _ = load_digits("all")
    assert torch.equal(torch.cat([load_digits("train")[0], x_test]), x_all)


def test_digits_are_read_without_importing_scikit_learn():
    # the start-up of every chapter that loads the digits: the bundled file is read directly, not through sklearn
    code = ("import sys; from vitools.data import load_digits; x, y = load_digits('all'); "
            "print(x.shape[0], 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert out == ["1797", "False"]


def test_digits_bad_arguments():
    with pytest.raises(ValueError, match="split must be one of"):
        load_digits("validation")
    with pytest.raises(TypeError, match="binarize"):
        load_digits("train", binarize="yes")
