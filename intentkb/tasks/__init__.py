"""Benchmark items cut from the graph: the benchmark registry, one builder per benchmark (sib, esb,
iqa) with its prompt templates (templates/), the item shape, the split and prompt rendering."""
