"""vitools.device's thread rule and vitools._validate's distribution-check switch: they change global torch settings
inside a block only, and restore them however the block ends."""

import pytest
import torch

from vitools._validate import distribution_checks_off
from vitools.device import SMALL_WORK, threads_for
from vitools.gaussian_mixture import GaussianMixtureEM


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def test_small_work_runs_on_one_thread_and_the_setting_comes_back(two_threads):
    with threads_for(SMALL_WORK - 1, torch.device("cpu")):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with threads_for(SMALL_WORK, "cpu"):                 # large enough: left alone
        assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError, match="inside"):
        with threads_for(10, "cpu"):
            raise RuntimeError("inside")
    assert torch.get_num_threads() == 2


def test_em_leaves_the_thread_setting_as_it_found_it(two_threads):
    x = torch.randn(200, 2, dtype=torch.float64)
    fit = GaussianMixtureEM(2).fit(x, weights_init=[0.5, 0.5], means_init=x[:2], covariances_init=[torch.eye(2)] * 2,
                                   max_iter=5)
    assert fit.n_iter_ >= 1 and torch.get_num_threads() == 2


def test_distribution_checks_come_back_on(two_threads):
    assert torch.distributions.Distribution._validate_args
    with pytest.raises(ValueError, match="inside"):
        with distribution_checks_off():
            torch.distributions.Normal(0.0, -1.0)        # not checked here
            raise ValueError("inside")
    with pytest.raises(ValueError, match="scale"):
        torch.distributions.Normal(0.0, -1.0)
