"""`xiulian serve` (the OpenAI chat-completions API), `xiulian arena` (a page for judging two
answers), `xiulian chat` and `xiulian generate` (a checkpoint in the terminal). Registered by
train/cli.py; torch and FastAPI are imported only when one runs."""
from __future__ import annotations

import sys

from train.core.config import add_sampling_options


SERVE_HELP = """Serve a checkpoint over the OpenAI chat-completions API (POST /v1/chat/completions, streaming or
not; GET /v1/models), batching concurrent requests. See docs/serving.md."""

ARENA_HELP = """Compare two sampled answers per prompt in a local web page (keys: 1 A better, 2 B better, 3 tie,
4 both bad, s skip) and append each judgement to a preference file that `xiulian reward` and
`xiulian dpo` read. Restarting skips prompts already judged."""


def add_parsers(sub, command) -> None:
    _add_chat(sub, command)
    _add_generate(sub, command)
    _add_serve(sub, command)
    _add_arena(sub, command)


def _add_serve(sub, command) -> None:
    p = command(sub, "serve", SERVE_HELP,
                "xiulian serve runs/sft --port 8000\n"
                "  curl localhost:8000/v1/chat/completions -H 'Content-Type: application/json' \\\n"
                "    -d '{\"model\": \"sft\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}'")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint folder, or a run folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model-name", metavar="NAME",
                   help="the model's id for clients (default: the run folder's name)")
    p.add_argument("--api-key", metavar="TOKEN",
                   help="require `Authorization: Bearer TOKEN` (default: no key needed)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when there is one)")
    p.add_argument("--max-batch", type=int, default=8, metavar="N",
                   help="most requests decoded together in one step")
    p.set_defaults(run=_run_serve)


def _run_serve(args) -> int:
    from .chat_model import serve
    serve(args.checkpoint, args.host, args.port, args.model_name, args.api_key, args.device,
          args.max_batch)
    return 0


def _add_arena(sub, command) -> None:
    p = command(sub, "arena", ARENA_HELP,
                "xiulian arena runs/sft --prompts prompts.jsonl -o prefs.jsonl\n"
                "  xiulian arena runs/sft runs/dpo --prompts prompts.txt -o prefs.jsonl --port 8002")
    p.add_argument("checkpoints", nargs="+", metavar="CKPT",
                   help="one checkpoint (sampled twice) or two (one answer each)")
    p.add_argument("--prompts", required=True, metavar="FILE",
                   help=".jsonl/.json with `prompt`, `instruction` (+ `input`) or `messages`; "
                        "or .txt, one prompt a line")
    p.add_argument("-o", "--output", required=True, metavar="PREFS.jsonl",
                   help="preference pairs are appended here; ties and both-bad to PREFS.ties.jsonl")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8001)
    p.add_argument("--max-tokens", type=int, default=256, help="longest answer, in tokens")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=0, help="seeds the sampling and the sides")
    p.add_argument("--device", help="cpu, cuda (default: CUDA when there is one)")
    p.set_defaults(run=_run_arena)


def _run_arena(args) -> int:
    from corpus.errors import UserError

    from .arena import run_arena
    if len(args.checkpoints) > 2:
        raise UserError("name one checkpoint (sampled twice) or two (one answer each)")
    if args.max_tokens < 1:
        raise UserError("--max-tokens must be at least 1")
    run_arena(args.checkpoints, args.prompts, args.output, args.host, args.port, args.max_tokens,
              args.temperature, args.top_p, args.seed, args.device)
    return 0


def _add_chat(sub, command) -> None:
    p = command(sub, "chat", "Talk with a checkpoint in the terminal (multi-turn, streamed); "
                "/reset starts over, /quit or Ctrl-D leaves.",
                "xiulian chat sft --temperature 0.7")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint folder, or a run folder")
    p.add_argument("--system", help="a system message for the conversation")
    add_sampling_options(p)
    p.set_defaults(run=_run_chat)


def _run_chat(args) -> int:
    import torch

    from train.model.chat_template import prompt_ids, stop_ids
    from train.model.checkpoint import load_model, load_tokenizer
    from train.model.generation import stream_text, stream_tokens
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
    add_sampling_options(p)
    p.set_defaults(max_new_tokens=100)
    p.set_defaults(run=_run_generate)


def _run_generate(args) -> int:
    import torch

    from train.model.chat_template import prompt_ids, stop_ids
    from train.model.checkpoint import load_model, load_tokenizer
    from train.model.generation import stream_text, stream_tokens
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
