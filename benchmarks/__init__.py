"""How fast the book runs and how good its models are, measured side by side.

    python -m benchmarks                       # everything (about 10 minutes on 2 cores)
    python -m benchmarks --only em,vae         # some sections
    python -m benchmarks --quick               # a smoke run: few repeats, small sizes
    python -m benchmarks --readme              # also put the table into README.md

Prints one Markdown table per section and writes them to ``benchmarks/results/latest.md`` and
``latest.json`` (with the date and the machine). Timings are medians over repeats with their
range; where a peer is measured in the same run (EM against scikit-learn) the timing is a ratio.
Nothing here fails for being slow: goals are reported, not enforced.
"""
