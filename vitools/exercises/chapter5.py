"""Exercises of chapter 5: mean-field VI, CAVI, stochastic VI and black-box VI."""

import numpy as np
from scipy.special import digamma

from vitools.exercises._core import Exercise, Mistake, all_finite, register

# ---------------------------------------------------------------- cavi-weights-update


def cavi_weights_update(resp, weight_concentration_prior):
    # log q*(pi) = E_q(c)[log p(c_1..N | pi)] + log p(pi) + const = sum_c (alpha_0 - 1 + N_c) log pi_c + const,
    # a Dirichlet with alpha_c = alpha_0 + N_c, N_c = sum_n r_nc
    return weight_concentration_prior + resp.sum(axis=0)


_RESP = np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.25, 0.25, 0.5], [0.6, 0.3, 0.1]])

# graded probes: their own seeded draws, other sizes (C = 2, 4, 5), an empty component (a column of zeros)
_GRNG = np.random.default_rng(2024)
_RESP_G = np.hstack([_GRNG.dirichlet(np.ones(3), size=6), np.zeros((6, 1))])[:, [0, 3, 1, 2]]   # (6, 4), column 1 empty
_RESP_G5 = _GRNG.dirichlet(np.full(5, 0.5), size=9)                                               # (9, 5)

register(Exercise(
    "cavi-weights-update", "The CAVI update of the weights' factor", cavi_weights_update,
    chapter=5, kind="Derivation", stars=1, minutes=15,
    probes=[(_RESP, 0.001), (_RESP, 2.5), (np.array([[1.0, 0.0], [0.0, 1.0], [0.3, 0.7]]), 0.5)],
    graded_probes=[(_RESP_G, 0.005), (_RESP_G5, 4.0),
                   (np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.4]]), 0.2)],
    mistakes=[
        Mistake(lambda r, a: r.sum(axis=0), "These are the counts N_c alone: the prior's alpha_0 is still there, "
                                            "log p(pi) = sum_c (alpha_0 - 1) log pi_c + const adds to the exponent."),
        Mistake(lambda r, a: a - 1 + r.sum(axis=0), "alpha_0 - 1 + N_c is the exponent of pi_c in log q*(pi); the "
                                                    "Dirichlet's parameter is that exponent plus 1."),
        Mistake(lambda r, a: a + r.mean(axis=0), "The expectation sums over data points: N_c = sum_n r_nc, not the "
                                                 "mean (that would count the data set as one point)."),
    ],
    checks=[all_finite],
    hints=["Only log p(pi) and the terms log p(c_n | pi) = sum_c [c_n = c] log pi_c involve pi.",
           "Take the expectation over q(c_1..N): E[[c_n = c]] = r_nc. Collect the coefficient of log pi_c."],
    discussion=("log q*(pi) = E_{q(c_1..N)}[sum_n log pi_{c_n}] + log Dir(pi; alpha_0) + const = "
                "sum_c (N_c + alpha_0 - 1) log pi_c + const, with N_c = sum_n r_nc: the kernel of Dir(alpha_0 + N_c). "
                "The prior acts as alpha_0 pseudo-observations per component. What keeps a component without data "
                "switched "
                "off is the local step's E[log pi_c] = psi(alpha_c) - psi(sum_c' alpha_c') (the expected-log-weight "
                "exercise): with alpha_c "
                "~ alpha_0 = 0.001 it is about -1000, so the component's responsibilities vanish and alpha_c stays at "
                "alpha_0; a large alpha_0 makes psi(alpha_c) moderate and every component takes a share."),
))

# ---------------------------------------------------------------- expected-log-weight


def expected_log_weights(alpha):
    # for pi ~ Dir(alpha): E[log pi_c] = psi(alpha_c) - psi(sum_c' alpha_c') (differentiate the log-normaliser
    # sum_j log Gamma(alpha_c') - log Gamma(sum_c' alpha_c') in alpha_c)
    return digamma(alpha) - digamma(alpha.sum())


