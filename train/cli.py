"""Trainer commands: tokenizer train, pretrain, generate, eval, export, import-hf.

Registered on the `xiulian` parser by corpus/cli.py; torch is imported only inside the command
that runs, so `xiulian clean --help` stays fast.
"""
from __future__ import annotations

import sys


def add_parsers(sub, command) -> None:
    _add_tokenizer(sub, command)
    _add_pretrain(sub, command)
    _add_sft(sub, command)
    from .preference_cli import add_parsers as add_preference_parsers
    add_preference_parsers(sub, command)  # reward (and reward score), dpo, kto
    from . import bon_cli, judge_cli, ppo_cli, recipe_cli
    for module in (bon_cli, ppo_cli, judge_cli, recipe_cli):
        module.add_parsers(sub, command)
    _add_chat(sub, command)
    _add_lora(sub, command)
    _add_generate(sub, command)
    _add_eval(sub, command)
    _add_export(sub, command)
    _add_import(sub, command)
    from .serve_cli import add_parsers as add_serving_parsers
    add_serving_parsers(sub, command)  # serve, arena
    from .self_instruct import add_parser as add_self_instruct_parser
    add_self_instruct_parser(sub, command)


def add_training_options(p, default_preset: str | None = "tiny") -> None:
    """The options every training stage shares (pretrain, sft, reward, dpo, kto, ppo)."""
    p.add_argument("-o", "--output", required=True, metavar="RUN",
                   help="run folder; an existing one is resumed")
    p.add_argument("--config", metavar="FILE", help="TOML with [model], [train] and [data] tables")
    if default_preset:
        p.add_argument("--preset", default=default_preset, help="model size: tiny, small or base")
    p.add_argument("--max-steps", type=int, help="optimizer steps (the schedule ends here)")
    p.add_argument("--save-every", type=int, help="steps between checkpoints")
    p.add_argument("--eval-every", type=int, help="steps between validation passes")
    p.add_argument("--batch-size", type=int, help="sequences per micro-batch per process")
    p.add_argument("--grad-accum", type=int, help="micro-batches per step")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--optimizer", choices=("adamw", "muon"), help="optimizer for the matrices")
    p.add_argument("--dtype", choices=("auto", "bf16", "fp32"), help="auto: bf16 on CUDA, fp32 on CPU")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when there is one)")
    p.add_argument("--seed", type=int, help="seed for initialisation and data order")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def training_overrides(args) -> dict:
    names = ("max_steps", "save_every", "eval_every", "batch_size", "grad_accum", "lr",
             "optimizer", "dtype", "compile", "device", "seed")
    return {name: getattr(args, name) for name in names}


def _add_tokenizer(sub, command) -> None:
    p = command(sub, "tokenizer", "Train a byte-level BPE tokenizer (tokenizer.json).",
                "xiulian tokenizer train out/shards -o tok --vocab-size 8192")
    tsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    t = command(tsub, "train", "Train a byte-level BPE on a stable sample of the shards, with the "
                "document and chat special tokens reserved.",
                "xiulian tokenizer train out/shards more.jsonl -o tok --vocab-size 8192")
    t.add_argument("inputs", nargs="+", metavar="SHARDS", help="Parquet shards, .jsonl or .txt; folders ok")
    t.add_argument("-o", "--output", required=True, metavar="TOKDIR", help="folder for tokenizer.json")
    t.add_argument("--vocab-size", type=int, default=8192, help="tokens, special ones included")
    t.add_argument("--sample-bytes", type=int, default=500_000_000,
                   help="train on about this much text, sampled across all shards")
    t.add_argument("--min-frequency", type=int, default=2, help="least count of a merged pair")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    t.set_defaults(run=_run_tokenizer_train)


def _run_tokenizer_train(args) -> int:
    from .shards import find_files, iter_sample
    from .tokenizer import train_tokenizer
    files = find_files(args.inputs)
    tokenizer = train_tokenizer(iter_sample(files, args.sample_bytes), args.output,
                                args.vocab_size, args.min_frequency, progress=not args.quiet)
    print(f"tokenizer: {tokenizer.vocab_size:,} tokens -> {tokenizer.file}")
    return 0


def _add_pretrain(sub, command) -> None:
    p = command(sub, "pretrain", "Pretrain a model on cleaned shards (next-token prediction); "
                "re-run on the same RUN to resume. Multi-process: torchrun --nproc_per_node N "
                "$(which xiulian) pretrain ...",
                "xiulian pretrain --data out/shards --tokenizer tok -o run --preset tiny --max-steps 500")
    p.add_argument("--data", nargs="+", required=True, metavar="SHARDS",
                   help="Parquet shards (or .jsonl/.txt), files or folders")
    p.add_argument("--tokenizer", required=True, metavar="TOKDIR", help="folder with tokenizer.json")
    add_training_options(p)
    p.set_defaults(run=_run_pretrain)


