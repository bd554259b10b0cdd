"""`xiulian serve` (the OpenAI chat-completions API) and `xiulian arena` (a page for judging two
answers). Registered by train/cli.py; torch and FastAPI are imported only when one runs."""
from __future__ import annotations


def add_parsers(sub, command) -> None:
    _add_serve(sub, command)
    _add_arena(sub, command)


def _add_serve(sub, command) -> None:
    p = command(sub, "serve", "Serve a checkpoint over the OpenAI chat-completions API "
                "(POST /v1/chat/completions, streaming or not; GET /v1/models), batching "
                "concurrent requests. See docs/serving.md.",
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
    from .serve import serve
    serve(args.checkpoint, args.host, args.port, args.model_name, args.api_key, args.device,
          args.max_batch)
    return 0


def _add_arena(sub, command) -> None:
    p = command(sub, "arena", "Compare two sampled answers per prompt in a local web page (keys: "
                "1 A better, 2 B better, 3 tie, 4 both bad, s skip) and append each judgement to "
                "a preference file that `xiulian reward` and `xiulian dpo` read. Restarting "
                "skips prompts already judged.",
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