register(Exercise(
    "expected-log-weight", "The expected log-weight under a Dirichlet", expected_log_weights,
    chapter=5, kind="Derivation", stars=2, minutes=20,
    probes=[(np.array([1.0, 1.0, 1.0]),), (np.array([0.01, 50.0, 3.0]),), (np.array([100.0, 200.0]),),
            (np.array([0.5, 2.0, 7.0, 0.001]),)],
    graded_probes=[(np.array([2.0, 2.0, 2.0, 2.0]),), (np.array([0.005, 30.0, 1.5]),),       # symmetric; tiny alpha_c
                   (np.array([500.0, 1000.0, 250.0]),), (np.array([0.3, 4.0, 0.02, 12.0, 0.8]),)],   # large; mixed
    mistakes=[
        Mistake(lambda a: np.log(a / a.sum()), "That is log E[pi_c], the log of the mean. By Jensen E[log pi_c] < "
                                               "log E[pi_c]; the gap is large for a small alpha_c."),
        Mistake(lambda a: digamma(a) - np.log(a.sum()), "Both terms are digammas: the second is psi of the sum "
                                                        "sum_c' alpha_c', from differentiating log Gamma(sum_c' "
                                                        "alpha_c')."),
        Mistake(lambda a: digamma(a) - digamma(a).sum(), "psi(sum_c' alpha_c'), not sum_c' psi(alpha_c'): the "
                                                         "normaliser has log Gamma of the sum."),
        Mistake(lambda a: digamma(a), "Add the normaliser's term: E[log pi_c] = psi(alpha_c) - psi(sum_c' alpha_c')."),
    ],
    checks=[all_finite],
    hints=["A Dirichlet is an exponential family with sufficient statistics log pi_c and log-normaliser "
           "A(alpha) = sum_c log Gamma(alpha_c) - log Gamma(sum_c alpha_c): Dir(pi; alpha) = exp(sum_c (alpha_c - 1) "
           "log pi_c - A(alpha)).",
           "In an exponential family the mean of a sufficient statistic is the derivative of the log-normaliser in "
           "its natural parameter: E[g_c] = dA / d lambda_c, here g_c = log pi_c, lambda_c = alpha_c - 1, and d log "
           "Gamma(a) / da = psi(a)."],
    discussion=("Write Dir(pi; alpha) = exp(sum_c (alpha_c - 1) log pi_c - A(alpha)) with A(alpha) = "
                "sum_c log Gamma(alpha_c) - log Gamma(sum_c alpha_c). The mean of a sufficient statistic is the "
                "derivative of the log-normaliser: E[log pi_c] = dA/d alpha_c = psi(alpha_c) - psi(sum_c' alpha_c'). "
                "This is what CAVI's local step puts in log r~_nc, not log(alpha_c / sum_c' alpha_c'): for a component "
                "holding almost no data (alpha_c ~ alpha_0 = 0.001) psi(alpha_c) ~ -1/alpha_c = -1000 makes its "
                "responsibilities vanish, which is how it stays switched off. At alpha = (0.01, 50, 3): E[log pi] = "
                "(-104.5, -0.059, -3.04) against log(alpha / sum alpha) = (-8.58, -0.058, -2.87); the expectation is "
                "always the smaller (Jensen), and by far the smaller for the small alpha_c."),
))

# ---------------------------------------------------------------- svi-weights-step


def svi_weights_step(alpha, batch_resp, weight_concentration_prior, n_total, eta):
    # the global step computed as if the batch were the whole data set: alpha_hat = alpha_0 + (N / B) sum_{n in B} r_nc,
    # then a natural-gradient step of size eta: alpha <- (1 - eta) alpha + eta alpha_hat
    batch_size = batch_resp.shape[0]
    alpha_hat = weight_concentration_prior + n_total / batch_size * batch_resp.sum(axis=0)
    return (1 - eta) * alpha + eta * alpha_hat


_ALPHA = np.array([400.0, 350.0, 250.3])       # sums to N + C alpha_0 = 1000 + 3 x 0.1

# graded probes: alpha summing to N + C alpha_0 again, other C, B, N and step sizes (a small step, eta = 1)
_BATCH_G = _GRNG.dirichlet(np.ones(4), size=8)                                   # B = 8, C = 4
_ALPHA_G = 5000 * _GRNG.dirichlet(np.full(4, 5.0)) + 0.05                        # N = 5000, alpha_0 = 0.05
_BATCH_G3 = _GRNG.dirichlet(np.full(3, 0.3), size=6)                             # B = 6, C = 3

