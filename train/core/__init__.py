"""The one training loop every stage shares (loop.py), the Stage contract it runs (stage.py: a
typing.Protocol, and the base for stages over a list of examples), multi-process training,
the Muon optimizer, loss plots, and the command-line options the training commands share.

May import: train.kernels, train.model, corpus.
"""
