"""Chapter 4 measured: estimator variances against their analytic values, and the IWAE bound against log p(x).

    python -m benchmarks.estimators

Variances: q = N(mu, 1) per coordinate at mu = 1, f(z) = sum_d (z_d - k)^2 or sum_d z_d, the gradient
with respect to the first mean from one sample, as in chapter 4 ("Side by side" and "Baselines"); each
measured variance comes from 400,000 single-sample estimates, whose sampling error is about 1 percent.
IWAE: the linear-Gaussian model of chapter 4 (x_dim 5, z_dim 2, sigma 0.6, seed 4), one observation,
L_K averaged over independent repeats (mean and standard error) against the exact log p(x).
"""

import math

from torch.distributions import MultivariateNormal

from benchmarks._report import Section
from vitools import bounds, estimators, examples
from vitools.device import seed_everything
from vitools.lvm import LinearGaussianLVM

MU = 1.0


def variance_and_se(estimates):
    """Sample variance of per-sample estimates and its standard error sqrt((m4 - var^2) / n)."""
    centred = estimates - estimates.mean()
    variance = centred.pow(2).mean()
    return variance.item(), ((centred.pow(4).mean() - variance**2) / len(estimates)).sqrt().item()


def variance_rows(n):
    """(estimator, case, analytic, per-sample estimates) for the estimators of d/d mu_1."""
    rows = []
    for k, dim in [(3.0, 1), (1.0, 1), (3.0, 10), (1.0, 10)]:
        f = examples.quadratic_test_function(k)
        case = f"sum (z_d - {k:g})^2, D = {dim}"
        rows.append(("score function", case, examples.score_variance_quadratic(MU, k, z_dim=dim),
                     estimators.score_function_grad(f, examples.gaussian_q(MU, z_dim=dim), n_samples=n)["loc"][:, 0]))
        rows.append(("pathwise", case, 4.0,
                     estimators.reparam_grad(f, examples.gaussian_q(MU, z_dim=dim), n_samples=n)["loc"][:, 0]))
    for dim in (1, 10):
        rows.append(("score function", f"sum z_d, D = {dim}", examples.score_variance_linear(MU, z_dim=dim),
                     estimators.score_function_grad(examples.linear_test_function, examples.gaussian_q(MU, z_dim=dim),
                                                    n_samples=n)["loc"][:, 0]))
    k = 3.0
    values, scores = estimators.values_and_scores(examples.quadratic_test_function(k), examples.gaussian_q(MU, z_dim=1),
                                                  n_samples=n)
    for name, c in [("baseline c = E[f]", examples.quadratic_mean_baseline(MU, k)),
                    ("optimal baseline c* = E[f s^2]/E[s^2]", examples.quadratic_optimal_baseline(MU, k))]:
        rows.append((f"score function, {name}", f"(z - {k:g})^2, D = 1",
                     examples.score_variance_quadratic(MU, k, baseline=c), (values - c) * scores["loc"][:, 0]))
    return rows


def run_variances(quick: bool = False) -> Section:
    n = 40_000 if quick else 400_000
    seed_everything(0)
    section = Section("Gradient estimators: per-sample variance, measured against analytic (chapter 4)",
                      ["estimator", "f(z), q = N(1, I_D)", "analytic", "measured ± s.e.", "measured / analytic"])
    for estimator, case, analytic, estimates in variance_rows(n):
        measured, se = variance_and_se(estimates)
        section.rows.append([estimator, case, f"{analytic:.2f}", f"{measured:.2f} ± {se:.2f}", f"{measured / analytic:.3f}"])
        section.data[f"{estimator}; {case}"] = {"analytic": analytic, "measured": measured, "standard_error": se}
    section.notes.append(f"{n:,} single-sample estimates per row; ± one standard error of the sample variance")
    return section


def run_iwae(quick: bool = False) -> Section:
    reps, ks = (50, [1, 10, 100]) if quick else (200, [1, 10, 100, 1000, 5000])
    model = LinearGaussianLVM.random(x_dim=5, z_dim=2, sigma=0.6, seed=4)
    seed_everything(0)
    x, _ = model.sample(1)
    exact = model.log_marginal(x).item()
    post = model.posterior(x)
    proposals = {"prior": model.prior,
                 "posterior mean, 2 x posterior sd": MultivariateNormal(post.mean[0], 4 * post.covariance_matrix[0])}
    section = Section(f"IWAE bound L_K on the linear-Gaussian model against the exact log p(x) = {exact:.4f}",
                      ["q", "K", "L_K (mean of repeats)", "standard error", "log p(x) - L_K"])
    for name, q in proposals.items():
        for k in ks:
            l_k = bounds.iwae_bound(model, x.expand(reps, -1), q, n_samples=k)     # one estimate of L_K per repeat
            mean, se = l_k.mean().item(), l_k.std().item() / math.sqrt(reps)
            section.rows.append([name, k, f"{mean:.4f}", f"{se:.4f}", f"{exact - mean:.4f}"])
            section.data[f"{name}, K = {k}"] = {"mean": mean, "standard_error": se, "exact": exact}
    section.notes.append(f"{reps} independent repeats of L_K per row; the gaps shrink with K and are positive up to a "
                         "few standard errors (a gap below zero is Monte Carlo noise, as its standard error shows)")
    return section


if __name__ == "__main__":
    print(run_variances().markdown())
    print(run_iwae().markdown())
