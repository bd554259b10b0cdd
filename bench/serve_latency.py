"""Latency and throughput of `xiulian serve` for the tiny model: requests/s with concurrent
clients, time to first token, request latency — with and without batching.

A random-init `tiny` preset (untied embeddings, so it writes text; weights do not change the
cost of a token) behind the real server in its own process; clients are threads using the
official `openai` client, streaming, so the time to the first content token is measured where a
user would see it. Every answer is greedy and exactly --max-tokens long (the random model never
emits its end-of-turn token), so each request costs the same. The table goes to the
"## Serving latency" section of docs/BENCHMARKS.md.

    .venv/bin/python bench/serve_latency.py [--requests 48] [--max-tokens 64] [--work /tmp/serve_latency]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from benchdocs import command, load_average, machine_line, versions, write_section  # noqa: E402

TEXT = ROOT.parent / "shared" / "data" / "text"
QUESTIONS = ["Name a colour.", "What is the capital of France?", "Write a line about the sea.",
             "介绍一下长城。", "Count to ten.", "Why is the sky blue?", "Say hello in three languages.",
             "写一首关于春天的短诗。"]


def make_checkpoint(work: Path) -> Path:
    """The tiny preset with a 8,192-token BPE trained on the shared prose (cached in --work)."""
    import torch

    from train.data.shards import find_files, iter_sample
    from train.model.checkpoint import save
    from train.model.tokenizer import Tokenizer, train_tokenizer
    from train.model.transformer import PRESETS, ModelConfig, Transformer
    checkpoint = work / "tiny"
    if (checkpoint / "model.safetensors").is_file():
        return checkpoint
    if not (work / "tok" / "tokenizer.json").is_file():
        files = find_files([str(TEXT / "zh_wikipedia_cmrc2018_contexts.jsonl"), str(TEXT / "c4_demo.jsonl")])
        train_tokenizer(iter_sample(files, 20_000_000), work / "tok", 8192, progress=False)
    torch.manual_seed(0)
    model = Transformer(ModelConfig(**PRESETS["tiny"], tie_embeddings=False))
    return save(checkpoint, model, Tokenizer(work / "tok"))


def start_server(checkpoint: Path, max_batch: int) -> tuple[subprocess.Popen, int]:
    """The same code path as `xiulian serve CKPT --device cpu --max-batch N`, in its own process."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    code = ("import sys; from train.serve import serve; "
            "serve(sys.argv[1], port=int(sys.argv[2]), device='cpu', max_batch=int(sys.argv[3]))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(checkpoint), str(port), str(max_batch)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port


def wait_ready(client, proc) -> str:
    import openai
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit("the server exited")
        try:
            return client.models.list().data[0].id
        except openai.APIConnectionError:
            time.sleep(0.1)
    sys.exit("the server did not start")


def one_request(client, model: str, question: str, max_tokens: int) -> dict:
    start = time.perf_counter()
    first = None
    tokens = 0
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                            max_tokens=max_tokens, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - start
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    return {"ttft": first if first is not None else float("nan"), "latency": time.perf_counter() - start,
            "tokens": tokens}


def run_load(client, model: str, clients: int, requests: int, max_tokens: int) -> dict:
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(requests)]
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda q: one_request(client, model, q, max_tokens), questions))
    wall = time.perf_counter() - start
    return {"wall": wall, "results": results}


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def summary(rows: list[tuple]) -> str:
    """The headline: batching against a plain queue at the most clients measured."""
    most = max(r[1] for r in rows)
    at_most = sorted((r for r in rows if r[1] == most), key=lambda r: r[0])
    text = ("With one client there is nothing to batch. With many, one batched step costs little "
            "more than one request's step, so throughput grows with the clients, while a plain "
            "queue makes each request wait for all those ahead of it.")
    if len(at_most) > 1:
        queue_row, batch_row = at_most[0], at_most[-1]
        text += (f" At {most} clients, `--max-batch {batch_row[0]}` serves "
                 f"{batch_row[3] / queue_row[3]:.1f}× the requests/s of `--max-batch {queue_row[0]}`, and "
                 f"the median time to first token falls from {queue_row[5]:.0f} ms to {batch_row[5]:.0f} ms.")
    return text + " For GPUs and larger models, see docs/serving.md (vLLM on the HF export)."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=48, help="requests per row")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-batch", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--work", type=Path, default=Path("/tmp/serve_latency"))
    parser.add_argument("--no-docs", action="store_true", help="print only; leave BENCHMARKS.md alone")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    import openai
    import torch
    args.work.mkdir(parents=True, exist_ok=True)
    checkpoint = make_checkpoint(args.work)
    rows = []
    for max_batch in args.max_batch:
        proc, port = start_server(checkpoint, max_batch)
        try:
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0)
            model = wait_ready(client, proc)
            run_load(client, model, 2, 4, args.max_tokens)  # warm-up
            for clients in args.clients:
                load = run_load(client, model, clients, args.requests, args.max_tokens)
                ttft = [r["ttft"] * 1000 for r in load["results"]]
                latency = [r["latency"] * 1000 for r in load["results"]]
                tokens = sum(r["tokens"] for r in load["results"])
                row = (max_batch, clients, args.requests, args.requests / load["wall"], tokens / load["wall"],
                       statistics.median(ttft), percentile(ttft, 0.9), statistics.median(latency),
                       percentile(latency, 0.9))
                rows.append(row)
                print("max-batch {} clients {:>2}: {} requests, {:.1f} req/s, {:.0f} tokens/s, TTFT median "
                      "{:.0f} ms p90 {:.0f} ms, latency median {:.0f} ms p90 {:.0f} ms".format(*row), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    table = ["| --max-batch | clients | requests | requests/s | tokens/s | TTFT median ms | TTFT p90 ms "
             "| latency median ms | latency p90 ms |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    table += ["| {} | {} | {} | {:.1f} | {:.0f} | {:.0f} | {:.0f} | {:.0f} | {:.0f} |".format(*r) for r in rows]
    section = "\n".join([
        "## Serving latency", "",
        f"`xiulian serve` on CPU with the `tiny` preset (128 dim, 4 layers, 256-token context, untied "
        f"8,192-token vocabulary, random weights), {args.requests} streamed chat requests per row, each "
        f"answer greedy and exactly {args.max_tokens} tokens; clients are threads using the official "
        "`openai` client, each sending its next request when the last one ends. TTFT = time to the "
        "first content token as the client sees it; latency = the whole streamed answer. "
        "`--max-batch 1` decodes one request at a time (a plain queue); higher values decode every "
        "request in flight together, one token each per step, requests joining and leaving between "
        f"steps. Measured {time.strftime('%Y-%m-%d %H:%M')} on {machine_line()}, "
        f"{versions(['torch', 'openai'])}, {torch.get_num_threads()} torch threads, load ≈ "
        f"{load_average()} at the end (the machine is shared, so figures move by ±20 %).", "",
        f"Command: `{command(__file__, argv)}`", "", *table, "",
        summary(rows),
    ])
    if not args.no_docs:
        write_section("## Serving latency", section)
    print(section)


if __name__ == "__main__":
    main()
