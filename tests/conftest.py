"""Fixtures shared by the test modules.

- ``one_thread`` (module scope): torch on one intra-op thread while a module's tests run. The book's tensors are
  tiny; with several threads on a loaded machine torch spends its time synchronising them (a 150-iteration
  variational EM run went from 0.4 s to 20 s), and bit-identical repeats need the same thread count. A module
  opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
- ``digits`` (session scope): the book's digits, ``(x_train, y_train, x_test, y_test)`` from
  ``vitools.data.load_digits``, loaded once for every module that asks.
"""

import pytest
import torch

from vitools.data import load_digits


@pytest.fixture(scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def digits():
    x_train, y_train = load_digits("train")
    x_test, y_test = load_digits("test")
    return x_train, y_train, x_test, y_test
