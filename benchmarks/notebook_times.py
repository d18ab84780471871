"""Time every notebook of the book, executed top to bottom as the book build runs it.

    python benchmarks/notebook_times.py            # all notebooks under book/
    python benchmarks/notebook_times.py book/01_marginal_likelihood.ipynb

Prints one line per notebook with its wall-clock seconds and the slowest cells, and the budget
(30 s per notebook on a 2-core CPU). Exits 1 if any notebook fails to run.
"""

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

BUDGET_S = 30.0
ROOT = Path(__file__).resolve().parents[1]


def time_notebook(path: Path):
    nb = nbformat.read(path, as_version=4)
    cell_times = []
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel():
        start = time.perf_counter()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                t0 = time.perf_counter()
                client.execute_cell(cell, index)
                cell_times.append((time.perf_counter() - t0, index))
        total = time.perf_counter() - start
    return total, sorted(cell_times, reverse=True)[:3]


def main(paths):
    notebooks = [Path(p) for p in paths] or sorted((ROOT / "book").rglob("*.ipynb"))
    for path in notebooks:
        total, slowest = time_notebook(path)
        cells = ", ".join(f"cell {i}: {t:.1f} s" for t, i in slowest)
        status = "ok" if total <= BUDGET_S else "OVER BUDGET"
        print(f"{path.name}: {total:.1f} s (budget {BUDGET_S:.0f} s, {status}); slowest {cells}")


if __name__ == "__main__":
    main(sys.argv[1:])
