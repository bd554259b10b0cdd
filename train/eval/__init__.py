"""Measuring a model: perplexity and bits per byte on held-out text (`xiulian eval`), benchmark
tasks scored as lm-evaluation-harness scores them (`xiulian eval --tasks`), n-gram floors, how it
answers instructions (does it end its turn?), and reward hacking (a proxy reward against a
gold one).

May import: every room above it (kernels, model, core, data, serve, stages), corpus.
"""
