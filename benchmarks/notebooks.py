"""Execution time and peak memory of each notebook (its nbval run, as `pytest` runs it) and of the whole book build.

    python -m benchmarks.notebooks

Each notebook is run by ``pytest -p no:hypothesispytest book/<name>.ipynb`` in a fresh process (kernel start-up
included), ``repeats`` times; hypothesis's pytest plugin is left out because no notebook uses it and importing it
costs about 1.5 s per process. The harness row is the same run of a notebook with one empty cell: the fixed cost
(pytest, nbval, starting a kernel) that every chapter pays before its first cell. Peak memory is the largest
resident set of the run's processes (the kernel's, in practice). The book is built in a scratch copy of the
repository with jupyter-cache (``execute_notebooks: cache``): once from clean, which executes every notebook, and
once more with the cache full, which executes nothing. CI builds with ``force``, which costs what the clean
build costs.
"""

import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._report import Section, seconds, show, spread

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S, MEDIAN_BUDGET_S = 30.0, 20.0   # per chapter; the median chapter


def _run(command, cwd):
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# runs the command and prints the largest resident set (KiB on Linux) of its processes: pytest and the kernel
_PEAK_MEMORY = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, "
                "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def nbval_run(path: Path) -> tuple:
    """Seconds and peak memory (MiB) of one nbval run of the notebook at ``path``."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
               "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), str(path)]   # the book's settings, any path
    result = {}
    elapsed = seconds(lambda: result.update(out=subprocess.run([sys.executable, "-c", _PEAK_MEMORY, *command], cwd=ROOT,
                                                               check=True, capture_output=True, text=True).stdout))
    return elapsed, int(result["out"].split()[-1]) / 1024


def _empty_notebook(folder: Path) -> Path:
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "harness.ipynb"
    nbformat.write(notebook, path)
    return path


def notebook_times(repeats: int) -> dict:
    """Seconds and peak MiB per nbval run of every chapter notebook and of an empty one, ``repeats`` runs each,
    the notebooks taken in turn within each round."""
    with tempfile.TemporaryDirectory() as scratch:
        paths = {"harness (an empty notebook)": _empty_notebook(Path(scratch)),
                 **{path.name: path for path in sorted((ROOT / "book").glob("*.ipynb"))}}
        runs = {name: [] for name in paths}
        for _ in range(repeats):
            for name, path in paths.items():
                runs[name].append(nbval_run(path))
    return {name: {"seconds": spread(t for t, _ in values), "peak_mib": max(m for _, m in values)}
            for name, values in runs.items()}


def _scratch_copy(destination: Path) -> Path:
    """The repository's tracked and unignored files, with the build switched to jupyter-cache."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    config = destination / "_config.yml"
    config.write_text(config.read_text().replace("execute_notebooks: force", "execute_notebooks: cache"))
    return destination


def build_times() -> dict:
    """Seconds for ``jupyter-book build`` from clean and again with the execution cache full."""
    with tempfile.TemporaryDirectory() as scratch:
        book = _scratch_copy(Path(scratch))
        build = ["jupyter-book", "build", ".", "-n", "-W", "--keep-going"]
        return {"clean": seconds(lambda: _run(build, book)), "cached": seconds(lambda: _run(build, book))}


def run(quick: bool = False) -> Section:
    runs = notebook_times(repeats=1 if quick else 3)
    harness, times = runs.pop("harness (an empty notebook)"), runs
    section = Section("Notebooks and the book build (seconds)", ["what", "seconds", "goal", "peak memory (MiB)"])
    section.rows.append(["harness: an empty notebook's nbval run", show(harness["seconds"], "{:.1f}"), "",
                         f"{harness['peak_mib']:.0f}"])
    for name, run in times.items():
        section.rows.append([name, show(run["seconds"], "{:.1f}"), f"<= {BUDGET_S:.0f}", f"{run['peak_mib']:.0f}"])
    medians = {name: run["seconds"]["median"] for name, run in times.items()}
    median_chapter = statistics.median(medians.values())
    section.rows += [["median chapter", f"{median_chapter:.1f}", f"<= {MEDIAN_BUDGET_S:.0f}", ""],
                     ["all notebooks (sum of medians)", f"{sum(medians.values()):.1f}", "", ""]]
    builds = build_times()
    section.rows += [["book build, clean (executes every notebook)", f"{builds['clean']:.1f}", "", ""],
                     ["book build, cached (executes nothing)", f"{builds['cached']:.1f}", "", ""]]
    slowest = max(medians, key=medians.get)
    over = [name for name, value in medians.items() if value > BUDGET_S]
    section.notes += [f"nbval runs (`pytest -p no:hypothesispytest book/<name>.ipynb`, kernel start-up included), "
                      f"{harness['seconds']['n']} per notebook, taken in turn: median [min, max]",
                      f"slowest notebook {slowest}: {medians[slowest]:.1f} s; "
                      + (f"OVER the {BUDGET_S:.0f} s budget: {', '.join(over)}" if over
                         else f"every notebook within the {BUDGET_S:.0f} s budget")
                      + f"; median chapter {median_chapter:.1f} s "
                      + ("(within" if median_chapter <= MEDIAN_BUDGET_S else "(OVER") + f" the {MEDIAN_BUDGET_S:.0f} s goal)"]
    section.data = {"notebooks": times, "harness": harness, "median_chapter": median_chapter, "build": builds}
    return section


if __name__ == "__main__":
    print(run().markdown())
