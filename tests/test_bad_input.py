"""Every public function and class of vitools rejects bad input with a ValueError or TypeError that names the argument.

One table of cases, ``case(name, what, call, error, match)``: calling ``call()`` must raise ``error`` (TypeError for
a wrong type, ValueError for a wrong value) with a message matching ``match``, which always contains the argument's
name as spelled in the signature. ``test_every_public_callable_has_a_case`` fails when a public function, class or
method of a vitools module has no case (apart from the commented allow-list).
"""

import importlib
import inspect

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch.distributions import Bernoulli, Categorical, Independent, MultivariateNormal, Normal  # noqa: E402

from vitools import (data, device, divergences, elbo, em, estimators, interactive, lvm, marginal,  # noqa: E402
                     mixtures, plotting, vae)
from vitools.exercises import Exercise, Mistake, exercise  # noqa: E402

NAN, INF = float("nan"), float("inf")

# ---------------------------------------------------------------- small valid objects the bad calls start from

JOINT = np.full((2, 3), 1 / 6)
LVM = lvm.LinearGaussianLVM.random(3, 2, 0.5, seed=0)
X = LVM.sample(4)[0]                                               # (4, 3), float64
PRIOR = LVM.prior
Q = Independent(Normal(torch.zeros(4, 2, dtype=torch.float64), torch.ones(4, 2, dtype=torch.float64)), 1)
Q_MVN = LVM.posterior(X)

BINARY = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0], [1, 1, 1, 0], [0, 1, 0, 1]],
                      dtype=torch.float64)
MIX = mixtures.BernoulliMixture(2).fit(BINARY, max_iter=3)
MASK = torch.tensor([True, True, False, True])

GX = torch.tensor([[0.0, 0.1], [0.2, -0.1], [-0.1, 0.0], [3.0, 3.1], [3.2, 2.9], [2.9, 3.0]], dtype=torch.float64)
W2, M2, C2 = np.array([0.5, 0.5]), np.array([[0.0, 0.0], [3.0, 3.0]]), np.stack([np.eye(2)] * 2)
GMM = em.GaussianMixtureEM(2).fit(GX, W2, M2, C2, max_iter=3)
NOT_PD = np.stack([np.eye(2), -np.eye(2)])
RESP = np.full((6, 2), 0.5)

torch.manual_seed(0)
NET = vae.VAE(4, 2, hidden=(3,))
CNET = vae.CVAE(4, 2, n_classes=3, hidden=(3,))
LIN = vae.LinearVAE(3, 2)
XB = BINARY[:4].float()                                            # (4, 4) binary rows for the VAEs
XL = X.float()                                                     # (4, 3) for the linear VAE
LABELS = torch.tensor([0, 1, 2, 0])
ZB = torch.zeros(4, 2)

TARGET = divergences.two_mode_target(4.0)
MVN_2D = MultivariateNormal(torch.zeros(2), torch.eye(2))


def grad_normal(n=1):
    return Normal(torch.zeros(n, requires_grad=True), torch.ones(n))


def square(z):
    return (z**2).sum(-1)


class NoDecoder:                                                   # a model with prior and log_joint, no decoder
    prior, log_joint = LVM.prior, LVM.log_joint


def axes(n=1):
    fig, ax = plt.subplots(1, n)
    plt.close(fig)
    return ax


def draw(fig, value):
    pass


def answer():
    return 0.0


def exercise_with(**changes):
    arguments = dict(label="9.1", title="t", reference=answer)
    arguments.update(changes)
    label, title, reference = arguments.pop("label"), arguments.pop("title"), arguments.pop("reference")
    return Exercise(label, title, reference, **arguments)


def case(name, what, call, error, match):
    return pytest.param(call, error, match, id=f"{name}-{what}")


