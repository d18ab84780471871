"""python -m benchmarks: run the sections, print their tables, write benchmarks/results/latest.{md,json}."""

import argparse
import json
import re
from pathlib import Path

from benchmarks import em, estimators, grading, meanfield, notebooks, tighter, vae
from benchmarks._report import machine

SECTIONS = {"notebooks": notebooks.run, "em": em.run, "estimators": estimators.run_variances,
            "iwae": estimators.run_iwae, "meanfield": meanfield.run, "svi": meanfield.run_svi, "vae": vae.run,
            "linear-vae": vae.run_linear, "tighter": tighter.run, "grading": grading.run}
ROOT = Path(__file__).resolve().parents[1]
README_MARKERS = ("<!-- benchmarks:start -->", "<!-- benchmarks:end -->")


def report(sections, info, quick) -> str:
    header = (f"Measured on {info['date']}: {info['cpu']}, {info['cores']} cores, {info['torch_threads']} torch threads, "
              f"GPU {info['gpu']}; Python {info['python']}, torch {info['torch']}"
              + (" (QUICK smoke run: small sizes, not representative)" if quick else "") + ".")
    return "\n\n".join([header] + [section.markdown() for section in sections]) + "\n"


def update_readme(markdown: str, readme: Path = ROOT / "README.md") -> None:
    """Replace the block between the README's benchmark markers with ``markdown``."""
    start, end = README_MARKERS
    text = readme.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{readme} has no {start} ... {end} block to replace")
    block = f"{start}\n{markdown.replace('### ', '#### ')}{end}"
    readme.write_text(re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections (default all: {','.join(SECTIONS)})")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few repeats, small sizes")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder for latest.md and latest.json (default benchmarks/results)")
    parser.add_argument("--readme", action="store_true", help="also replace the benchmark table in README.md")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown or not names:
        parser.error(f"--only takes names from {', '.join(SECTIONS)}; got {args.only!r}")

    info, sections = machine(), []
    for name in names:
        print(f"== {name}", flush=True)
        sections.append(SECTIONS[name](quick=args.quick))
        print(sections[-1].markdown(), flush=True)
    markdown = report(sections, info, args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(markdown)
    (args.out / "latest.json").write_text(json.dumps(
        {"machine": info, "quick": args.quick,
         "sections": {name: {"title": s.title, "data": s.data} for name, s in zip(names, sections)}},
        indent=1, default=float) + "\n")
    print(f"wrote {args.out / 'latest.md'} and {args.out / 'latest.json'}")
    if args.readme:
        update_readme(markdown)
        print("updated the benchmark table in README.md")


if __name__ == "__main__":
    main()
