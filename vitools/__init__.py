"""vitools: the helper package behind *Variational Inference, Interactively*.

One module per topic of the book:

- :mod:`vitools.data`      the eye-colour table and the binarized 8x8 digits
- :mod:`vitools.marginal`  marginals and conditionals of tables; Monte Carlo and
  importance-sampling estimators of log p(x)
- :mod:`vitools.lvm`       the linear-Gaussian latent variable model (everything exact)
- :mod:`vitools.mixtures`  a mixture of Bernoullis for the hidden-pixels example
- :mod:`vitools.divergences` entropy, KL, and Gaussians fitted by either direction of KL (chapter 2)
- :mod:`vitools.elbo`      Monte Carlo ELBO estimators for any model with a prior and log_joint
- :mod:`vitools.em`        EM for Gaussian mixtures, variational EM, closed-form probabilistic PCA (chapter 3)
- :mod:`vitools.estimators` score-function and pathwise gradients, baselines, the IWAE bound (chapter 4)
- :mod:`vitools.vae`       the variational autoencoder, its conditional and linear versions (chapter 5)
- :mod:`vitools.exercises` exercises with ``check`` / ``hint`` / ``solution``
- :mod:`vitools.device`    one place that picks CUDA or CPU, and seeding
- :mod:`vitools.plotting`  the book's matplotlib style and figure helpers (maths modules never import it)
- :mod:`vitools.interactive` slider demos: live ipywidgets and precomputed players for the static HTML
"""

__version__ = "0.1.0"