def _run_pretrain(args) -> int:
    from .pretrain import pretrain
    result = pretrain(args.data, args.tokenizer, args.output, args.preset, args.config,
                      training_overrides(args), progress=not args.quiet)
    _print_result(result, args.quiet)
    return 0


def _print_result(result: dict, quiet: bool) -> None:
    if quiet:
        return
    line = f"step {result['step']}"
    if "val_loss" in result:
        line += f": validation loss {result['val_loss']:.4f}, perplexity {result['val_ppl']:.2f}"
    print(f"{line}; checkpoint in {result['run']}/checkpoint, curve in {result['run']}/loss.png")


def _add_sft(sub, command) -> None:
    p = command(sub, "sft", "Instruction fine-tuning (stage 2) from a checkpoint on Alpaca, messages or "
                "ShareGPT data (JSON/JSONL); the loss counts only the assistant's tokens.",
                "xiulian sft --init run --data alpaca_en.json oasst_zh.json -o sft --max-steps 500\n"
                "  xiulian sft --init run --data alpaca_zh.json -o lora --lora-rank 8")
    p.add_argument("--init", required=True, metavar="CKPT", help="checkpoint or run to start from")
    p.add_argument("--data", nargs="+", required=True, metavar="FILE", help="conversation files")
    add_training_options(p, default_preset=None)
    add_lora_options(p)
    p.set_defaults(run=_run_sft)


def add_lora_options(p) -> None:
    p.add_argument("--lora-rank", type=int, metavar="R", help="train LoRA adapters of rank R; base frozen")
    p.add_argument("--lora-alpha", type=float, metavar="A", help="LoRA scale numerator (default 2R)")
    p.add_argument("--lora-targets", nargs="+", metavar="NAME",
                   help="projections to adapt (default: q k v o gate up down)")


def lora_options(args) -> dict:
    return {"rank": args.lora_rank, "alpha": args.lora_alpha, "targets": args.lora_targets}


def _run_sft(args) -> int:
    from .sft import sft
    result = sft(args.init, args.data, args.output, args.config, training_overrides(args),
                 lora_options(args), progress=not args.quiet)
    _print_result(result, args.quiet)
    return 0


def _add_lora(sub, command) -> None:
    p = command(sub, "lora", "LoRA adapters: fold them into their base model.",
                "xiulian lora merge lora_run -o merged")
    lsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    m = command(lsub, "merge", "Fold a LoRA checkpoint's adapters into its base weights: a plain "
                "checkpoint that generates the same logits.", "xiulian lora merge lora_run -o merged")
    m.add_argument("checkpoint", metavar="CKPT", help="a LoRA checkpoint or run")
    m.add_argument("-o", "--output", required=True, metavar="OUT", help="checkpoint folder to write")
    m.set_defaults(run=_run_lora_merge)


def _run_lora_merge(args) -> int:
    from corpus.errors import UserError

    from .checkpoint import load_model, load_tokenizer, read_config, save
    from .lora import has_lora, merge_lora
    model = load_model(args.checkpoint)
    if not has_lora(model):
        raise UserError(f"{args.checkpoint} has no LoRA adapters to merge")
    merge_lora(model)
    config = {k: v for k, v in read_config(args.checkpoint).items() if k not in ("model", "lora")}
    print(f"merged into {save(args.output, model, load_tokenizer(args.checkpoint), config)}")
    return 0


def _add_chat(sub, command) -> None:
    p = command(sub, "chat", "Talk with a checkpoint in the terminal (multi-turn, streamed); "
                "/reset starts over, /quit or Ctrl-D leaves.",
                "xiulian chat sft --temperature 0.7")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint folder, or a run folder")
    p.add_argument("--system", help="a system message for the conversation")
    _add_sampling_options(p)
    p.set_defaults(run=_run_chat)


def _add_sampling_options(p, temperature: float = 0.8) -> None:
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=temperature, help="0 = greedy")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--device", default="cpu")


