"""The one result type of vitools' optimisers: what was fitted, and how the optimisation got there.

Functions that optimise (``fit_gaussian``, ``fit_by_gradient_ascent``, ``variational_em``,
``refine_posterior``, ``vae.train``) return a :class:`Fit`. Estimator classes in scikit-learn's style
(``GaussianMixtureEM``, ``BernoulliMixture``) instead return ``self`` from ``fit`` and keep their state in
trailing-underscore attributes, as scikit-learn's own estimators do.
"""

from dataclasses import dataclass, field


@dataclass
class Fit:
    """A fitted distribution and/or model, with the optimisation history.

    Attributes
    ----------
    q : torch.distributions.Distribution or None
        The fitted distribution (a variational posterior q, or a Gaussian fitted to a target), when the
        answer is a distribution.
    model : object or None
        The fitted model (e.g. a ``LinearGaussianLVM``, a ``GaussianMixture``, a trained ``VAE``), when
        the answer is a model.
    history : dict of str -> list of float
        One list per tracked quantity, named as the maths (``"elbo"``, ``"kl"``, ``"log_likelihood"``,
        ``"train_elbo"``, ...), one entry per step; where a list starts with the value at the start,
        the docstring of the function that returned the ``Fit`` says so.
    converged : bool or None
        Whether a stopping rule was met (None where the optimiser runs a fixed number of steps).
    """

    q: object = None
    model: object = None
    history: dict = field(default_factory=dict)
    converged: bool | None = None
