"""vitools: the helper package behind *Variational Inference, Interactively*.

One module per idea of the book (CONTRIBUTING.md says where new code goes and which names to use):

- :mod:`vitools.data`             the eye-colour table and the binarized 8x8 digits
- :mod:`vitools.marginal`         marginals and conditionals of probability tables (chapter 1)
- :mod:`vitools.divergences`      entropy, KL, and Gaussians fitted by either direction of KL (chapter 2)
- :mod:`vitools.bounds`           the ELBO and the importance-weighted bound L_K for any model; log-mean-exp
- :mod:`vitools.lvm`              the linear-Gaussian latent variable model (everything exact), probabilistic PCA
- :mod:`vitools.mixtures`         what every mixture model shares: prior, posterior, E-step, log p(x), ELBO
- :mod:`vitools.gaussian_mixture` the Gaussian mixture and its EM (chapter 3)
- :mod:`vitools.bernoulli_mixture` the mixture of Bernoullis of the hidden-pixels example
- :mod:`vitools.variational_em`   variational EM for the linear-Gaussian model (chapter 3)
- :mod:`vitools.estimators`       score-function and pathwise gradients, baselines (chapter 4)
- :mod:`vitools.meanfield`        mean-field VI for the Bayesian Gaussian mixture: CAVI, stochastic VI (chapter 5)
- :mod:`vitools.blackbox`         black-box VI for Bayesian logistic regression (chapter 5)
- :mod:`vitools.vae`              the variational autoencoder, its conditional and linear versions
- :mod:`vitools.objectives`       training objectives (ELBO, L_K) and their gradient estimators: path derivative, DReG
- :mod:`vitools.flows`            normalising-flow posteriors: planar layers and the flow VAE
- :mod:`vitools.aggregate`        the aggregate posterior, mutual information and active units
- :mod:`vitools.examples`         the book's own examples: targets, test functions, set-ups, baselines
- :mod:`vitools.results`          ``Fit``, the result type of every optimiser
- :mod:`vitools.exercises`        exercises with ``check`` / ``hint`` / ``solution``
- :mod:`vitools.device`           one place that picks CUDA or CPU, and seeding
- :mod:`vitools.plotting`         the book's matplotlib style and figure helpers (maths modules never import it)
- :mod:`vitools.interactive`      slider demos: live ipywidgets and precomputed players for the static HTML
"""

__version__ = "0.1.0"
