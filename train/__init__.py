"""The trainer: a compact Llama-style model trained through every stage of the road.

Rooms, each a subpackage, listed so that a room imports only rooms above it in this list
(and corpus, for errors and I/O); the `cli.py` modules are commands and may import any room:

    kernels/  fused CPU kernels, the allocator setting, FLOPs and the measured peak
    model/    the transformer, tokenizer, chat template, checkpoints, HF interop, LoRA, generation
    core/     the one training loop, the Stage contract, distributed, Muon, plots, command options
    data/     token shards and streams; SFT, preference and prompt formats; preference batches
    serve/    the decoding engine, the OpenAI API, the arena, batched sampling (rollouts)
    stages/   one folder per stage: pretrain, sft, reward, dpo (and kto), ppo, best_of_n, judge,
              self_instruct — its code and its command side by side
    eval/     perplexity and bits per byte, turn-taking behaviour, reward hacking
    recipes/  the recipe runner, its results page, the experiments

`train/cli.py` lists every room's commands for the `xiulian` parser. Nothing outside train
imports it except corpus/cli.py, lazily, so `xiulian clean` never imports torch.
"""
