"""Fast paths under the model: fused CPU kernels (cpu_kernels.py + cpu_kernels.c, compiled on
first use), the one dispatch function the model asks which kernel runs (dispatch.py), the
blockwise cross-entropy for eager GPU runs, glibc's allocator setting, and FLOPs with the
measured peak for MFU.

May import: torch and the standard library only; nothing else in train.
"""
