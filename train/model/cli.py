"""`xiulian tokenizer train`, `lora merge`, `export` and `import-hf`: commands on a model's files.
Registered by train/cli.py; torch is imported only inside the command that runs."""
from __future__ import annotations


def add_tokenizer_parser(sub, command) -> None:
    """`xiulian tokenizer` comes first in the help: the road starts with it."""
    _add_tokenizer(sub, command)


def add_parsers(sub, command) -> None:
    _add_lora(sub, command)
    _add_hf(sub, command)


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
    from train.data.shards import find_files, iter_sample

    from .tokenizer import train_tokenizer
    files = find_files(args.inputs)
    tokenizer = train_tokenizer(iter_sample(files, args.sample_bytes), args.output,
                                args.vocab_size, args.min_frequency, progress=not args.quiet)
    print(f"tokenizer: {tokenizer.vocab_size:,} tokens -> {tokenizer.file}")
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


def _add_hf(sub, command) -> None:
    """`export` and `import-hf`: a checkpoint to a Hugging Face Llama folder, and back."""
    e = command(sub, "export", "Export a checkpoint as a Hugging Face Llama model folder.",
                "xiulian export run --hf hf_model")
    e.add_argument("checkpoint", metavar="CKPT", help="checkpoint folder, or a run folder")
    e.add_argument("--hf", required=True, metavar="DIR", help="output folder (LlamaForCausalLM + tokenizer)")
    e.set_defaults(run=lambda args: _convert("export_hf", args.checkpoint, args.hf, "exported to"))
    i = command(sub, "import-hf", "Import a Llama-architecture Hugging Face model folder as a checkpoint.",
                "xiulian import-hf ~/models/TinyLlama -o tinyllama")
    i.add_argument("source", metavar="DIR", help="folder with config.json, *.safetensors, tokenizer.json")
    i.add_argument("-o", "--output", required=True, metavar="CKPT", help="checkpoint folder to write")
    i.set_defaults(run=lambda args: _convert("import_hf", args.source, args.output, "imported to"))


def _convert(function: str, source: str, target: str, done: str) -> int:
    from . import hf
    print(f"{done} {getattr(hf, function)(source, target)}")
    return 0