CASES = [
    # ------------------------------------------------------------ data
    case("data.load_digits", "unknown-split", lambda: data.load_digits("valid"), ValueError, "split must be one of"),
    case("data.load_digits", "split-not-str", lambda: data.load_digits(["train"]), TypeError, "split must be"),
    case("data.load_digits", "binarize-not-bool", lambda: data.load_digits("train", "yes"), TypeError, "binarize"),

    # ------------------------------------------------------------ marginal
    case("marginal.normalise", "negative", lambda: marginal.normalise([1.0, -1.0]), ValueError, "table"),
    case("marginal.normalise", "nan", lambda: marginal.normalise([1.0, NAN]), ValueError, "table"),
    case("marginal.normalise", "all-zero", lambda: marginal.normalise(np.zeros(3)), ValueError, "table sums to 0"),
    case("marginal.normalise", "empty", lambda: marginal.normalise([]), ValueError, "table"),
    case("marginal.normalise", "string", lambda: marginal.normalise("abc"), TypeError, "table"),
    case("marginal.sum_out", "not-normalised", lambda: marginal.sum_out(JOINT * 2, 0), ValueError, "joint sums to 2"),
    case("marginal.sum_out", "negative", lambda: marginal.sum_out([[0.6, -0.1], [0.3, 0.2]], 0), ValueError,
         "joint has negative"),
    case("marginal.sum_out", "nan", lambda: marginal.sum_out([[NAN, 0.5], [0.25, 0.25]], 0), ValueError,
         "joint contains NaN"),
    case("marginal.sum_out", "axis-out-of-range", lambda: marginal.sum_out(JOINT, 2), ValueError,
         r"axis must be an integer in \[-2, 1\]"),
    case("marginal.sum_out", "axis-float", lambda: marginal.sum_out(JOINT, 0.0), TypeError, "axis must be an integer"),
    case("marginal.sum_out", "joint-string", lambda: marginal.sum_out("joint", 0), TypeError, "joint"),
    case("marginal.condition_on", "1-d", lambda: marginal.condition_on(np.ones(4) / 4, 0), ValueError,
         "joint must be a 2-D"),
    case("marginal.condition_on", "axis-bool", lambda: marginal.condition_on(JOINT, True), TypeError, "axis"),
    case("marginal.condition_on", "zero-evidence", lambda: marginal.condition_on([[0.5, 0.5], [0.0, 0.0]], 0),
         ValueError, "along axis 0: they have probability 0"),
    case("marginal.condition_on", "not-normalised", lambda: marginal.condition_on(JOINT / 2, 1), ValueError,
         "joint sums to 0.5"),
    case("marginal.log_mean_exp", "list", lambda: marginal.log_mean_exp([0.0, 1.0]), TypeError, "log_w"),
    case("marginal.log_mean_exp", "int-tensor", lambda: marginal.log_mean_exp(torch.arange(3)), TypeError,
         "log_w must be a floating-point"),
    case("marginal.log_mean_exp", "nan", lambda: marginal.log_mean_exp(torch.tensor([0.0, NAN])), ValueError,
         "log_w contains NaN"),
    case("marginal.log_mean_exp", "no-samples", lambda: marginal.log_mean_exp(torch.zeros(0, 3)), ValueError,
         "log_w .* at least one sample"),
    case("marginal.log_mean_exp", "scalar", lambda: marginal.log_mean_exp(torch.tensor(1.0)), ValueError, "log_w"),
    case("marginal.log_mean_exp", "dim-out-of-range", lambda: marginal.log_mean_exp(torch.zeros(3), dim=1),
         ValueError, "dim must be an integer in"),
    case("marginal.log_mean_exp", "dim-float", lambda: marginal.log_mean_exp(torch.zeros(3), dim=0.0), TypeError,
         "dim must be an integer"),
    case("marginal.log_importance_weights", "model-without-log-joint",
         lambda: marginal.log_importance_weights(object(), X, PRIOR, 2), TypeError, "model must have"),
    case("marginal.log_importance_weights", "x-nan",
         lambda: marginal.log_importance_weights(LVM, X * NAN, PRIOR, 2), ValueError, "x contains NaN"),
    case("marginal.log_importance_weights", "x-1d", lambda: marginal.log_importance_weights(LVM, X[0], PRIOR, 2),
         ValueError, "x must have 2 dimension"),
    case("marginal.log_importance_weights", "x-wrong-D",
         lambda: marginal.log_importance_weights(LVM, X[:, :2], PRIOR, 2), ValueError, "x must have last dimension"),
    case("marginal.log_importance_weights", "proposal-not-distribution",
         lambda: marginal.log_importance_weights(LVM, X, "q", 2), TypeError, "proposal must be"),
    case("marginal.log_importance_weights", "proposal-event-shape",
         lambda: marginal.log_importance_weights(LVM, X, Normal(0.0, 1.0), 2), ValueError, "proposal has event shape"),
    case("marginal.log_importance_weights", "proposal-batch-shape",
         lambda: marginal.log_importance_weights(LVM, X[:3], Q, 2), ValueError, "proposal must have batch shape"),
    case("marginal.log_importance_weights", "k-zero", lambda: marginal.log_importance_weights(LVM, X, Q, 0),
         ValueError, "k must be an integer >= 1"),
    case("marginal.log_importance_weights", "k-float", lambda: marginal.log_importance_weights(LVM, X, Q, 2.0),
         TypeError, "k must be an integer >= 1"),
    case("marginal.log_marginal_is", "k-negative", lambda: marginal.log_marginal_is(LVM, X, Q, -1), ValueError,
         "k must be"),
    case("marginal.log_marginal_is", "x-string", lambda: marginal.log_marginal_is(LVM, "x", Q, 2), TypeError,
         "x must be a tensor"),
    case("marginal.log_marginal_is", "proposal-none", lambda: marginal.log_marginal_is(LVM, X, None, 2), TypeError,
         "proposal"),
    case("marginal.log_marginal_mc", "model-none", lambda: marginal.log_marginal_mc(None, X, 2), TypeError,
         "model must have"),
    case("marginal.log_marginal_mc", "x-inf", lambda: marginal.log_marginal_mc(LVM, X + INF, 2), ValueError,
         "x contains NaN or infinite"),
    case("marginal.log_marginal_mc", "k-zero", lambda: marginal.log_marginal_mc(LVM, X, 0), ValueError, "k must be"),

    # ------------------------------------------------------------ lvm
    case("lvm.LinearGaussianLVM", "sigma-zero", lambda: lvm.LinearGaussianLVM(LVM.W, LVM.b, 0.0), ValueError,
         "sigma is the noise standard deviation and must be a finite number > 0"),
    case("lvm.LinearGaussianLVM", "sigma-negative", lambda: lvm.LinearGaussianLVM(LVM.W, LVM.b, -1.0), ValueError,
         "sigma"),
    case("lvm.LinearGaussianLVM", "sigma-nan", lambda: lvm.LinearGaussianLVM(LVM.W, LVM.b, NAN), ValueError, "sigma"),
    case("lvm.LinearGaussianLVM", "sigma-inf", lambda: lvm.LinearGaussianLVM(LVM.W, LVM.b, INF), ValueError, "sigma"),
    case("lvm.LinearGaussianLVM", "sigma-string", lambda: lvm.LinearGaussianLVM(LVM.W, LVM.b, "0.5"), TypeError,
         "sigma"),
    case("lvm.LinearGaussianLVM", "W-1d", lambda: lvm.LinearGaussianLVM(LVM.b, LVM.b, 0.5), ValueError,
         "W must have 2 dimension"),
    case("lvm.LinearGaussianLVM", "W-nan", lambda: lvm.LinearGaussianLVM(LVM.W * NAN, LVM.b, 0.5), ValueError,
         "W contains NaN"),
    case("lvm.LinearGaussianLVM", "W-string", lambda: lvm.LinearGaussianLVM("W", LVM.b, 0.5), TypeError, "W must be"),
    case("lvm.LinearGaussianLVM", "b-length", lambda: lvm.LinearGaussianLVM(LVM.W, LVM.b[:2], 0.5), ValueError,
         "b has length 2 but W has 3 rows"),
    case("lvm.LinearGaussianLVM", "b-2d", lambda: lvm.LinearGaussianLVM(LVM.W, LVM.W, 0.5), ValueError,
         "b must have 1 dimension"),
    case("lvm.LinearGaussianLVM.random", "x_dim-zero", lambda: lvm.LinearGaussianLVM.random(0, 2, 0.5), ValueError,
         "x_dim must be an integer >= 1"),
    case("lvm.LinearGaussianLVM.random", "z_dim-float", lambda: lvm.LinearGaussianLVM.random(3, 1.5, 0.5), TypeError,
         "z_dim must be an integer"),
    case("lvm.LinearGaussianLVM.random", "sigma-negative", lambda: lvm.LinearGaussianLVM.random(3, 2, -0.5),
         ValueError, "sigma"),
    case("lvm.LinearGaussianLVM.random", "seed-negative", lambda: lvm.LinearGaussianLVM.random(3, 2, 0.5, seed=-1),
         ValueError, "seed must be an integer >= 0"),
    case("lvm.LinearGaussianLVM.random", "seed-string", lambda: lvm.LinearGaussianLVM.random(3, 2, 0.5, seed="0"),
         TypeError, "seed"),
    case("lvm.LinearGaussianLVM.random", "dtype-int",
         lambda: lvm.LinearGaussianLVM.random(3, 2, 0.5, dtype=torch.int64), TypeError, "dtype must be a floating"),
    case("lvm.LinearGaussianLVM.random", "device-unknown",
         lambda: lvm.LinearGaussianLVM.random(3, 2, 0.5, device="gpu"), ValueError, "device must be a torch.device"),
    case("lvm.LinearGaussianLVM.random", "device-missing-cuda",
         lambda: lvm.LinearGaussianLVM.random(3, 2, 0.5, device="cuda:99"), ValueError, "device is 'cuda:99'"),
    case("lvm.LinearGaussianLVM.decoder", "z-wrong-L", lambda: LVM.decoder(torch.zeros(2, 3)), ValueError,
         "z must have last dimension L = 2"),
    case("lvm.LinearGaussianLVM.decoder", "z-nan", lambda: LVM.decoder(torch.full((2, 2), NAN)), ValueError,
         "z contains NaN"),
    case("lvm.LinearGaussianLVM.decoder", "z-string", lambda: LVM.decoder("z"), TypeError, "z must be"),
    case("lvm.LinearGaussianLVM.sample", "n-zero", lambda: LVM.sample(0), ValueError, "n must be an integer >= 1"),
    case("lvm.LinearGaussianLVM.sample", "n-float", lambda: LVM.sample(2.5), TypeError, "n must be an integer"),
    case("lvm.LinearGaussianLVM.log_joint", "x-wrong-D", lambda: LVM.log_joint(X[:, :2], ZB), ValueError,
         "x must have last dimension D = 3"),
    case("lvm.LinearGaussianLVM.log_joint", "z-wrong-L", lambda: LVM.log_joint(X, torch.zeros(4, 3)), ValueError,
         "z must have last dimension"),
    case("lvm.LinearGaussianLVM.log_joint", "x-nan", lambda: LVM.log_joint(X * NAN, ZB), ValueError, "x contains NaN"),
    case("lvm.LinearGaussianLVM.log_marginal", "x-wrong-D", lambda: LVM.log_marginal(torch.zeros(2, 4)), ValueError,
         "x must have last dimension D = 3"),
    case("lvm.LinearGaussianLVM.log_marginal", "x-inf", lambda: LVM.log_marginal(X - INF), ValueError,
         "x contains NaN or infinite"),
    case("lvm.LinearGaussianLVM.log_marginal", "x-none", lambda: LVM.log_marginal(None), TypeError, "x must be"),
    case("lvm.LinearGaussianLVM.posterior", "x-wrong-D", lambda: LVM.posterior(torch.zeros(2, 2)), ValueError,
         "x must have last dimension"),
    case("lvm.LinearGaussianLVM.posterior", "x-nan", lambda: LVM.posterior(X * NAN), ValueError, "x contains NaN"),
    case("lvm.LinearGaussianLVM.elbo_terms", "q-not-gaussian", lambda: LVM.elbo_terms(X, Q), TypeError,
         "q must be a torch.distributions.MultivariateNormal"),
    case("lvm.LinearGaussianLVM.elbo_terms", "q-batch-shape", lambda: LVM.elbo_terms(X[:3], Q_MVN), ValueError,
         r"q must have batch shape \(\) or \(3,\)"),
    case("lvm.LinearGaussianLVM.elbo_terms", "x-wrong-D", lambda: LVM.elbo_terms(X[:, :2], Q_MVN), ValueError,
         "x must have last dimension"),

    # ------------------------------------------------------------ mixtures
    case("mixtures.BernoulliMixture", "n_components-zero", lambda: mixtures.BernoulliMixture(0), ValueError,
         "n_components must be an integer >= 1"),
    case("mixtures.BernoulliMixture", "n_components-float", lambda: mixtures.BernoulliMixture(2.0), TypeError,
         "n_components must be an integer"),
    case("mixtures.BernoulliMixture", "alpha-negative", lambda: mixtures.BernoulliMixture(2, alpha=-1.0), ValueError,
         "alpha is a pseudo-count and must be a finite number >= 0"),
    case("mixtures.BernoulliMixture", "alpha-nan", lambda: mixtures.BernoulliMixture(2, alpha=NAN), ValueError,
         "alpha"),
    case("mixtures.BernoulliMixture", "alpha-string", lambda: mixtures.BernoulliMixture(2, alpha="1"), TypeError,
         "alpha"),
    case("mixtures.BernoulliMixture.fit", "x-not-binary", lambda: mixtures.BernoulliMixture(2).fit(BINARY * 0.5),
         ValueError, "x must be binary"),
    case("mixtures.BernoulliMixture.fit", "x-nan", lambda: mixtures.BernoulliMixture(2).fit(BINARY * NAN),
         ValueError, "x contains NaN"),
    case("mixtures.BernoulliMixture.fit", "x-1d", lambda: mixtures.BernoulliMixture(2).fit(BINARY[0]), ValueError,
         "x must have 2 dimension"),
    case("mixtures.BernoulliMixture.fit", "n_components-above-n_samples",
         lambda: mixtures.BernoulliMixture(7).fit(BINARY), ValueError, "x has 6 rows .* at least n_components"),
    case("mixtures.BernoulliMixture.fit", "x-no-columns",
         lambda: mixtures.BernoulliMixture(2).fit(torch.zeros(6, 0)), ValueError, "x has no columns"),
    case("mixtures.BernoulliMixture.fit", "max_iter-zero",
         lambda: mixtures.BernoulliMixture(2).fit(BINARY, max_iter=0), ValueError, "max_iter must be"),
    case("mixtures.BernoulliMixture.fit", "max_iter-float",
         lambda: mixtures.BernoulliMixture(2).fit(BINARY, max_iter=1.5), TypeError, "max_iter must be an integer"),
    case("mixtures.BernoulliMixture.fit", "tol-nan", lambda: mixtures.BernoulliMixture(2).fit(BINARY, tol=NAN),
         ValueError, "tol must be a number"),
    case("mixtures.BernoulliMixture.fit", "tol-string", lambda: mixtures.BernoulliMixture(2).fit(BINARY, tol="0"),
         TypeError, "tol must be"),
    case("mixtures.BernoulliMixture.fit", "seed-negative", lambda: mixtures.BernoulliMixture(2).fit(BINARY, seed=-1),
         ValueError, "seed must be an integer >= 0"),
    case("mixtures.BernoulliMixture.log_prob", "x-wrong-D", lambda: MIX.log_prob(BINARY[:, :3]), ValueError,
         "x has 3 columns but the model has D = 4"),
    case("mixtures.BernoulliMixture.log_prob", "x-not-binary", lambda: MIX.log_prob(BINARY + 0.5), ValueError,
         "x must be binary"),
    case("mixtures.BernoulliMixture.log_prob", "observed-float", lambda: MIX.log_prob(BINARY, torch.ones(4)),
         ValueError, "observed must be a bool"),
    case("mixtures.BernoulliMixture.log_prob", "observed-shape",
         lambda: MIX.log_prob(BINARY, torch.ones(3, dtype=torch.bool)), ValueError, "observed must have shape"),
    case("mixtures.BernoulliMixture.log_prob", "observed-string", lambda: MIX.log_prob(BINARY, "all"), TypeError,
         "observed must be a bool tensor"),
    case("mixtures.BernoulliMixture.log_prob_enumerate", "observed-per-row",
         lambda: MIX.log_prob_enumerate(BINARY, torch.ones(6, 4, dtype=torch.bool)), ValueError,
         "observed must have shape"),
    case("mixtures.BernoulliMixture.log_prob_enumerate", "x-nan", lambda: MIX.log_prob_enumerate(BINARY * NAN, MASK),
         ValueError, "x contains NaN"),
    case("mixtures.BernoulliMixture.posterior", "x-not-binary", lambda: MIX.posterior(BINARY - 2), ValueError,
         "x must be binary"),
    case("mixtures.BernoulliMixture.posterior", "observed-shape", lambda: MIX.posterior(BINARY, MASK[:2]),
         ValueError, "observed must have shape"),
    case("mixtures.BernoulliMixture.sample", "n-zero", lambda: MIX.sample(0), ValueError, "n must be an integer >= 1"),
    case("mixtures.BernoulliMixture.sample", "n-float", lambda: MIX.sample(1.0), TypeError, "n must be an integer"),
    case("mixtures.BernoulliMixture.sample", "seed-float", lambda: MIX.sample(2, seed=0.5), TypeError,
         "seed must be an integer"),
    case("mixtures.BernoulliMixture.complete_hidden", "observed-shape",
         lambda: MIX.complete_hidden(BINARY, torch.ones(4, 3, dtype=torch.bool)), ValueError,
         "observed must have shape"),
    case("mixtures.BernoulliMixture.complete_hidden", "x-wrong-D", lambda: MIX.complete_hidden(BINARY[:, 1:], MASK),
         ValueError, "x has 3 columns"),

    # ------------------------------------------------------------ divergences
    case("divergences.entropy", "negative", lambda: divergences.entropy([1.5, -0.5]), ValueError,
         "p has negative entries"),
    case("divergences.entropy", "not-normalised", lambda: divergences.entropy([0.5, 0.6]), ValueError,
         "p sums to 1.1"),
    case("divergences.entropy", "nan-row", lambda: divergences.entropy([[0.5, 0.5], [NAN, 0.5]]), ValueError,
         r"p\[1\] contains NaN"),
    case("divergences.entropy", "scalar", lambda: divergences.entropy(1.0), ValueError, "p must have at least one axis"),
    case("divergences.entropy", "string", lambda: divergences.entropy("p"), TypeError, "p must be an array"),
    case("divergences.kl_discrete", "p-not-normalised", lambda: divergences.kl_discrete([0.2, 0.2], [0.5, 0.5]),
         ValueError, "p sums to 0.4"),
    case("divergences.kl_discrete", "q-negative", lambda: divergences.kl_discrete([0.5, 0.5], [1.5, -0.5]),
         ValueError, "q has negative"),
    case("divergences.kl_discrete", "q-inf", lambda: divergences.kl_discrete([0.5, 0.5], [INF, 0.5]), ValueError,
         "q contains NaN or infinite"),
    case("divergences.kl_discrete", "shape-mismatch", lambda: divergences.kl_discrete([0.5, 0.5], [0.2, 0.3, 0.5]),
         ValueError, "p and q must have the same shape"),
    case("divergences.gaussian_entropy", "std-zero", lambda: divergences.gaussian_entropy(torch.tensor([1.0, 0.0])),
         ValueError, "std holds standard deviations"),
    case("divergences.gaussian_entropy", "std-negative", lambda: divergences.gaussian_entropy([-1.0]), ValueError,
         "std holds standard deviations"),
    case("divergences.gaussian_entropy", "std-nan", lambda: divergences.gaussian_entropy([NAN]), ValueError,
         "std contains NaN"),
    case("divergences.gaussian_entropy", "std-string", lambda: divergences.gaussian_entropy("wide"), TypeError,
         "std must be"),
    case("divergences.kl_gaussian", "std_q-zero", lambda: divergences.kl_gaussian(0.0, 0.0, 0.0, 1.0), ValueError,
         "std_q holds standard deviations"),
    case("divergences.kl_gaussian", "std_p-negative", lambda: divergences.kl_gaussian(0.0, 1.0, 0.0, -1.0),
         ValueError, "std_p"),
    case("divergences.kl_gaussian", "mu_q-nan", lambda: divergences.kl_gaussian(NAN, 1.0, 0.0, 1.0), ValueError,
         "mu_q contains NaN"),
    case("divergences.kl_gaussian", "mu_p-string", lambda: divergences.kl_gaussian(0.0, 1.0, "0", 1.0), TypeError,
         "mu_p must be"),
    case("divergences.kl_gaussian", "shape-mismatch",
         lambda: divergences.kl_gaussian(torch.zeros(3), torch.ones(2), 0.0, 1.0), ValueError,
         "mu_q, std_q, mu_p, std_p must broadcast"),
    case("divergences.two_mode_target", "distance-negative", lambda: divergences.two_mode_target(-1.0), ValueError,
         "distance is the gap between the two modes and must be a finite number >= 0"),
    case("divergences.two_mode_target", "distance-inf", lambda: divergences.two_mode_target(INF), ValueError,
         "distance"),
    case("divergences.two_mode_target", "distance-string", lambda: divergences.two_mode_target("4"), TypeError,
         "distance"),
    case("divergences.two_mode_target", "weight_left-one", lambda: divergences.two_mode_target(4.0, 1.0), ValueError,
         r"weight_left .* must lie in \(0, 1\)"),
    case("divergences.two_mode_target", "weight_left-nan", lambda: divergences.two_mode_target(4.0, NAN), ValueError,
         "weight_left"),
    case("divergences.two_mode_target", "weight_left-list", lambda: divergences.two_mode_target(4.0, [0.5]),
         TypeError, "weight_left"),
    case("divergences.kl_gaussian_target", "direction-unknown",
         lambda: divergences.kl_gaussian_target(TARGET, 0.0, 1.0, "both"), ValueError, "direction must be 'reverse'"),
    case("divergences.kl_gaussian_target", "direction-not-str",
         lambda: divergences.kl_gaussian_target(TARGET, 0.0, 1.0, 1), TypeError, "direction must be"),
    case("divergences.kl_gaussian_target", "std-zero", lambda: divergences.kl_gaussian_target(TARGET, 0.0, 0.0),
         ValueError, "std holds standard deviations"),
    case("divergences.kl_gaussian_target", "mean-nan", lambda: divergences.kl_gaussian_target(TARGET, NAN, 1.0),
         ValueError, "mean contains NaN"),
    case("divergences.kl_gaussian_target", "shape-mismatch",
         lambda: divergences.kl_gaussian_target(TARGET, torch.zeros(3), torch.ones(2)), ValueError,
         "mean, std must broadcast"),
    case("divergences.kl_gaussian_target", "target-not-distribution",
         lambda: divergences.kl_gaussian_target("p", 0.0, 1.0), TypeError, "target must be a torch.distributions"),
    case("divergences.kl_gaussian_target", "target-2d", lambda: divergences.kl_gaussian_target(MVN_2D, 0.0, 1.0),
         ValueError, "target must be a single 1-D distribution"),
    case("divergences.fit_gaussian", "direction-unknown", lambda: divergences.fit_gaussian(TARGET, "sideways"),
         ValueError, "direction must be"),
    case("divergences.fit_gaussian", "init-std-negative", lambda: divergences.fit_gaussian(TARGET, init=(0.0, -1.0)),
         ValueError, "init std"),
    case("divergences.fit_gaussian", "init-mean-nan", lambda: divergences.fit_gaussian(TARGET, init=(NAN, 1.0)),
         ValueError, "init mean"),
    case("divergences.fit_gaussian", "init-not-pair", lambda: divergences.fit_gaussian(TARGET, init=1.0), TypeError,
         r"init must be a pair \(mean, std\)"),
    case("divergences.fit_gaussian", "init-triple", lambda: divergences.fit_gaussian(TARGET, init=(0, 1, 2)),
         TypeError, "init must be a pair"),
    case("divergences.fit_gaussian", "steps-zero", lambda: divergences.fit_gaussian(TARGET, steps=0), ValueError,
         "steps must be an integer >= 1"),
    case("divergences.fit_gaussian", "steps-float", lambda: divergences.fit_gaussian(TARGET, steps=2.5), TypeError,
         "steps must be an integer"),
    case("divergences.fit_gaussian", "target-function", lambda: divergences.fit_gaussian(lambda z: z), TypeError,
         "target must be"),
    case("divergences.fit_factorised_gaussian", "target-not-mvn", lambda: divergences.fit_factorised_gaussian(TARGET),
         TypeError, "target must be a single torch.distributions.MultivariateNormal"),
    case("divergences.fit_factorised_gaussian", "direction-unknown",
         lambda: divergences.fit_factorised_gaussian(MVN_2D, "up"), ValueError, "direction must be"),
    case("divergences.fit_factorised_gaussian", "steps-zero",
         lambda: divergences.fit_factorised_gaussian(MVN_2D, steps=0), ValueError, "steps must be"),

    # ------------------------------------------------------------ elbo
    case("elbo.elbo_monte_carlo", "model-none", lambda: elbo.elbo_monte_carlo(None, X, Q, 2), TypeError,
         "model must have"),
    case("elbo.elbo_monte_carlo", "x-wrong-D", lambda: elbo.elbo_monte_carlo(LVM, X[:, :2], Q, 2), ValueError,
         "x must have last dimension"),
    case("elbo.elbo_monte_carlo", "x-nan", lambda: elbo.elbo_monte_carlo(LVM, X * NAN, Q, 2), ValueError,
         "x contains NaN"),
    case("elbo.elbo_monte_carlo", "q-without-rsample",
         lambda: elbo.elbo_monte_carlo(LVM, X, Categorical(torch.ones(2)), 2), TypeError, "q must be .* with rsample"),
    case("elbo.elbo_monte_carlo", "q-event-shape", lambda: elbo.elbo_monte_carlo(LVM, X, Normal(0.0, 1.0), 2),
         ValueError, "q has event shape"),
    case("elbo.elbo_monte_carlo", "q-batch-shape", lambda: elbo.elbo_monte_carlo(LVM, X[:2], Q, 2), ValueError,
         r"q must have batch shape \(\) or \(2,\)"),
    case("elbo.elbo_monte_carlo", "n_samples-zero", lambda: elbo.elbo_monte_carlo(LVM, X, Q, 0), ValueError,
         "n_samples must be an integer >= 1"),
    case("elbo.elbo_monte_carlo", "n_samples-float", lambda: elbo.elbo_monte_carlo(LVM, X, Q, 1.5), TypeError,
         "n_samples must be an integer"),
    case("elbo.elbo_closed_form_kl", "q-no-closed-form-kl", lambda: elbo.elbo_closed_form_kl(LVM, X, Q_MVN, 2),
         TypeError, "q is a MultivariateNormal .* no closed-form KL"),
    case("elbo.elbo_closed_form_kl", "model-without-decoder", lambda: elbo.elbo_closed_form_kl(NoDecoder(), X, Q, 2),
         TypeError, r"model must have a `decoder\(z\)`"),
    case("elbo.elbo_closed_form_kl", "n_samples-zero", lambda: elbo.elbo_closed_form_kl(LVM, X, Q, 0), ValueError,
         "n_samples must be"),
    case("elbo.elbo_closed_form_kl", "q-string", lambda: elbo.elbo_closed_form_kl(LVM, X, "q", 2), TypeError,
         "q must be"),

    # ------------------------------------------------------------ em (Gaussian mixtures)
    case("em.component_log_joint", "X-nan", lambda: em.component_log_joint(GX * NAN, W2, M2, C2), ValueError,
         "X contains NaN"),
    case("em.component_log_joint", "X-1d", lambda: em.component_log_joint(GX[0], W2, M2, C2), ValueError,
         "X must have 2 dimension"),
    case("em.component_log_joint", "X-empty", lambda: em.component_log_joint(GX[:0], W2, M2, C2), ValueError,
         "X has shape"),
    case("em.component_log_joint", "X-string", lambda: em.component_log_joint("X", W2, M2, C2), TypeError,
         "X must be"),
    case("em.component_log_joint", "weights-negative",
         lambda: em.component_log_joint(GX, [1.5, -0.5], M2, C2), ValueError, "weights must be > 0"),
    case("em.component_log_joint", "weights-not-normalised",
         lambda: em.component_log_joint(GX, [0.5, 0.6], M2, C2), ValueError, "weights sums to 1.1"),
    case("em.component_log_joint", "means-shape", lambda: em.component_log_joint(GX, W2, M2[:, :1], C2), ValueError,
         r"means must have shape \(2, 2\)"),
    case("em.component_log_joint", "covariances-not-pd", lambda: em.component_log_joint(GX, W2, M2, NOT_PD),
         ValueError, r"covariances\[1\] is not symmetric positive definite"),
    case("em.log_likelihood", "weights-nan", lambda: em.log_likelihood(GX, [NAN, 0.5], M2, C2), ValueError,
         "weights contains NaN"),
    case("em.log_likelihood", "covariances-shape", lambda: em.log_likelihood(GX, W2, M2, C2[:, :1]), ValueError,
         "covariances must have shape"),
    case("em.responsibilities", "weights-zero", lambda: em.responsibilities(GX, [1.0, 0.0], M2, C2), ValueError,
         "weights must be > 0"),
    case("em.responsibilities", "means-inf", lambda: em.responsibilities(GX, W2, M2 + INF, C2), ValueError,
         "means contains NaN or infinite"),
    case("em.mixture_elbo", "resp-shape", lambda: em.mixture_elbo(GX, RESP[:3], W2, M2, C2), ValueError,
         "resp must have shape"),
    case("em.mixture_elbo", "resp-not-normalised", lambda: em.mixture_elbo(GX, RESP * 1.2, W2, M2, C2), ValueError,
         "resp must hold one distribution per row"),
    case("em.mixture_elbo", "resp-negative", lambda: em.mixture_elbo(GX, RESP * [[3.0, -1.0]], W2, M2, C2),
         ValueError, "resp must hold .* entries >= 0"),
    case("em.mixture_elbo", "resp-nan", lambda: em.mixture_elbo(GX, RESP * NAN, W2, M2, C2), ValueError,
         "resp contains NaN"),
    case("em.GaussianMixtureEM", "n_components-zero", lambda: em.GaussianMixtureEM(0), ValueError,
         "n_components must be an integer >= 1"),
    case("em.GaussianMixtureEM", "n_components-string", lambda: em.GaussianMixtureEM("2"), TypeError,
         "n_components must be an integer"),
    case("em.GaussianMixtureEM", "reg_covar-negative", lambda: em.GaussianMixtureEM(2, reg_covar=-1e-3), ValueError,
         "reg_covar is added to every covariance diagonal and must be a finite number >= 0"),
    case("em.GaussianMixtureEM", "reg_covar-nan", lambda: em.GaussianMixtureEM(2, reg_covar=NAN), ValueError,
         "reg_covar"),
    case("em.GaussianMixtureEM.fit", "n_components-above-n_samples",
         lambda: em.GaussianMixtureEM(2).fit(GX[:1], W2, M2, C2), ValueError, "X has 1 rows but n_components is 2"),
    case("em.GaussianMixtureEM.fit", "init-count", lambda: em.GaussianMixtureEM(3).fit(GX, W2, M2, C2), ValueError,
         "weights_init has 2 entries but n_components is 3"),
    case("em.GaussianMixtureEM.fit", "weights_init-negative",
         lambda: em.GaussianMixtureEM(2).fit(GX, [1.5, -0.5], M2, C2), ValueError, "weights_init must be > 0"),
    case("em.GaussianMixtureEM.fit", "covariances_init-not-pd",
         lambda: em.GaussianMixtureEM(2).fit(GX, W2, M2, NOT_PD), ValueError, r"covariances_init\[1\]"),
    case("em.GaussianMixtureEM.fit", "max_iter-zero", lambda: em.GaussianMixtureEM(2).fit(GX, W2, M2, C2, max_iter=0),
         ValueError, "max_iter must be an integer >= 1"),
    case("em.GaussianMixtureEM.fit", "tol-nan", lambda: em.GaussianMixtureEM(2).fit(GX, W2, M2, C2, tol=NAN),
         ValueError, "tol must be a number"),
    case("em.GaussianMixtureEM.fit", "tol-string", lambda: em.GaussianMixtureEM(2).fit(GX, W2, M2, C2, tol="1e-8"),
         TypeError, "tol must be"),
    case("em.GaussianMixtureEM.predict_proba", "X-wrong-D", lambda: GMM.predict_proba(torch.zeros(2, 3)), ValueError,
         "X has 3 columns but the model was fitted to D = 2"),
    case("em.GaussianMixtureEM.predict_proba", "X-nan", lambda: GMM.predict_proba(GX * NAN), ValueError,
         "X contains NaN"),
    case("em.GaussianMixtureEM.score", "X-1d", lambda: GMM.score(GX[0]), ValueError, "X must have 2 dimension"),
    case("em.GaussianMixtureEM.score", "X-wrong-D", lambda: GMM.score(GX[:, :1]), ValueError, "X has 1 columns"),
    case("em.fit_by_gradient_ascent", "steps-zero", lambda: em.fit_by_gradient_ascent(GX, W2, M2, C2, steps=0),
         ValueError, "steps must be an integer >= 1"),
    case("em.fit_by_gradient_ascent", "lr-zero", lambda: em.fit_by_gradient_ascent(GX, W2, M2, C2, lr=0.0),
         ValueError, "lr is Adam's step size and must be a finite number > 0"),
    case("em.fit_by_gradient_ascent", "lr-string", lambda: em.fit_by_gradient_ascent(GX, W2, M2, C2, lr="fast"),
         TypeError, "lr"),
    case("em.fit_by_gradient_ascent", "reg_covar-negative",
         lambda: em.fit_by_gradient_ascent(GX, W2, M2, C2, reg_covar=-1.0), ValueError, "reg_covar"),
    case("em.fit_by_gradient_ascent", "means_init-shape",
         lambda: em.fit_by_gradient_ascent(GX, W2, M2[:1], C2), ValueError, "means_init must have shape"),

    # ------------------------------------------------------------ em (variational EM)
    case("em.best_q_in_family", "family-unknown", lambda: em.best_q_in_family(LVM, X, "mean-field"), ValueError,
         "family must be one of 'diagonal', 'full'"),
    case("em.best_q_in_family", "family-none", lambda: em.best_q_in_family(LVM, X, None), TypeError,
         "family must be"),
    case("em.best_q_in_family", "model-not-lvm", lambda: em.best_q_in_family(NET, X, "full"), TypeError,
         "model must be a vitools.lvm.LinearGaussianLVM"),
    case("em.best_q_in_family", "x-wrong-D", lambda: em.best_q_in_family(LVM, X[:, :2], "full"), ValueError,
         "x must have last dimension"),
    case("em.ppca_maximum_likelihood", "z_dim-too-large", lambda: em.ppca_maximum_likelihood(X, 3), ValueError,
         "z_dim must be smaller than x's dimension 3"),
    case("em.ppca_maximum_likelihood", "z_dim-zero", lambda: em.ppca_maximum_likelihood(X, 0), ValueError,
         "z_dim must be an integer >= 1"),
    case("em.ppca_maximum_likelihood", "one-row", lambda: em.ppca_maximum_likelihood(X[:1], 1), ValueError,
         "x needs at least two rows"),
    case("em.ppca_maximum_likelihood", "x-nan", lambda: em.ppca_maximum_likelihood(X * NAN, 1), ValueError,
         "x contains NaN"),
    case("em.ppca_maximum_likelihood", "no-noise",
         lambda: em.ppca_maximum_likelihood([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [2.0, 2.0, 0.0]], 2), ValueError,
         "x has no variance outside its first z_dim = 2"),
    case("em.variational_em", "family-unknown", lambda: em.variational_em(X, 2, family="exact"), ValueError,
         "family must be one of"),
    case("em.variational_em", "z_dim-zero", lambda: em.variational_em(X, 0), ValueError, "z_dim must be"),
    case("em.variational_em", "n_iter-zero", lambda: em.variational_em(X, 2, n_iter=0), ValueError,
         "n_iter must be an integer >= 1"),
    case("em.variational_em", "n_iter-float", lambda: em.variational_em(X, 2, n_iter=5.0), TypeError,
         "n_iter must be an integer"),
    case("em.variational_em", "one-row", lambda: em.variational_em(X[:1], 2), ValueError,
         "x needs at least two rows"),
    case("em.variational_em", "x-inf", lambda: em.variational_em(X + INF, 2), ValueError, "x contains NaN or infinite"),
    case("em.variational_em", "seed-negative", lambda: em.variational_em(X, 2, seed=-3), ValueError,
         "seed must be an integer >= 0"),
    case("em.variational_em", "init-wrong-dims", lambda: em.variational_em(X, 1, init=LVM), ValueError,
         "init must be a LinearGaussianLVM with x_dim = 3 and z_dim = 1"),
    case("em.variational_em", "init-wrong-type", lambda: em.variational_em(X, 2, init="start"), TypeError,
         "init must be a LinearGaussianLVM or None"),

    # ------------------------------------------------------------ estimators
    case("estimators.scores_and_values", "f-not-callable",
         lambda: estimators.scores_and_values("f", grad_normal(), 3), TypeError, "f must be a function"),
    case("estimators.scores_and_values", "dist-not-distribution",
         lambda: estimators.scores_and_values(square, "q", 3), TypeError, "dist must be a torch.distributions"),
    case("estimators.scores_and_values", "dist-without-grad",
         lambda: estimators.scores_and_values(square, Normal(torch.zeros(1), torch.ones(1)), 3), ValueError,
         "dist has no parameter tensor with requires_grad=True"),
    case("estimators.scores_and_values", "n_samples-zero",
         lambda: estimators.scores_and_values(square, grad_normal(), 0), ValueError, "n_samples must be"),
    case("estimators.scores_and_values", "f-wrong-shape",
         lambda: estimators.scores_and_values(lambda z: z.sum(), grad_normal(), 3), ValueError,
         "f must map samples .* one value per sample"),
    case("estimators.scores_and_values", "f-nan",
         lambda: estimators.scores_and_values(lambda z: z.sum(-1) * NAN, grad_normal(), 3), ValueError,
         "f returned NaN or infinite values"),
    case("estimators.score_function_grad", "baseline-unknown-string",
         lambda: estimators.score_function_grad(square, grad_normal(), 3, baseline="loo"), ValueError,
         "baseline must be None, a number, a tensor or 'leave-one-out'"),
    case("estimators.score_function_grad", "leave-one-out-one-sample",
         lambda: estimators.score_function_grad(square, grad_normal(), 1, baseline="leave-one-out"), ValueError,
         "leave-one-out baseline needs n_samples >= 2"),
    case("estimators.score_function_grad", "baseline-nan",
         lambda: estimators.score_function_grad(square, grad_normal(), 3, baseline=NAN), ValueError,
         "baseline contains NaN"),
    case("estimators.score_function_grad", "baseline-shape",
         lambda: estimators.score_function_grad(square, grad_normal(), 3, baseline=torch.zeros(2)), ValueError,
         r"baseline must be a number or a tensor of shape \(n_samples,\) = \(3,\)"),
    case("estimators.score_function_grad", "baseline-object",
         lambda: estimators.score_function_grad(square, grad_normal(), 3, baseline=object()), TypeError,
         "baseline must be"),
    case("estimators.score_function_grad", "n_samples-float",
         lambda: estimators.score_function_grad(square, grad_normal(), 3.0), TypeError, "n_samples must be"),
    case("estimators.score_variance_quadratic", "dim-zero", lambda: estimators.score_variance_quadratic(1.0, 3.0, 0),
         ValueError, "dim"),
    case("estimators.score_variance_quadratic", "mu-nan", lambda: estimators.score_variance_quadratic(NAN, 3.0),
         ValueError, "mu"),
    case("estimators.score_variance_quadratic", "baseline-a-string",
         lambda: estimators.score_variance_quadratic(1.0, 3.0, 1, "c"), TypeError, "baseline"),
    case("estimators.score_variance_linear", "dim-float", lambda: estimators.score_variance_linear(1.0, 2.5),
         TypeError, "dim"),
    case("estimators.score_variance_linear", "mu-inf", lambda: estimators.score_variance_linear(INF), ValueError, "mu"),
    case("estimators.optimal_baseline", "f-not-callable", lambda: estimators.optimal_baseline(1.0, grad_normal(), 3),
         TypeError, "f must be"),
    case("estimators.optimal_baseline", "n_samples-zero", lambda: estimators.optimal_baseline(square, grad_normal(), 0),
         ValueError, "n_samples must be"),
    case("estimators.optimal_baseline", "dist-none", lambda: estimators.optimal_baseline(square, None, 3), TypeError,
         "dist must be"),
    case("estimators.reparam_grad", "dist-without-rsample",
         lambda: estimators.reparam_grad(square, Bernoulli(torch.full((1,), 0.5, requires_grad=True)), 3),
         ValueError, "dist is a Bernoulli, which has no reparameterised sampler"),
    case("estimators.reparam_grad", "f-not-differentiable",
         lambda: estimators.reparam_grad(lambda z: square(z).detach(), grad_normal(), 3), ValueError,
         r"f\(z\) does not depend differentiably on z"),
    case("estimators.reparam_grad", "f-not-callable", lambda: estimators.reparam_grad(None, grad_normal(), 3),
         TypeError, "f must be"),
    case("estimators.reparam_grad", "n_samples-negative", lambda: estimators.reparam_grad(square, grad_normal(), -2),
         ValueError, "n_samples must be"),
    case("estimators.iwae_bound", "nan", lambda: estimators.iwae_bound(torch.tensor([0.0, NAN])), ValueError,
         "log_w contains NaN"),
    case("estimators.iwae_bound", "plus-inf", lambda: estimators.iwae_bound(torch.tensor([0.0, INF])), ValueError,
         r"log_w contains NaN or \+inf"),
    case("estimators.iwae_bound", "scalar", lambda: estimators.iwae_bound(torch.tensor(1.0)), ValueError,
         "log_w must be a floating-point tensor with at least one sample"),
    case("estimators.iwae_bound", "string", lambda: estimators.iwae_bound("log w"), TypeError, "log_w must be"),
    case("estimators.iwae_bound", "dim-out-of-range", lambda: estimators.iwae_bound(torch.zeros(3, 2), dim=2),
         ValueError, "dim must be an integer in"),

    # ------------------------------------------------------------ vae: constructors
    case("vae.VAE", "x_dim-zero", lambda: vae.VAE(0, 2), ValueError, "x_dim must be an integer >= 1"),
    case("vae.VAE", "z_dim-zero", lambda: vae.VAE(4, 0), ValueError, "z_dim must be an integer >= 1"),
    case("vae.VAE", "z_dim-float", lambda: vae.VAE(4, 2.0), TypeError, "z_dim must be an integer"),
    case("vae.VAE", "hidden-int", lambda: vae.VAE(4, 2, hidden=16), TypeError, "hidden must be a tuple"),
    case("vae.VAE", "hidden-zero-width", lambda: vae.VAE(4, 2, hidden=(16, 0)), ValueError, "each width in hidden"),
    case("vae.VAE", "hidden-float-width", lambda: vae.VAE(4, 2, hidden=(8.5,)), TypeError, "each width in hidden"),
    case("vae.VAE", "n_classes-one", lambda: vae.VAE(4, 2, n_classes=1), ValueError,
         "n_classes must be 0 .* or an integer >= 2"),
    case("vae.VAE", "n_classes-negative", lambda: vae.VAE(4, 2, n_classes=-1), ValueError, "n_classes"),
    case("vae.VAE", "n_classes-float", lambda: vae.VAE(4, 2, n_classes=2.0), TypeError, "n_classes"),
    case("vae.CVAE", "n_classes-zero", lambda: vae.CVAE(4, 2, n_classes=0), ValueError,
         "n_classes must be an integer >= 2"),
    case("vae.CVAE", "n_classes-string", lambda: vae.CVAE(4, 2, n_classes="10"), TypeError, "n_classes"),
    case("vae.CVAE", "x_dim-zero", lambda: vae.CVAE(0, 2), ValueError, "x_dim must be"),
    case("vae.LinearVAE", "x_dim-zero", lambda: vae.LinearVAE(0, 2), ValueError, "x_dim must be an integer >= 1"),
    case("vae.LinearVAE", "z_dim-negative", lambda: vae.LinearVAE(3, -1), ValueError, "z_dim must be"),
    case("vae.LinearVAE", "x_dim-float", lambda: vae.LinearVAE(3.0, 2), TypeError, "x_dim must be an integer"),

    # ------------------------------------------------------------ vae: methods of the models
    case("vae.VAE.encoder", "x-wrong-D", lambda: NET.encoder(XB[:, :3]), ValueError, r"x must have shape \(N, 4\)"),
    case("vae.VAE.encoder", "x-nan", lambda: NET.encoder(XB * NAN), ValueError, "x contains NaN"),
    case("vae.VAE.encoder", "x-string", lambda: NET.encoder("x"), TypeError, "x must be"),
    case("vae.VAE.encoder", "y-for-plain-model", lambda: NET.encoder(XB, LABELS), ValueError, "y was given"),
    case("vae.VAE.encoder", "y-missing", lambda: CNET.encoder(XB), ValueError, "y is missing"),
    case("vae.VAE.encoder", "y-float", lambda: CNET.encoder(XB, LABELS.float()), TypeError, "y must be a LongTensor"),
    case("vae.VAE.encoder", "y-wrong-length", lambda: CNET.encoder(XB, LABELS[:3]), ValueError,
         r"y must be a LongTensor of shape \(4,\)"),
    case("vae.VAE.encoder", "y-out-of-range", lambda: CNET.encoder(XB, LABELS + 3), ValueError, "y must hold labels"),
    case("vae.VAE.encoder", "y-string", lambda: CNET.encoder(XB, "labels"), TypeError, "y must be a LongTensor"),
    case("vae.VAE.decoder", "z-wrong-L", lambda: NET.decoder(torch.zeros(4, 3)), ValueError,
         r"z must have shape \(\.\.\., N, 2\)"),
    case("vae.VAE.decoder", "z-1d", lambda: NET.decoder(torch.zeros(2)), ValueError, "z must have shape"),
    case("vae.VAE.decoder", "z-nan", lambda: NET.decoder(ZB * NAN), ValueError, "z contains NaN"),
    case("vae.VAE.decoder", "y-wrong-length", lambda: CNET.decoder(ZB, LABELS[:2]), ValueError,
         "y must be a LongTensor of shape"),
    case("vae.VAE.log_joint", "x-wrong-D", lambda: NET.log_joint(XB[:, :2], ZB), ValueError, "x must have shape"),
    case("vae.VAE.log_joint", "z-wrong-L", lambda: NET.log_joint(XB, torch.zeros(4, 5)), ValueError,
         "z must have shape"),
    case("vae.VAE.elbo_terms", "n_samples-zero", lambda: NET.elbo_terms(XB, n_samples=0), ValueError,
         "n_samples must be"),
    case("vae.VAE.elbo_terms", "x-inf", lambda: NET.elbo_terms(XB + INF), ValueError, "x contains NaN or infinite"),
    case("vae.VAE.elbo", "n_samples-float", lambda: NET.elbo(XB, n_samples=1.5), TypeError, "n_samples must be"),
    case("vae.VAE.elbo", "x-1d", lambda: NET.elbo(XB[0]), ValueError, "x must have 2 dimension"),
    case("vae.VAE.elbo", "y-missing", lambda: CNET.elbo(XB), ValueError, "y is missing"),
    case("vae.VAE.loss", "beta-negative", lambda: NET.loss(XB, beta=-1.0), ValueError,
         "beta weighs the KL term and must be a finite number >= 0"),
    case("vae.VAE.loss", "beta-nan", lambda: NET.loss(XB, beta=NAN), ValueError, "beta"),
    case("vae.VAE.loss", "beta-string", lambda: NET.loss(XB, beta="1"), TypeError, "beta"),
    case("vae.VAE.sample", "n-zero", lambda: NET.sample(0), ValueError, "n must be an integer >= 1"),
    case("vae.VAE.sample", "n-float", lambda: NET.sample(2.0), TypeError, "n must be an integer"),
    case("vae.VAE.sample", "y-wrong-length", lambda: CNET.sample(3, LABELS), ValueError,
         r"y must be a LongTensor of shape \(3,\)"),
    case("vae.LinearVAE.encoder", "x-wrong-D", lambda: LIN.encoder(XL[:, :2]), ValueError, r"x must have shape \(N, 3\)"),
    case("vae.LinearVAE.encoder", "y-given", lambda: LIN.encoder(XL, LABELS), ValueError, "y was given"),
    case("vae.LinearVAE.decoder", "z-wrong-L", lambda: LIN.decoder(torch.zeros(4, 1)), ValueError, "z must have shape"),
    case("vae.LinearVAE.decoder", "z-nan", lambda: LIN.decoder(ZB * NAN), ValueError, "z contains NaN"),
    case("vae.LinearVAE.log_joint", "z-wrong-L", lambda: LIN.log_joint(XL, torch.zeros(4, 3)), ValueError,
         "z must have shape"),
    case("vae.LinearVAE.elbo_terms", "n_samples-zero", lambda: LIN.elbo_terms(XL, n_samples=0), ValueError,
         "n_samples must be"),
    case("vae.LinearVAE.elbo", "x-nan", lambda: LIN.elbo(XL * NAN), ValueError, "x contains NaN"),
    case("vae.LinearVAE.loss", "beta-inf", lambda: LIN.loss(XL, beta=INF), ValueError, "beta"),
    case("vae.LinearVAE.sample", "n-zero", lambda: LIN.sample(0), ValueError, "n must be"),

    # ------------------------------------------------------------ vae: functions
    case("vae.elbo_terms_of", "model-not-vae", lambda: vae.elbo_terms_of(LVM, XB, NET.encoder(XB)), TypeError,
         "model must be a vitools.vae.VAE or LinearVAE"),
    case("vae.elbo_terms_of", "q-prior", lambda: vae.elbo_terms_of(NET, XB, NET.prior), TypeError,
         r"q must be Independent\(Normal"),
    case("vae.elbo_terms_of", "q-batch-shape", lambda: vae.elbo_terms_of(NET, XB[:3], NET.encoder(XB)), TypeError,
         r"q must be .* shape \(3, 2\)"),
    case("vae.elbo_terms_of", "n_samples-zero", lambda: vae.elbo_terms_of(NET, XB, NET.encoder(XB), 0), ValueError,
         "n_samples must be"),
    case("vae.elbo_terms_of", "x-wrong-D", lambda: vae.elbo_terms_of(NET, XB[:, :3], NET.encoder(XB)), ValueError,
         "x must have shape"),
    case("vae.elbo_of", "q-none", lambda: vae.elbo_of(NET, XB, None), TypeError, "q must be"),
    case("vae.elbo_of", "n_samples-float", lambda: vae.elbo_of(NET, XB, NET.encoder(XB), 2.0), TypeError,
         "n_samples must be"),
    case("vae.elbo_of", "model-none", lambda: vae.elbo_of(None, XB, Q), TypeError, "model must be"),
    case("vae.train", "model-not-vae", lambda: vae.train(LVM, XB, epochs=1), TypeError, "model must be"),
    case("vae.train", "epochs-zero", lambda: vae.train(NET, XB, epochs=0), ValueError, "epochs must be an integer >= 1"),
    case("vae.train", "epochs-float", lambda: vae.train(NET, XB, epochs=1.5), TypeError, "epochs must be an integer"),
    case("vae.train", "batch_size-zero", lambda: vae.train(NET, XB, epochs=1, batch_size=0), ValueError,
         "batch_size must be"),
    case("vae.train", "lr-zero", lambda: vae.train(NET, XB, epochs=1, lr=0.0), ValueError,
         "lr is Adam's learning rate and must be a finite number > 0"),
    case("vae.train", "lr-inf", lambda: vae.train(NET, XB, epochs=1, lr=INF), ValueError, "lr"),
    case("vae.train", "beta-negative", lambda: vae.train(NET, XB, epochs=1, beta=-0.5), ValueError, "beta"),
    case("vae.train", "seed-negative", lambda: vae.train(NET, XB, epochs=1, seed=-1), ValueError,
         "seed must be an integer >= 0"),
    case("vae.train", "seed-float", lambda: vae.train(NET, XB, epochs=1, seed=0.5), TypeError, "seed"),
    case("vae.train", "x_train-wrong-D", lambda: vae.train(NET, XB[:, :3], epochs=1), ValueError,
         "x_train must have shape"),
    case("vae.train", "x_train-nan", lambda: vae.train(NET, XB * NAN, epochs=1), ValueError, "x_train contains NaN"),
    case("vae.train", "y_train-for-plain-model", lambda: vae.train(NET, XB, epochs=1, y_train=LABELS), ValueError,
         "y_train was given"),
    case("vae.train", "y_train-missing", lambda: vae.train(CNET, XB, epochs=1), ValueError, "y_train is missing"),
    case("vae.train", "y_test-without-x_test", lambda: vae.train(CNET, XB, 1, y_train=LABELS, y_test=LABELS),
         ValueError, "y_test was given without x_test"),
    case("vae.train", "x_test-wrong-D", lambda: vae.train(NET, XB, epochs=1, x_test=XB[:, :2]), ValueError,
         "x_test must have shape"),
    case("vae.train", "progress-not-bool", lambda: vae.train(NET, XB, epochs=1, progress="yes"), TypeError,
         "progress must be True or False"),
    case("vae.log_likelihood", "k-zero", lambda: vae.log_likelihood(NET, XB, k=0), ValueError,
         "k must be an integer >= 1"),
    case("vae.log_likelihood", "k-float", lambda: vae.log_likelihood(NET, XB, k=10.0), TypeError, "k must be"),
    case("vae.log_likelihood", "chunk-zero", lambda: vae.log_likelihood(NET, XB, k=2, chunk=0), ValueError,
         "chunk must be"),
    case("vae.log_likelihood", "model-not-vae", lambda: vae.log_likelihood(LVM, XB), TypeError, "model must be"),
    case("vae.log_likelihood", "x-nan", lambda: vae.log_likelihood(NET, XB * NAN, k=2), ValueError,
         "x contains NaN"),
    case("vae.log_likelihood", "y-missing", lambda: vae.log_likelihood(CNET, XB, k=2), ValueError, "y is missing"),
    case("vae.refine_posterior", "steps-zero", lambda: vae.refine_posterior(NET, XB, steps=0), ValueError,
         "steps must be an integer >= 1"),
    case("vae.refine_posterior", "lr-negative", lambda: vae.refine_posterior(NET, XB, steps=1, lr=-1.0), ValueError,
         "lr is Adam's learning rate"),
    case("vae.refine_posterior", "n_samples-zero", lambda: vae.refine_posterior(NET, XB, n_samples=0), ValueError,
         "n_samples must be"),
    case("vae.refine_posterior", "model-not-vae", lambda: vae.refine_posterior("model", XB), TypeError,
         "model must be"),
    case("vae.refine_posterior", "x-wrong-D", lambda: vae.refine_posterior(NET, XB[:, :1]), ValueError,
         "x must have shape"),

    # ------------------------------------------------------------ device
    case("device.seed_everything", "negative", lambda: device.seed_everything(-1), ValueError,
         "seed must be an integer >= 0"),
    case("device.seed_everything", "float", lambda: device.seed_everything(1.5), TypeError, "seed must be an integer"),
    case("device.seed_everything", "string", lambda: device.seed_everything("0"), TypeError, "seed"),

    # ------------------------------------------------------------ plotting
    case("plotting.heatmap", "table-1d", lambda: plotting.heatmap(axes(), [0.1, 0.2], ["a"], ["b", "c"]), ValueError,
         "table must be 2-D"),
    case("plotting.heatmap", "row_labels-length", lambda: plotting.heatmap(axes(), JOINT, ["a"], "xyz"), ValueError,
         "row_labels has 1 labels but the table has 2 rows"),
    case("plotting.heatmap", "col_labels-length", lambda: plotting.heatmap(axes(), JOINT, ["a", "b"], ["c"]),
         ValueError, "col_labels has 1 labels but the table has 3 columns"),
    case("plotting.heatmap", "table-nan", lambda: plotting.heatmap(axes(), JOINT * NAN, ["a", "b"], list("xyz")),
         ValueError, "table contains NaN"),
    case("plotting.heatmap", "table-string", lambda: plotting.heatmap(axes(), "table", ["a"], ["b"]), TypeError,
         "table must be an array"),
    case("plotting.heatmap", "ax-none", lambda: plotting.heatmap(None, JOINT, ["a", "b"], list("xyz")), TypeError,
         "ax must hold matplotlib Axes"),
    case("plotting.heatmap", "fmt-not-str", lambda: plotting.heatmap(axes(), JOINT, ["a", "b"], list("xyz"), fmt=2),
         TypeError, "fmt must be a format string"),
    case("plotting.show_digits", "images-wrong-size", lambda: plotting.show_digits(axes(2), np.zeros((2, 60))),
         ValueError, r"images must have shape \(N, 64\)"),
    case("plotting.show_digits", "images-nan", lambda: plotting.show_digits(axes(2), np.full((2, 64), NAN)),
         ValueError, "images contains NaN"),
    case("plotting.show_digits", "shape-not-pair", lambda: plotting.show_digits(axes(2), np.zeros((2, 64)), shape=8),
         TypeError, r"shape must be a pair \(height, width\)"),
    case("plotting.show_digits", "shape-zero", lambda: plotting.show_digits(axes(2), np.zeros((2, 64)), shape=(0, 8)),
         ValueError, r"shape\[0\] must be an integer >= 1"),
    case("plotting.show_digits", "titles-too-few",
         lambda: plotting.show_digits(axes(2), np.zeros((2, 64)), titles=["one"]), ValueError,
         r"titles must be a sequence with one title per image shown \(2\)"),
    case("plotting.show_digits", "axes-none", lambda: plotting.show_digits([None], np.zeros((1, 64))), TypeError,
         "axes must hold matplotlib Axes"),
    case("plotting.gaussian_ellipse", "cov-not-psd",
         lambda: plotting.gaussian_ellipse(axes(), [0, 0], [[1.0, 0.0], [0.0, -1.0]]), ValueError,
         "cov must be a symmetric positive semi-definite"),
    case("plotting.gaussian_ellipse", "cov-asymmetric",
         lambda: plotting.gaussian_ellipse(axes(), [0, 0], [[1.0, 0.5], [0.0, 1.0]]), ValueError,
         "cov must be a symmetric"),
    case("plotting.gaussian_ellipse", "cov-3x3", lambda: plotting.gaussian_ellipse(axes(), [0, 0], np.eye(3)),
         ValueError, r"cov shape \(2, 2\)"),
    case("plotting.gaussian_ellipse", "mean-3d", lambda: plotting.gaussian_ellipse(axes(), [0, 0, 0], np.eye(2)),
         ValueError, r"mean must have shape \(2,\)"),
    case("plotting.gaussian_ellipse", "mean-nan", lambda: plotting.gaussian_ellipse(axes(), [NAN, 0], np.eye(2)),
         ValueError, "mean and cov must be finite"),
    case("plotting.gaussian_ellipse", "n_std-zero",
         lambda: plotting.gaussian_ellipse(axes(), [0, 0], np.eye(2), n_std=0.0), ValueError,
         "n_std must be a finite number > 0"),
    case("plotting.gaussian_ellipse", "ax-string", lambda: plotting.gaussian_ellipse("ax", [0, 0], np.eye(2)),
         TypeError, "ax must hold matplotlib Axes"),
    case("plotting.MarkdownTable", "row_labels-length", lambda: plotting.MarkdownTable(JOINT, ["a"], list("xyz")),
         ValueError, "row_labels has 1 labels but the table has 2 rows"),
    case("plotting.MarkdownTable", "col_labels-length", lambda: plotting.MarkdownTable(JOINT, ["a", "b"], ["x"]),
         ValueError, "col_labels has 1 labels but the table has 3 columns"),
    case("plotting.MarkdownTable", "row_labels-string", lambda: plotting.MarkdownTable([[1.0]], "a", ["x"]),
         TypeError, "row_labels must be a sequence of labels"),
    case("plotting.MarkdownTable", "table-3d", lambda: plotting.MarkdownTable(np.zeros((1, 2, 2)), ["a"], ["x", "y"]),
         ValueError, "table must be 2-D"),
    case("plotting.MarkdownTable", "table-ragged", lambda: plotting.MarkdownTable([[1.0, 2.0], [3.0]], ["a", "b"],
                                                                                  ["x", "y"]),
         TypeError, "table must be a rectangular 2-D table"),
    case("plotting.MarkdownTable", "fmt-none", lambda: plotting.MarkdownTable([[1.0]], ["a"], ["x"], fmt=None),
         TypeError, "fmt must be a format string"),
    case("plotting.MarkdownTable", "corner-not-str", lambda: plotting.MarkdownTable([[1.0]], ["a"], ["x"], corner=1),
         TypeError, "corner must be a string"),

    # ------------------------------------------------------------ interactive
    case("interactive.slider_animation", "draw-not-callable", lambda: interactive.slider_animation("draw", [1.0]),
         TypeError, "draw must be a function"),
    case("interactive.slider_animation", "values-empty", lambda: interactive.slider_animation(draw, []), ValueError,
         "values must hold at least one slider position"),
    case("interactive.slider_animation", "values-number", lambda: interactive.slider_animation(draw, 5), TypeError,
         "values must be a list of slider values"),
    case("interactive.slider_animation", "figsize-zero",
         lambda: interactive.slider_animation(draw, [1.0], figsize=(0, 3)), ValueError,
         r"figsize\[0\] must be a finite number > 0"),
    case("interactive.slider_animation", "figsize-number",
         lambda: interactive.slider_animation(draw, [1.0], figsize=5), TypeError, "figsize must be a pair"),
    case("interactive.slider_animation", "interval_ms-zero",
         lambda: interactive.slider_animation(draw, [1.0], interval_ms=0), ValueError, "interval_ms"),
    case("interactive.live_sliders", "draw-none", lambda: interactive.live_sliders(None, a=[1]), TypeError,
         "draw must be a function"),
    case("interactive.live_sliders", "no-sliders", lambda: interactive.live_sliders(draw), ValueError,
         "give at least one slider"),
    case("interactive.live_sliders", "empty-slider", lambda: interactive.live_sliders(draw, a=[]), ValueError,
         "a must hold at least one slider position"),
    case("interactive.live_sliders", "slider-not-list", lambda: interactive.live_sliders(draw, a=3), TypeError,
         "a must be a list of slider values"),
    case("interactive.live_sliders", "figsize-negative",
         lambda: interactive.live_sliders(draw, figsize=(4, -1), a=[1]), ValueError, r"figsize\[1\]"),

    # ------------------------------------------------------------ exercises
    case("exercises.exercise", "unknown-label", lambda: exercise("9.9"), ValueError, "no exercise '9.9'"),
    case("exercises.exercise", "label-float", lambda: exercise(1.1), TypeError, "label must be a string"),
    case("exercises.exercise", "label-none", lambda: exercise(None), TypeError, "label must be a string"),
    case("exercises.Exercise", "label-float", lambda: exercise_with(label=1.1), TypeError, "label must be a string"),
    case("exercises.Exercise", "label-format", lambda: exercise_with(label="one"), ValueError,
         "label must look like \"chapter.number\""),
    case("exercises.Exercise", "title-none", lambda: exercise_with(title=None), TypeError, "title must be a string"),
    case("exercises.Exercise", "discussion-not-str", lambda: exercise_with(discussion=3), TypeError,
         "discussion must be a string"),
    case("exercises.Exercise", "reference-not-callable", lambda: exercise_with(reference=0.5), TypeError,
         "reference must be"),
    case("exercises.Exercise", "mistakes-not-mistake", lambda: exercise_with(mistakes=["wrong"]), TypeError,
         r"mistakes\[0\] is a str, but mistakes must hold Mistake objects"),
    case("exercises.Exercise", "checks-not-callable", lambda: exercise_with(checks=[1]), TypeError,
         r"checks\[0\] is a int"),
    case("exercises.Exercise", "hints-string", lambda: exercise_with(hints="one hint"), TypeError,
         "hints must be a sequence of strings"),
    case("exercises.Exercise", "probes-empty", lambda: exercise_with(probes=[]), ValueError,
         "probes must hold at least one argument tuple"),
    case("exercises.Exercise", "probes-not-tuples", lambda: exercise_with(probes=[1.0]), TypeError,
         r"probes\[0\] is a float"),
    case("exercises.Exercise", "accept-not-callable", lambda: exercise_with(accept="yes"), TypeError,
         "accept must be"),
    case("exercises.Exercise", "rtol-negative", lambda: exercise_with(rtol=-1.0), ValueError,
         "rtol must be a finite number >= 0"),
    case("exercises.Exercise", "atol-nan", lambda: exercise_with(atol=NAN), ValueError, "atol must be"),
    case("exercises.Mistake", "make-not-callable", lambda: Mistake(None, "text"), TypeError, "make must be"),
    case("exercises.Mistake", "message-not-str", lambda: Mistake(answer, 3), TypeError, "message must be a string"),
]


