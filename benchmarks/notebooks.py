"""Execution time of each notebook (its nbval run, as `pytest` runs it) and of the whole book build.

    python -m benchmarks.notebooks

Each notebook is run by ``pytest book/<name>.ipynb`` in a fresh process (kernel start-up included),
``repeats`` times. The book is built in a scratch copy of the repository with jupyter-cache
(``execute_notebooks: cache``): once from clean, which executes every notebook, and once more with
the cache full, which executes nothing. CI builds with ``force``, which costs what the clean build costs.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._report import Section, seconds, show, spread

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S, BOOK_BUDGET_S = 30.0, 120.0


def _run(command, cwd):
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def notebook_times(repeats: int) -> dict:
    """Seconds per nbval run of every chapter notebook, ``repeats`` runs each."""
    notebooks = sorted((ROOT / "book").glob("*.ipynb"))
    return {path.name: spread(seconds(lambda: _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                                    str(path.relative_to(ROOT))], ROOT))
                              for _ in range(repeats))
            for path in notebooks}


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
    times = notebook_times(repeats=1 if quick else 3)
    section = Section("Notebooks and the book build (seconds)", ["what", "seconds", "goal"])
    for name, stats in times.items():
        section.rows.append([name, show(stats, "{:.1f}"), f"<= {BUDGET_S:.0f}"])
    total = sum(stats["median"] for stats in times.values())
    section.rows.append(["all notebooks (sum of medians)", f"{total:.1f}", f"<= {BOOK_BUDGET_S:.0f}"])
    builds = build_times()
    section.rows += [["book build, clean (executes every notebook)", f"{builds['clean']:.1f}", f"<= {BOOK_BUDGET_S:.0f}"],
                     ["book build, cached (executes nothing)", f"{builds['cached']:.1f}", ""]]
    slowest = max(times, key=lambda name: times[name]["median"])
    section.notes += [f"nbval runs (`pytest book/<name>.ipynb`, kernel start-up included), "
                      f"{times[slowest]['n']} per notebook: median [min, max]",
                      f"slowest notebook {slowest}: {times[slowest]['median']:.1f} s "
                      f"({'within' if times[slowest]['median'] <= BUDGET_S else 'OVER'} the {BUDGET_S:.0f} s goal)"]
    section.data = {"notebooks": times, "build": builds}
    return section


if __name__ == "__main__":
    print(run().markdown())
