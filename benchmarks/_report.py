"""What every benchmark section shares: medians with their spread, one table per section, the machine."""

import datetime
import os
import platform
import statistics
import time
from dataclasses import dataclass, field

import torch


@dataclass
class Section:
    """One table of results: ``rows`` of formatted cells under ``columns``, raw numbers in ``data``."""

    title: str
    columns: list
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    data: dict = field(default_factory=dict)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in self.rows]
        return "\n".join(lines + [""] + [f"- {note}" for note in self.notes])


def spread(values) -> dict:
    """Median, minimum, maximum and count of repeated measurements."""
    values = list(values)
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def show(stats: dict, fmt: str = "{:.2f}") -> str:
    """``median [min, max]``, or the single value when there was one measurement."""
    if stats["n"] == 1:
        return fmt.format(stats["median"])
    return f"{fmt.format(stats['median'])} [{fmt.format(stats['min'])}, {fmt.format(stats['max'])}]"


def seconds(run) -> float:
    """Wall-clock seconds of ``run()``."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start



def alternating_ms_per_iteration(fit_ours, fit_theirs, repeats):
    """Warm both fits up, then time them ``repeats`` times each, who goes first alternating between repeats.

    Each fit is a function of no arguments returning its fitted estimator (with ``n_iter_``). Returns the two
    warm-up estimators and the two lists of milliseconds per iteration.
    """
    ours, theirs = fit_ours(), fit_theirs()      # warm-up: first calls into either library are slower
    ms_ours, ms_theirs = [], []
    for repeat in range(repeats):
        for fit in ((fit_ours, fit_theirs) if repeat % 2 == 0 else (fit_theirs, fit_ours)):
            times, estimator = (ms_ours, ours) if fit is fit_ours else (ms_theirs, theirs)
            times.append(1e3 * seconds(fit) / estimator.n_iter_)
    return ours, theirs, ms_ours, ms_theirs

def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine() -> dict:
    """The date and what the numbers were measured on."""
    return {"date": datetime.date.today().isoformat(), "cpu": _cpu_name(), "cores": len(os.sched_getaffinity(0)),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else "none"}
