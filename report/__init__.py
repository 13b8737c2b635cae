"""Results and reports: what a person reads about a network and about the project.

* :mod:`report.analysis`: the facts of one run (network, accuracy against time step, spike
  rates, zero weights, synaptic operations, cycles and resources per block, verification),
  from its bundle, its vector file and whatever the flow and the benchmarks have written.
* :mod:`report.energy`: the per-operation energy model and the estimate built on it.
* :mod:`report.figures`: the matplotlib figures (PNG bytes).
* :mod:`report.diagram`: the network diagram (inline SVG).
* :mod:`report.html`: one self-contained HTML page per run (``make report MODEL=<run>``).
* :mod:`report.published`: published FPGA designs the project is compared with, with sources.
* :mod:`report.results_md`: ``docs/results.md`` and its figures from ``bench/results/*.json``
  (``make results``).
* :mod:`report.screenshot`: the page in headless Chromium (benchmark side only).
"""