def _run_chat(args) -> int:
    import torch

    from .chat import prompt_ids, stop_ids
    from .checkpoint import load_model, load_tokenizer
    from .generation import stream_text, stream_tokens
    tokenizer = load_tokenizer(args.checkpoint)
    model = load_model(args.checkpoint, args.device).eval()
    generator = torch.Generator(device=args.device).manual_seed(args.seed)
    start = [{"role": "system", "content": args.system}] if args.system else []
    messages = list(start)
    while True:
        try:
            user = input("you> ")
        except EOFError:
            print()
            return 0
        if user.strip() in ("/quit", "/exit"):
            return 0
        if user.strip() == "/reset":
            messages = list(start)
            continue
        messages.append({"role": "user", "content": user})
        ids = prompt_ids(tokenizer, messages)
        if len(ids) >= model.config.max_seq_len:
            print(f"[the conversation fills the {model.config.max_seq_len}-token context; /reset]")
            messages.pop()
            continue
        sys.stdout.write("bot> ")
        reply = []
        tokens = stream_tokens(model, ids, args.max_new_tokens, args.temperature, args.top_k,
                               args.top_p, stop_ids(tokenizer), generator)
        for piece in stream_text(tokenizer, tokens):
            reply.append(piece)
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        messages.append({"role": "assistant", "content": "".join(reply)})


def _add_generate(sub, command) -> None:
    p = command(sub, "generate", "Continue a prompt with a checkpoint (KV-cache sampling).",
                "xiulian generate run --prompt 'The history of' --max-new-tokens 50 --temperature 0")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint folder, or a run folder")
    p.add_argument("--prompt", required=True, help="text to continue (with --chat: the user's message)")
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the chat template; print the reply")
    p.add_argument("--system", help="with --chat: a system message")
    _add_sampling_options(p)
    p.set_defaults(max_new_tokens=100)
    p.set_defaults(run=_run_generate)


def _run_generate(args) -> int:
    import torch

    from .chat import prompt_ids, stop_ids
    from .checkpoint import load_model, load_tokenizer
    from .generation import stream_text, stream_tokens
    tokenizer = load_tokenizer(args.checkpoint)
    model = load_model(args.checkpoint, args.device).eval()
    if args.chat:
        messages = ([{"role": "system", "content": args.system}] if args.system else [])
        ids = prompt_ids(tokenizer, messages + [{"role": "user", "content": args.prompt}])
    else:
        ids = tokenizer.encode(args.prompt) or [tokenizer.special.get("bos", tokenizer.eos_id)]
        sys.stdout.write(args.prompt)
    if len(ids) >= model.config.max_seq_len:
        from corpus.errors import UserError
        raise UserError(f"the prompt is {len(ids)} tokens; the model's context is {model.config.max_seq_len}")
    generator = torch.Generator(device=args.device).manual_seed(args.seed)
    tokens = stream_tokens(model, ids, args.max_new_tokens, args.temperature, args.top_k, args.top_p,
                           stop_ids(tokenizer), generator)
    for piece in stream_text(tokenizer, tokens):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def _add_eval(sub, command) -> None:
    p = command(sub, "eval", "Perplexity and bits per byte of a checkpoint on text.",
                "xiulian eval run --data ../wikitext-2/valid.txt")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint folder, or a run folder")
    p.add_argument("--data", nargs="+", required=True, metavar="FILES",
                   help="Parquet shards, .jsonl or .txt (one document per line)")
    p.add_argument("--max-tokens", type=int, default=1_000_000, help="evaluate at most this many tokens")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=_run_eval)


def _run_eval(args) -> int:
    import json

    from .evaluate import evaluate_files
    result = evaluate_files(args.checkpoint, args.data, args.max_tokens, args.batch_size, args.device)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['tokens']:,} tokens, {result['bytes']:,} bytes: loss {result['loss']:.4f}, "
              f"perplexity {result['perplexity']:.2f}, bits per byte {result['bits_per_byte']:.4f}")
    return 0


def _add_export(sub, command) -> None:
    p = command(sub, "export", "Export a checkpoint as a Hugging Face Llama model folder.",
                "xiulian export run --hf hf_model")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint folder, or a run folder")
    p.add_argument("--hf", required=True, metavar="DIR", help="output folder (LlamaForCausalLM + tokenizer)")
    p.set_defaults(run=_run_export)


def _run_export(args) -> int:
    from .hf import export_hf
    print(f"exported to {export_hf(args.checkpoint, args.hf)}")
    return 0


def _add_import(sub, command) -> None:
    p = command(sub, "import-hf", "Import a Llama-architecture Hugging Face model folder as a checkpoint.",
                "xiulian import-hf ~/models/TinyLlama -o tinyllama")
    p.add_argument("source", metavar="DIR", help="folder with config.json, *.safetensors, tokenizer.json")
    p.add_argument("-o", "--output", required=True, metavar="CKPT", help="checkpoint folder to write")
    p.set_defaults(run=_run_import)


def _run_import(args) -> int:
    from .hf import import_hf
    print(f"imported to {import_hf(args.source, args.output)}")
    return 0