@pytest.mark.parametrize("call, error, match", CASES)
def test_bad_input_is_rejected_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match) as info:
        call()
    # not a TypeError from calling the function the wrong way (a typo in the case itself)
    assert "unexpected keyword argument" not in str(info.value) and "positional argument" not in str(info.value)


def test_check_judges_any_answer_instead_of_raising():
    """Exercise.check is the one public method that takes bad input on purpose: it answers with Feedback."""
    ex = exercise("1.1")
    for answer in ("abc", object(), np.full(8, NAN), [1.0, -1.0], lambda: 1 / 0):
        feedback = ex.check(answer)
        assert not feedback.passed and feedback.message


def test_unknown_exercise_is_also_a_key_error():
    with pytest.raises(KeyError):
        exercise("9.9")


# ---------------------------------------------------------------- every public callable has a case

MODULES = ["data", "marginal", "lvm", "mixtures", "divergences", "elbo", "em", "estimators", "vae", "device",
           "plotting", "interactive", "exercises"]

# Public callables without a case, each with the reason no bad input exists for it.
ALLOW_LIST = {
    "data.eye_colour_table": "takes no arguments",
    "device.get_device": "takes no arguments",
    "plotting.use_book_style": "takes no arguments",
    "lvm.LinearGaussianLVM.marginal": "takes no arguments",
    "vae.LinearVAE.as_lvm": "takes no arguments",
    "exercises.all_exercises": "takes no arguments",
    "exercises.Exercise.expected": "takes no arguments",
    "exercises.Exercise.hint": "takes no arguments",
    "exercises.Exercise.solution": "takes no arguments",
    "exercises.Exercise.check": "any answer is judged with a Feedback, never an error (see the test above)",
    "divergences.GaussianFit": "a result record that vitools builds, not an input",
    "em.VariationalEMResult": "a result record that vitools builds, not an input",
    "exercises.Feedback": "a result record that vitools builds, not an input",
}


