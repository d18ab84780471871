"""vitools does no network access and writes no files except where a caller passes a path.

Two checks:

1. Dynamic: a representative workload of every vitools module (small sizes) runs in a fresh interpreter with
   - the working directory, HOME and TMPDIR each set to a new empty directory,
   - an audit hook (PEP 578) that makes every socket connection / name lookup raise and records it, and
     records every file opened for writing, and every file created, renamed or removed, outside the allowed
     directory below,
   and afterwards the three directories must still be empty. Libraries' own caches go to separate
   directories, the only places where writes are allowed, each for a stated reason:
   - MPLCONFIGDIR: matplotlib (not vitools) caches its font list there on first use;
   - TORCHINDUCTOR_CACHE_DIR: the first torch.optim optimiser imports torch._dynamo, whose import creates
     torch's (empty) compile-cache directory, by default $TMPDIR/torchinductor_$USER.
   Transient scratch files under TMPDIR (created and deleted again) are recorded separately, and there must
   be none either: the slider player renders its frames in memory.
   PYTHONDONTWRITEBYTECODE=1 keeps the interpreter's own .pyc caching out of the picture. (An audit hook sees
   Python-level file and socket calls; the empty-directory check also catches writes from C code into the
   directories a program would normally use.)
2. Static: no vitools module imports a networking (or subprocess) module, and every file-writing call in
   vitools takes its path from a parameter of the enclosing function, i.e. from the caller.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vitools"

GUARD = r'''
import json, os, sys

ALLOWED = [os.path.realpath(os.environ[name]) for name in ("MPLCONFIGDIR", "TORCHINDUCTOR_CACHE_DIR")]
SCRATCH = os.path.realpath(os.environ["TMPDIR"])
NETWORK = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.sendto",
           "socket.sendmsg", "socket.bind", "urllib.Request", "http.client.connect", "ftplib.connect",
           "smtplib.connect", "webbrowser.open")
CHANGES = ("os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "os.truncate", "os.symlink", "os.link",
           "shutil.copyfile", "shutil.copytree", "shutil.move", "shutil.rmtree", "tempfile.mkstemp", "tempfile.mkdtemp")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
violations, scratch = [], []

def _within(path, directory):
    return path == directory or path.startswith(directory + os.sep)

def _outside(path, record, dir_fd=None):
    if isinstance(path, int) or path is None:
        return False                       # an already open file descriptor
    path = os.fsdecode(path)
    if isinstance(dir_fd, int) and not os.path.isabs(path):   # relative to a directory descriptor (shutil.rmtree)
        path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
    path = os.path.realpath(path)
    if path == os.devnull or any(_within(path, d) for d in ALLOWED):
        return False
    if _within(path, SCRATCH):
        scratch.append(record)
        return False
    return True

def hook(event, args):
    if event in NETWORK:
        violations.append([event, repr(args)[:200]])
        raise PermissionError(f"network access attempted ({event}) during the vitools workload")
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & WRITE_FLAGS)
        if writing and _outside(path, [event, str(path)]):
            violations.append([event, str(path), str(mode)])
    elif event in CHANGES and args:
        dir_fd = args[-1] if event in ("os.mkdir", "os.remove", "os.rmdir") else None
        if _outside(args[0], [event, str(args[0])], dir_fd):
            violations.append([event, str(args[0])])

sys.addaudithook(hook)
'''

WORKLOAD = r'''
import math
import numpy as np
import torch
from torch.distributions import Bernoulli, Independent, MultivariateNormal, Normal

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

from vitools import (bounds, data, divergences, estimators, examples, gaussian_mixture, interactive, marginal, plotting,
                     vae)
from vitools.bernoulli_mixture import BernoulliMixture
from vitools.device import get_device, seed_everything
from vitools.examples import two_mode_target
from vitools.exercises import all_exercises, exercise
from vitools.lvm import LinearGaussianLVM, ppca_maximum_likelihood
from vitools.variational_em import variational_em

seed_everything(0)
get_device()
table, colours, nationalities = data.eye_colour_table()
joint = marginal.normalise(table)
marginal.condition_on(joint, 0), marginal.sum_out(joint, 1)
x_digits, y_digits = data.load_digits("train")
x_digits, y_digits = x_digits[:100], y_digits[:100]

model = LinearGaussianLVM.random(4, 2, 0.5, seed=0)
x, _ = model.sample(10)
post = model.posterior(x)
bounds.iwae_bound(model, x, model.prior, n_samples=32), bounds.iwae_bound(model, x, post, n_samples=32, chunk=5)
model.log_marginal(x), model.elbo_terms(x, post)
q = Independent(Normal(torch.zeros(10, 2, dtype=torch.float64), torch.ones(10, 2, dtype=torch.float64)), 1)
bounds.elbo_monte_carlo(model, x, q, n_samples=4), bounds.elbo_closed_form_kl(model, x, q, n_samples=4), model.elbo(x, q)
bounds.log_mean_exp(bounds.log_importance_weights(model, x, q, n_samples=8))
examples.proposal_second_moment(1.5, z_dim=2), examples.log_prior_second_moment(model, x)

mixture = BernoulliMixture(3).fit(x_digits, max_iter=5)
observed = torch.arange(64) >= 6     # 6 hidden pixels
mixture.log_marginal(x_digits[:2], observed=observed), mixture.log_marginal_enumerate(x_digits[:2], observed=observed)
mixture.complete_hidden(x_digits[:2], observed=observed), mixture.sample(3), mixture.elbo(x_digits, mixture.prior)

divergences.entropy([0.5, 0.5]), divergences.kl_discrete([0.5, 0.5], [0.9, 0.1])
divergences.kl_gaussian(torch.zeros(2), torch.ones(2), torch.ones(2), torch.ones(2))
divergences.fit_gaussian(two_mode_target(4.0), "forward", n_steps=10)
correlated = MultivariateNormal(torch.zeros(2), torch.tensor([[1.0, 0.5], [0.5, 1.0]]))
divergences.fit_factorised_gaussian(correlated, n_steps=10)

init = dict(weights_init=torch.full((2,), 0.5, dtype=torch.float64), means_init=x[:2],
            covariances_init=torch.eye(4, dtype=torch.float64).expand(2, 4, 4))
gmm = gaussian_mixture.GaussianMixtureEM(2).fit(x, **init, max_iter=5)
gmm.predict_proba(x), gmm.score(x), gaussian_mixture.fit_by_gradient_ascent(x, **init, n_steps=5)
gmm.mixture_.elbo(x, gmm.mixture_.posterior(x)), gmm.mixture_.sample(3)
variational_em(x, z_dim=2, max_iter=3), ppca_maximum_likelihood(x, 2)

loc = torch.zeros(2, requires_grad=True)
estimators.score_function_grad(lambda z: z.sum(-1), Normal(loc, torch.ones(2)), n_samples=16, baseline="leave-one-out")
estimators.reparam_grad(examples.quadratic_test_function(3.0), examples.gaussian_q(z_dim=2), n_samples=16)
estimators.optimal_baseline(examples.linear_test_function, Bernoulli(probs=torch.tensor([0.3], requires_grad=True)),
                            n_samples=16)
examples.score_variance_quadratic(1.0, 3.0, z_dim=2), examples.elbo_gradient_variances(0.5, posterior_precision=4.0,
                                                                                         width=2.0)

net = vae.VAE(64, 2, hidden=(8,))
vae.train(net, x_digits, n_epochs=1, batch_size=50, x_test=x_digits[:20], progress=True)
net.elbo_terms(x_digits[:3], net.encoder(x_digits[:3])), net.sample(3), net.sample_means(3)
vae.refine_posterior(net, x_digits[:3], n_steps=3)
vae.gap_estimates(net, x_digits[:3], n_steps_grid=(0, 2), n_samples_grid=(1, 4), n_eval=4, n_repeats=2)
cvae = vae.CVAE(64, 2, n_classes=10, hidden=(8,))
vae.train(cvae, x_digits, n_epochs=1, y_train=y_digits)
cvae.sample(3, y=torch.arange(3)), cvae.sample_means(3, y=torch.arange(3))
linear = vae.LinearVAE(4, 2)
vae.train(linear, x.float(), n_epochs=1)
linear.as_lvm()

for ex in all_exercises():
    ex.hint(), ex.solution(), ex.check(None)
exercise("posterior-green-eyes").check(exercise("posterior-green-eyes").expected())

plotting.use_book_style()
fig, axes = plt.subplots(1, 3)
plotting.heatmap(axes[0], joint, colours, nationalities)
plotting.show_digits(axes[1:], x_digits[:2])
plotting.gaussian_ellipse(axes[0], [0.0, 0.0], [[1.0, 0.2], [0.2, 1.0]])
plotting.MarkdownTable([[1.0, 2.0]], ["a"], ["b", "c"])._repr_markdown_()
plt.close(fig)

def draw(fig, value=1.0):
    fig.add_subplot().plot([0, value])

interactive.slider_animation(draw, [1.0, 2.0])
interactive.live_sliders(draw, value=[1.0, 2.0])
plt.close("all")

import importlib, pkgutil, vitools   # every module, found from the package, is at least imported under the guard
for module in pkgutil.walk_packages(vitools.__path__, "vitools."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)
'''

REPORT = r'''
print("VIOLATIONS " + json.dumps(violations))
print("SCRATCH " + json.dumps(scratch))
'''


def _listing(directory: Path) -> list:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def _run_guarded(code: str, tmp_path: Path):
    """Run ``code`` under the guard in a fresh interpreter; return the result, the violations, the scratch
    writes and the directories."""
    dirs = {name: tmp_path / name for name in ("cwd", "home", "tmp", "mplconfig", "torchcache")}
    for d in dirs.values():
        d.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("XDG_", "MPL", "JUPYTER", "IPYTHON", "TORCH", "SCIKIT_LEARN_DATA"))}
    env.update(HOME=str(dirs["home"]), TMPDIR=str(dirs["tmp"]), MPLCONFIGDIR=str(dirs["mplconfig"]),
               TORCHINDUCTOR_CACHE_DIR=str(dirs["torchcache"]), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1",
               OMP_NUM_THREADS="1")
    # tempfile's first gettempdir() writes and removes a probe file in TMPDIR; dill, which otter-grader (the
    # instructor requirements) installs, calls it when torch imports it. That probe is not vitools': done first.
    program = "import tempfile\ntempfile.gettempdir()\n" + GUARD + \
        "try:\n    exec(compile(" + repr(code) + ", 'workload', 'exec'))\nfinally:\n" + \
        "".join("    " + line + "\n" for line in REPORT.strip().splitlines())
    result = subprocess.run([sys.executable, "-c", program], cwd=dirs["cwd"], env=env, capture_output=True,
                            text=True, timeout=300)
    reports = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in result.stdout.splitlines()
               if line.startswith(("VIOLATIONS ", "SCRATCH "))}
    assert reports, f"the guarded program did not report:\n{result.stderr[-4000:]}"
    return result, reports["VIOLATIONS"], reports["SCRATCH"], dirs


def test_workload_writes_no_files_and_opens_no_connections(tmp_path):
    result, violations, scratch, dirs = _run_guarded(WORKLOAD, tmp_path)
    assert not violations, f"vitools touched files or the network: {violations}"
    assert result.returncode == 0, result.stderr[-4000:]
    assert not scratch, f"vitools wrote scratch files: {scratch}"
    for name in ("cwd", "home", "tmp"):
        assert not _listing(dirs[name]), f"files appeared in {name}: {_listing(dirs[name])} (scratch: {scratch})"


def test_the_guard_catches_a_connection_and_a_write(tmp_path):
    code = ("import socket\n"
            "for attempt in (lambda: socket.create_connection(('192.0.2.1', 80), timeout=1),\n"
            "                lambda: socket.socket().connect(('192.0.2.1', 80))):\n"
            "    try:\n        attempt()\n        raise SystemExit('the guard let a connection through')\n"
            "    except PermissionError:\n        pass\n"
            "open('left-behind.txt', 'w').close()\n")
    result, violations, _, dirs = _run_guarded(code, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [v[0] for v in violations] == ["socket.getaddrinfo", "socket.connect", "open"], violations
    assert _listing(dirs["cwd"]) == ["left-behind.txt"]


NETWORK_MODULES = {"socket", "ssl", "urllib", "urllib3", "requests", "http", "httpx", "aiohttp", "ftplib",
                   "smtplib", "telnetlib", "xmlrpc", "websocket", "websockets", "poplib", "imaplib", "webbrowser",
                   "subprocess"}
# methods that write whatever object they are called on (path.write_text, fig.savefig, array.tofile, ...)
WRITING_METHODS = {"write_text", "write_bytes", "savefig", "savez", "savez_compressed", "savetxt", "to_csv", "to_json",
                   "to_pickle", "mkdir", "makedirs", "touch", "unlink", "rmtree", "copyfile", "copytree", "symlink_to",
                   "imsave", "tofile"}
# names too common to flag everywhere (list.remove, str.replace, array.copy): flagged as module functions only
MODULE_WRITERS = {"os": {"remove", "rename", "replace", "rmdir", "removedirs", "link", "symlink", "truncate"},
                  "shutil": {"copy", "copy2", "move"}, "np": {"save"}, "numpy": {"save"}, "torch": {"save"}}


def _sources():
    return sorted(PACKAGE.rglob("*.py"))


def test_no_networking_imports():
    found = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            found += [f"{path.relative_to(ROOT)}:{node.lineno} imports {name}" for name in names
                      if name.split(".")[0] in NETWORK_MODULES]
    assert not found, found


def _writes(tree):
    """(call node, the names it may write to) for every call that may write a file: the enclosing function's
    parameters (paths from the caller) and its in-memory buffers (``name = io.BytesIO()``)."""
    def visit(node, params):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            params = {p.arg for p in a.posonlyargs + a.args + a.kwonlyargs} | \
                {p.arg for p in (a.vararg, a.kwarg) if p is not None} | \
                {t.id for n in ast.walk(node) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
                 and ast.unparse(n.value.func) in ("io.BytesIO", "io.StringIO") for t in n.targets if isinstance(t, ast.Name)}
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "open":
                mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"),
                                                                     None)
                if mode is None or not (isinstance(mode, ast.Constant) and set(str(mode.value)) <= set("rbt")):
                    yield node, params
            elif isinstance(func, ast.Attribute) and (func.attr in WRITING_METHODS or (
                    isinstance(func.value, ast.Name) and func.attr in MODULE_WRITERS.get(func.value.id, ()))):
                yield node, params
            elif isinstance(func, ast.Attribute) and func.attr == "open" and any(
                    isinstance(a, ast.Constant) and set(str(a.value)) & set("wax+") for a in node.args):
                yield node, params
        for child in ast.iter_child_nodes(node):
            yield from visit(child, params)
    yield from visit(tree, set())


def _path_argument(call):
    """The expression naming the file a writing call writes."""
    func = call.func
    if isinstance(func, ast.Name):                             # open(path, ...)
        return call.args[0] if call.args else None
    if isinstance(func.value, ast.Name) and func.value.id == "torch" and func.attr == "save":   # torch.save(obj, f)
        return call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "f"), None)
    if isinstance(func.value, ast.Name) and func.value.id in MODULE_WRITERS | {"plt": None}:   # os.remove(path, ...)
        return call.args[0] if call.args else None
    if func.attr in ("savefig", "savez", "savez_compressed", "savetxt", "imsave", "tofile", "to_csv", "to_json",
                     "to_pickle"):                              # fig.savefig(path), frame.to_csv(path)
        return call.args[0] if call.args else None
    return func.value                                           # path.write_text(...), path.mkdir()


def test_file_writes_only_to_caller_given_paths():
    offenders = []
    for path in _sources():
        for call, params in _writes(ast.parse(path.read_text(), str(path))):
            argument = _path_argument(call)
            if not (isinstance(argument, ast.Name) and argument.id in params):
                offenders.append(f"{path.relative_to(ROOT)}:{call.lineno}: {ast.unparse(call)[:80]}")
    assert not offenders, "file-writing calls whose path does not come from the caller:\n" + "\n".join(offenders)


def test_the_static_check_would_see_a_write_and_an_import():
    # the checks above find nothing in vitools today; make sure they are not blind
    source = ("import urllib.request\nfrom http import client\n"
              "def f(out, fig, x):\n    open(out, 'w')\n    open('/tmp/x', 'w')\n"
              "    Path('cache.json').write_text('')\n"
              "    fig.savefig(out)\n    fig.savefig('figure.png')\n    torch.save(x, out)\n    torch.save(x, 'x.pt')\n"
              "    x.copy()\n    [1].remove(1)\n    os.remove('x.pt')\n    open(out).read()\n"
              "    buffer = io.BytesIO()\n    fig.savefig(buffer)\n    cache = 'x.png'\n    fig.savefig(cache)\n")
    tree = ast.parse(source)
    flagged = [call.lineno for call, params in _writes(tree)
               if not (isinstance(_path_argument(call), ast.Name) and _path_argument(call).id in params)]
    assert flagged == [5, 6, 8, 10, 13, 18]
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert len(imports) == 2
