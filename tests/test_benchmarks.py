"""The benchmark command runs and writes what it promises (a quick smoke run: no timing is judged here)."""

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.__main__ import update_readme

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_writes_tables_and_json(tmp_path):
    readme = tmp_path / "README.md"
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only",
                             "em,estimators,iwae,meanfield,svi", "--out", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "latest.json").read_text())
    assert report["quick"] and report["machine"]["cores"] >= 1
    em = report["sections"]["em"]["data"]
    assert {key.split(":")[0] for key in em["fits"]} == {"1", f"default ({report['machine']['torch_threads']})"}
    for data in em["fits"].values():   # same initialisation, same algorithm: the same optimum to rounding
        assert abs(data["loglik_ours"] - data["loglik_sklearn"]) < 1e-8
        assert data["ratio"]["median"] > 0
    for fresh in em["fresh_process"].values():   # a new process per library: import, first and second fit
        assert 0 < fresh["second"] and 0 < fresh["first"] and 0 < fresh["import"]
    variances = report["sections"]["estimators"]["data"]
    for case, row in variances.items():   # each measured variance within 5 standard errors of its analytic value
        assert abs(row["measured"] - row["analytic"]) < 5 * row["standard_error"] + 1e-12, case
    for case, row in report["sections"]["iwae"]["data"].items():   # a lower bound, up to Monte Carlo error
        assert row["mean"] < row["exact"] + 3 * row["standard_error"], case
    for case, data in report["sections"]["meanfield"]["data"]["fits"].items():   # the same iterates as sklearn's
        assert data["max_abs_difference"] < 1e-8 and data["n_iter_ours"] == data["n_iter_sklearn"], case
        assert data["ratio"]["median"] > 0
    svi = report["sections"]["svi"]["data"]
    for name, data in svi["methods"].items():   # the reference is the best ELBO; times are of fitting, positive
        assert data["final_elbo"]["max"] < svi["reference"]["elbo"] and data["final_seconds"]["min"] > 0, name
        for eps in ("0.01", "0.001"):
            assert all(s is None or s > 0 for s in data[f"seconds_within_{eps}"]["values"]), name
    markdown = (tmp_path / "latest.md").read_text()
    assert markdown.count("### ") == 5 and "QUICK" in markdown

    readme.write_text("intro\n<!-- benchmarks:start -->\nold\n<!-- benchmarks:end -->\nrest\n")
    update_readme(markdown, readme)
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro\n") and text.endswith("rest\n") and "#### EM" in text


def test_unknown_section_is_refused():
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "nonsense"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--only takes names from" in result.stderr