def public_callables():
    """'module.name' and 'module.Class.method' for every public function, class and method that vitools defines.

    A module's names are its ``__all__`` when it has one, else the callables it defines itself (not the ones it
    imports). Methods come from every vitools class in the MRO, so inherited ones count for each public class.
    """
    for short in MODULES:
        module = importlib.import_module(f"vitools.{short}")
        names = getattr(module, "__all__", None) or [
            name for name, value in vars(module).items()
            if callable(value) and getattr(value, "__module__", None) == module.__name__]
        for name in names:
            obj = getattr(module, name)
            if name.startswith("_") or not callable(obj):
                continue
            yield f"{short}.{name}"
            if inspect.isclass(obj):
                for attr in dir(obj):
                    owner = next((k for k in obj.__mro__ if attr in vars(k)), None)
                    if attr.startswith("_") or owner is None or not owner.__module__.startswith("vitools"):
                        continue
                    member = vars(owner)[attr]
                    if isinstance(member, (classmethod, staticmethod)) or inspect.isfunction(member):
                        yield f"{short}.{name}.{attr}"


def test_every_public_callable_has_a_case():
    covered = {param.id.split("-")[0] for param in CASES}
    names = set(public_callables())
    assert len(names) > 60   # the discovery itself works
    missing = sorted(names - covered - set(ALLOW_LIST))
    assert not missing, f"public callables without a bad-input case in CASES (or an ALLOW_LIST entry): {missing}"
    stale = sorted((covered | set(ALLOW_LIST)) - names)
    assert not stale, f"cases or allow-list entries for names that are not public callables: {stale}"

