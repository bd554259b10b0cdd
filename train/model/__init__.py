"""The model and what travels with it: the Llama-style transformer, the byte-level BPE tokenizer,
the chat template, checkpoints, Hugging Face export and import, LoRA, streaming generation.

May import: train.kernels (the transformer asks train.kernels.dispatch which kernel runs) and
corpus (errors). cli.py, a command, may also read shards from train.data.
"""