register(Exercise(
    "svi-weights-step", "One stochastic-VI step for the weights' factor", svi_weights_step,
    chapter=5, kind="Coding", stars=2, minutes=20,
    probes=[(_ALPHA, _RESP, 0.1, 1000, 0.5), (np.array([8000.0, 7000.0, 5006.0]), _RESP, 2.0, 20000, 0.1),
            (np.array([5.0, 5.0]), np.array([[1.0, 0.0], [0.0, 1.0], [0.3, 0.7]]), 0.5, 9, 1.0)],
    graded_probes=[(_ALPHA_G, _BATCH_G, 0.05, 5000, 0.3),
                   (np.array([250.0, 200.0, 151.5]), _BATCH_G3, 0.5, 600, 0.02),
                   (np.array([9.0, 5.0]), np.array([[0.2, 0.8], [1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]), 1.0, 12, 1.0)],
    mistakes=[
        Mistake(lambda a, r, a0, n, eta: (1 - eta) * a + eta * (a0 + r.sum(axis=0)),
                "The mini-batch's counts need the factor N / B: without it alpha_hat is the answer for a data set of "
                "B points, and q(pi) forgets all but one mini-batch's worth of data."),
        Mistake(lambda a, r, a0, n, eta: (1 - eta) * a + eta * n / r.shape[0] * (a0 + r.sum(axis=0)),
                "Only the data's counts are scaled by N / B; the prior alpha_0 enters once, not once per mini-batch."),
        Mistake(lambda a, r, a0, n, eta: eta * a + (1 - eta) * (a0 + n / r.shape[0] * r.sum(axis=0)),
                "eta and 1 - eta are swapped: the step size eta multiplies the new target alpha_hat, and the old alpha "
                "keeps the weight 1 - eta (eta = 1 replaces alpha by alpha_hat, as CAVI's global step does)."),
        Mistake(lambda a, r, a0, n, eta: a + eta * (a0 + n / r.shape[0] * r.sum(axis=0)),
                "The step moves alpha towards alpha_hat: alpha + eta (alpha_hat - alpha) = (1 - eta) alpha + eta "
                "alpha_hat. Adding eta alpha_hat without the -eta alpha makes alpha grow without bound."),
        Mistake(lambda a, r, a0, n, eta: (1 - eta) * a + eta * (a0 + r.shape[0] / n * r.sum(axis=0)),
                "The factor is N / B (the mini-batch stands in for N / B times as much data), not B / N."),
    ],
    checks=[all_finite],
    hints=["Replace the sum over all N points in alpha_c = alpha_0 + sum_n r_nc by an unbiased estimate from the "
           "mini-batch: each of its B points stands for N / B points.",
           "Then alpha <- alpha + eta (alpha_hat - alpha): the natural gradient of the ELBO in alpha is alpha_hat - "
           "alpha."],
    discussion=("alpha_hat = alpha_0 + (N/B) sum_{n in B} r_nc is unbiased for the full-data update alpha_0 + sum_n "
                "r_nc "
                "(every point is in the mini-batch with probability B/N), and (1 - eta) alpha + eta alpha_hat is a "
                "step "
                "of size eta along the natural gradient alpha_hat - alpha. Its sum over c stays N + C alpha_0 at every "
                "step (sum_c r_nc = 1), which is a quick check; without N/B the sum drifts towards B + C alpha_0."),
))

# ---------------------------------------------------------------- expected-quadratic


def expected_quadratic(x, m, upsilon, V, omega):
    # E[(x - mu)^T Lambda (x - mu)] under mu | Lambda ~ N(m, (upsilon Lambda)^-1), Lambda ~ W(V, omega): given Lambda,
    # E_mu[...] = tr(Lambda (upsilon Lambda)^-1) + (x - m)^T Lambda (x - m) = D / upsilon + (x - m)^T Lambda (x - m);
    # E[Lambda] = omega V
    diff = x - m
    return len(x) / upsilon + omega * diff @ V @ diff


_V = np.array([[2.0, 0.3], [0.3, 0.5]])

# graded probes: another 2 x 2 V with a negative correlation, x = m away from 0, and D = 4 (omega > D - 1)
_V_G = np.array([[1.0, -0.4], [-0.4, 0.8]])
_A_G = _GRNG.normal(size=(4, 4))
_V_G4 = _A_G @ _A_G.T / 4 + 0.5 * np.eye(4)
_X_G4, _M_G4 = _GRNG.normal(size=4), _GRNG.normal(size=4)

register(Exercise(
    "expected-quadratic", "The expected Mahalanobis term of the local step", expected_quadratic,
    chapter=5, kind="Derivation", stars=2, minutes=25,
    probes=[(np.array([1.0, -2.0]), np.array([0.5, 0.5]), 4.0, _V, 3.0),
            (np.array([0.0, 0.0]), np.array([0.0, 0.0]), 0.5, _V, 2.5),
            (np.array([3.0, 1.0, -1.0]), np.array([0.0, 1.0, 2.0]), 10.0, np.diag([0.2, 1.0, 3.0]), 7.0)],
    graded_probes=[(np.array([-1.5, 0.5]), np.array([0.2, -0.3]), 2.0, _V_G, 4.0),
                   (np.array([1.0, -1.0]), np.array([1.0, -1.0]), 0.25, _V_G, 2.0),
                   (_X_G4, _M_G4, 20.0, _V_G4, 6.5)],
    mistakes=[
        Mistake(lambda x, m, upsilon, V, omega: omega * (x - m) @ V @ (x - m),
                "That treats mu as known (mu = m). Its spread adds tr(Lambda (upsilon Lambda)^-1) = D / upsilon."),
        Mistake(lambda x, m, upsilon, V, omega: len(x) / upsilon + omega * (x - m) @ np.linalg.inv(V) @ (x - m),
                "E[Lambda] = omega V: V itself, not its inverse, is the Wishart's scale matrix."),
        Mistake(lambda x, m, upsilon, V, omega: len(x) / upsilon + (x - m) @ V @ (x - m),
                "The Wishart's mean is omega V, so the quadratic form carries the factor omega."),
        Mistake(lambda x, m, upsilon, V, omega: len(x) * upsilon + omega * (x - m) @ V @ (x - m),
                "Given Lambda, mu's covariance is (upsilon Lambda)^-1, so tr(Lambda (upsilon Lambda)^-1) = D / "
                "upsilon, not D upsilon."),
    ],
    checks=[all_finite],
    hints=["Average over mu given Lambda first: for a random vector with mean m and covariance S, "
           "E[(x - mu)^T A (x - mu)] = tr(A S) + (x - m)^T A (x - m).",
           "Then average over Lambda, which now appears linearly: E[Lambda] = omega V."],
    discussion=("Given Lambda, mu has mean m and covariance (upsilon Lambda)^-1, so E_mu[(x - mu)^T Lambda (x - mu)] = "
                "tr(Lambda (upsilon Lambda)^-1) + (x - m)^T Lambda (x - m) = D/upsilon + (x - m)^T Lambda (x - m). "
                "This is linear in "
                "Lambda, and E[Lambda] = omega V gives D/upsilon + omega (x - m)^T V (x - m). The D/upsilon term is "
                "the uncertainty "
                "in the component's mean: it is large for a component with little data (upsilon = upsilon_0 + N_c "
                "small)."),
))

# ---------------------------------------------------------------- rao-blackwell-score


def rao_blackwell_score(log_lik, log_prior, log_q, eps, scale):
    # f_i = log p(y | x, z) + log p(z_i) - log q_i(z_i): the terms of log p(y, z) - log q(z) that involve z_i;
    # the score of m_i is d/dm_i log q_i(z_i) = (z_i - m_i) / s_i^2 = eps_i / s_i
    import numpy as np

    f_i = np.asarray(log_lik)[:, None] + log_prior - log_q        # (S, L): one weight per sample and coordinate
    return f_i * eps / scale


def _rb_probe(seed, n_samples, z_dim, prior_scale=1.0):
    """Consistent arguments: z = m + s eps, its log prior and log q per coordinate, and a log-likelihood per sample."""
    rng = np.random.default_rng(seed)
    m, s = rng.normal(0, 1, z_dim), rng.uniform(0.1, 0.8, z_dim)
    eps = rng.normal(0, 1, (n_samples, z_dim))
    z = m + s * eps
    log_prior = -0.5 * (z / prior_scale) ** 2 - np.log(prior_scale) - 0.5 * np.log(2 * np.pi)
    log_q = -0.5 * eps**2 - np.log(s) - 0.5 * np.log(2 * np.pi)
    log_lik = -rng.uniform(20, 80, n_samples)
    return log_lik, log_prior, log_q, eps, s


register(Exercise(
    "rao-blackwell-score", "A Rao-Blackwellised score-function estimator", rao_blackwell_score,
    chapter=5, kind="Coding", stars=2, minutes=40,
    probes=[_rb_probe(0, 4, 3), _rb_probe(1, 6, 2, prior_scale=2.0), _rb_probe(2, 5, 4)],
    graded_probes=[_rb_probe(10, 3, 5), _rb_probe(11, 7, 2, prior_scale=0.5), _rb_probe(12, 2, 3, prior_scale=3.0),
                   _rb_probe(13, 4, 1)],         # L = 1, where the plain and the Rao-Blackwellised estimators agree
    mistakes=[
        Mistake(lambda ll, lp, lq, e, s: (ll + (lp - lq).sum(1))[:, None] * e / s,
                "That is the plain score-function estimator: every coordinate's weight is the whole "
                "f = log p(y, z) - log q(z). Rao-Blackwellisation keeps, for coordinate i, only the terms that involve "
                "z_i: the whole log-likelihood, log p(z_i) and -log q_i(z_i)."),
        Mistake(lambda ll, lp, lq, e, s: (lp - lq) * e / s,
                "You left out the log-likelihood. It involves z_i (every logit x_n . z does), so it stays in f_i; "
                "without it the estimate ignores the data and is biased."),
        Mistake(lambda ll, lp, lq, e, s: (ll[:, None] + lp) * e / s,
                "You left out -log q_i(z_i). For the mean it happens to average to zero (-log q_i = eps_i^2 / 2 + "
                "const, and E[eps_i^3] = 0), but it is a term of f that involves z_i, and for the log s_i gradient it "
                "matters: E[(eps^2 / 2)(eps^2 - 1)] = 1. Keep it."),
        Mistake(lambda ll, lp, lq, e, s: (ll[:, None] + lp + lq) * e / s,
                "Sign: f = log p(y, z) - log q(z), so the term is -log q_i(z_i)."),
        Mistake(lambda ll, lp, lq, e, s: (ll[:, None] + lp - lq) * e,
                "The score of N(m_i, s_i^2) in m_i is (z_i - m_i) / s_i^2 = eps_i / s_i, not eps_i: divide by scale."),
        Mistake(lambda ll, lp, lq, e, s: (ll[:, None] + lp - lq) * e * s,
                "The score of N(m_i, s_i^2) in m_i is (z_i - m_i) / s_i^2 = eps_i / s_i: you multiplied by s_i "
                "instead of dividing (s_i eps_i = z_i - m_i is the numerator)."),
        Mistake(lambda ll, lp, lq, e, s: (ll[:, None] - lq) * e / s,
                "You left out log p(z_i). It involves z_i, and without it the estimate loses the prior's pull "
                "-m_i / s_0^2 on the mean: it is biased."),
        Mistake(lambda ll, lp, lq, e, s: (ll[:, None] + lp - lq) * e / s**2,
                "eps_i / s_i^2 mixes the two forms of the score: (z_i - m_i) / s_i^2 = s_i eps_i / s_i^2 = eps_i / s_i."),
        Mistake(lambda ll, lp, lq, e, s: (ll[:, None] + lp - lq) * (e**2 - 1),
                "eps_i^2 - 1 is the score of log s_i. The exercise asks for the gradient with respect to the mean "
                "m_i, whose score is eps_i / s_i."),
    ],
    checks=[all_finite],
    hints=["Write f = log p(y | x, z) + sum_i' [log p(z_i') - log q_i'(z_i')]. Which of these terms involve z_i?",
           "All of log p(y | x, z) does (through every x_n . z), and of the sum only the i' = i term. So "
           "f_i = log_lik[:, None] + log_prior - log_q, one column per coordinate; multiply by the score eps / scale."],
    discussion=("For coordinate i the estimator keeps f_i(z) = log p(y | x, z) + log p(z_i) - log q_i(z_i) and "
                "multiplies it by the score of m_i, (z_i - m_i)/s_i^2 = eps_i/s_i. The dropped terms R_i = sum_{i'"
                " != i} [log p(z_i') - log q_i'(z_i')] depend only on the other coordinates, which the factorised q "
                "makes independent of z_i, so E[R_i eps_i / s_i] = E[R_i] E[eps_i] / s_i = 0: the estimate stays "
                "unbiased. It is not a conditional expectation of the plain estimator, so it is not guaranteed to "
                "have lower variance. Without a baseline its variance falls mostly because f_i's mean (about -34 "
                "nats at the Laplace mean with s = 0.1) is smaller than f's (about -95): the plain estimator's "
                "variance is dominated by E[f]^2 E[h_i^2], so the ratio is about (34/95)^2, an eighth. With control "
                "variates on both sides, the chapter's variance identity applies: dropping R_i removes "
                "Var[R_i] E[h_i^2] (about 15 nats^2 there) but changes a covariance through the likelihood, and at the "
                "optimal q* the two together make it worse. Averaged over many samples at the start, "
                "rao_blackwell_score(...).mean(0) /"" N agrees with blackbox.exact_elbo_gradient(model, q)['loc'] within its standard errors.")))
