"""``honed-bench <name>``: the code behind every measured figure, apart from the library it measures.

One module per benchmark, named as its verb (``honed.benchmarks.sim`` is ``honed-bench sim``), each
exposing ``VERB``; ``results`` holds what they share (the last-line JSON, docs/benchmarks.md rows).
"""
