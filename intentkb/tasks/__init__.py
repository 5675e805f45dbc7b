"""Benchmark tasks over the graph, their export and the evaluation of models on them."""
