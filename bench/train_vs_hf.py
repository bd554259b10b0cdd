"""Training throughput: our `Transformer` vs transformers' `LlamaForCausalLM`, same architecture.

    .venv/bin/python bench/train_vs_hf.py                  # 3 settings x 2 allocators, ~5 minutes on 2 cores
    .venv/bin/python bench/train_vs_hf.py --quiet-wait 900 # on a shared machine: start each on a calm one
    .venv/bin/python bench/train_vs_hf.py --steps 40 --settings fp32
    .venv/bin/python bench/train_vs_hf.py --device cuda --batch 32 --seq 1024

The HF model is built from our config (as tests/test_model_hf_parity.py does) and loaded with our
weights; the script first asserts equal logits, so both sides compute the same function. Each
timed unit is a whole training step: forward, loss (mean cross-entropy over every position),
backward, fused AdamW step, zero_grad. Same batch, same dtype, same optimizer, same thread count.
Each model runs in its own process; the two step in turn (the order swapped every round), so a
burst of load on a shared machine hits both; tokens/s is the median over the timed steps.

Settings: fp32 (eager, float32 throughout); bf16 (eager, `torch.autocast(bfloat16)` around forward
and loss: the trainer's `--dtype bf16`); bf16+compile (the same, both models `torch.compile`d).

Allocator: the one thing a process does beside its model. Our trainer tells glibc to keep freed
memory (train/kernels/allocator.py); a plain transformers/Trainer process keeps glibc's default. "shipped"
compares each as it runs by default; "same" gives HF's process our setting too, so only the models
differ.

MFU = tokens/s * `flops_per_token(seq)` / `train.kernels.flops.measured_peak_flops` for that dtype.
Writes the "## Training throughput vs Hugging Face" section of docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchdocs import machine_line, versions, write_section  # noqa: E402

from train.kernels.allocator import retain_freed_memory  # noqa: E402
from train.kernels.flops import measured_peak_flops, mfu  # noqa: E402
from train.model.transformer import ModelConfig, Transformer  # noqa: E402

SECTION = "## Training throughput vs Hugging Face"
ENVIRONMENTS = ("shipped", "same")
RETAINS = "keeps freed memory"
ENVIRONMENT_LABELS = {"shipped": {"ours": f"as shipped: {RETAINS}", "hf": "as shipped: glibc default"},
                      "same": {"ours": f"same: {RETAINS}", "hf": f"same: {RETAINS}"}}
SETTINGS = {"fp32": (None, False), "bf16": (torch.bfloat16, False), "bf16+compile": (torch.bfloat16, True)}


def hf_twin(ours: Transformer):
    """LlamaForCausalLM with our architecture and our weights (the parity test's mapping)."""
    import transformers
    c = ours.config
    hf_config = transformers.LlamaConfig(
        vocab_size=c.vocab_size, hidden_size=c.dim, intermediate_size=c.hidden_dim,
        num_hidden_layers=c.n_layers, num_attention_heads=c.n_heads,
        num_key_value_heads=c.n_kv_heads, max_position_embeddings=c.max_seq_len,
        rope_theta=c.rope_theta, rms_norm_eps=c.norm_eps, tie_word_embeddings=c.tie_embeddings,
        attention_bias=False, mlp_bias=False)
    hf = transformers.LlamaForCausalLM(hf_config)
    state = {("lm_head.weight" if k == "lm_head.weight" else f"model.{k}"): v
             for k, v in ours.state_dict().items()}
    missing, unexpected = hf.load_state_dict(state, strict=False)
    assert not unexpected and all("rotary" in m for m in missing), (missing, unexpected)
    return hf


def assert_same_function(ours, hf, idx: torch.Tensor) -> float:
    ours.eval(), hf.eval()
    with torch.no_grad():
        a, b = ours(idx), hf(idx).logits
    ours.train(), hf.train()
    gap = (a - b).abs().max().item()
    assert gap < 1e-4, f"logits differ by {gap}: not the same model"
    return gap


def ours_loss(model, inputs, targets):
    return model(inputs, targets=targets)[1]


def hf_loss(model, inputs, targets):
    # shift_labels: HF's loss takes the targets as given, so both average over the same positions.
    return model(input_ids=inputs, labels=targets, shift_labels=targets).loss


def training_step(model, loss_fn, device: torch.device, autocast: torch.dtype | None):
    # Fused AdamW on both sides: what our trainer uses (train.core.loop.make_optimizer) and what HF's
    # Trainer uses by default (optim="adamw_torch_fused" with torch >= 2.8).
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, fused=True)

    def step(inputs, targets) -> float:
        with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
            loss = loss_fn(model, inputs, targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss
    return step


def timed(step, inputs, targets, device) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of one step."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start, cpu = time.perf_counter(), time.process_time()
    loss = step(inputs, targets)
    float(loss.detach())  # waits for the step on any device
    sync()
    return time.perf_counter() - start, time.process_time() - cpu


MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::_addmm_activation", "mkldnn::_linear_pointwise",
              "aten::mkldnn_linear", "aten::_mkl_linear")


def time_split(step, inputs, targets, steps: int = 3) -> dict:
    """Milliseconds per step in matmuls, attention, the optimizer and everything else (torch
    profiler, CPU self time). Matmuls and attention are the floor: the same kernels on both sides."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]):  # a process's first profile pays start-up
        step(inputs, targets)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step(inputs, targets)
    split = dict.fromkeys(("matmul", "attention", "optimizer", "other"), 0.0)
    for event in prof.events():
        parent, in_optimizer = event.cpu_parent, False
        while parent is not None and not in_optimizer:
            in_optimizer, parent = parent.name.startswith("Optimizer.step"), parent.cpu_parent
        kind = ("optimizer" if in_optimizer or event.name.startswith("Optimizer.step") else
                "matmul" if event.name in MATMUL_OPS else
                "attention" if "scaled_dot_product" in event.name or "flash_attention" in event.name else "other")
        split[kind] += event.self_cpu_time_total / 1e3 / steps
    return split


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has been busy (/proc/stat); None where there is no /proc."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except OSError:
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def wait_for_quiet(max_wait_s: float, threshold: float = 0.1) -> None:
    """On a shared machine: wait (at most max_wait_s) for 5 s in which other processes use
    under `threshold` of the cores, so a setting starts on a calm one."""
    deadline = time.monotonic() + max_wait_s
    while time.monotonic() < deadline:
        before, own = machine_busy_seconds(), time.process_time()
        time.sleep(5)
        after = machine_busy_seconds()
        if before is None or after is None:
            return
        if (after - before) - (time.process_time() - own) < threshold * 5 * os.cpu_count():
            return


def side_worker(conn, side: str, setting: str, config: ModelConfig, args, retain: bool) -> None:
    """One model in its own process (so its allocator settings are its own), stepping on request.
    Both workers build the same weights from the same seed and train on the same batch."""
    if retain:
        retain_freed_memory()  # as train.core.loop.Trainer does on a CPU
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    autocast, compile_ = SETTINGS[setting]
    torch.manual_seed(0)
    ours = Transformer(config)
    model = (ours if side == "ours" else hf_twin(ours)).to(device)
    inputs, targets = (t.to(device) for t in benchmark_batch(config, args))
    step = training_step(torch.compile(model) if compile_ else model,
                         ours_loss if side == "ours" else hf_loss, device, autocast)
    start = time.perf_counter()
    for _ in range(args.warmup):  # the first step of a compiled model compiles it
        timed(step, inputs, targets, device)
    conn.send(time.perf_counter() - start)
    while (request := conn.recv()) != "stop":
        conn.send(timed(step, inputs, targets, device) if request == "step"
                  else time_split(step, inputs, targets))


def benchmark_batch(config: ModelConfig, args) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    batch = torch.randint(0, config.vocab_size, (args.batch, args.seq + 1), generator=g)
    return batch[:, :-1].contiguous(), batch[:, 1:].contiguous()


def run_comparison(setting: str, environment: str, config: ModelConfig, flops: int, args, device) -> dict:
    """Time ours and HF in two processes, one step each in turn (the order swapped every round),
    so a burst of load on a shared machine hits both. `environment` says whose allocator keeps
    freed memory: "shipped" as each library runs by default (ours yes, HF no), "same" both."""
    ctx = multiprocessing.get_context("spawn")
    pipes, workers = {}, []
    for side in ("ours", "hf"):
        pipes[side], child = ctx.Pipe()
        retain = side == "ours" or environment == "same"
        workers.append(ctx.Process(target=side_worker, args=(child, side, setting, config, args, retain)))
        workers[-1].start()
    try:
        warmup_s = {side: conn.recv() for side, conn in pipes.items()}
        runs = {"ours": [], "hf": []}
        busy_before, wall_before = machine_busy_seconds(), time.perf_counter()
        own_before = time.process_time()
        for i in range(args.steps):
            for side in (("ours", "hf") if i % 2 == 0 else ("hf", "ours")):
                pipes[side].send("step")
                runs[side].append(pipes[side].recv())
        busy_after, wall = machine_busy_seconds(), time.perf_counter() - wall_before
        splits = {}
        if device.type == "cpu" and args.profile:
            for side, conn in pipes.items():
                conn.send("split")
                splits[side] = conn.recv()
        for conn in pipes.values():
            conn.send("stop")
    finally:
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():
                worker.kill()
    others = None  # share of the machine's cores that other processes used meanwhile
    if busy_before is not None and busy_after is not None:
        workers_cpu = sum(c for _, c in runs["ours"]) + sum(c for _, c in runs["hf"])
        others = ((busy_after - busy_before) - workers_cpu - (time.process_time() - own_before)) / (wall * os.cpu_count())
    autocast = SETTINGS[setting][0]
    tokens = args.batch * args.seq
    peak = measured_peak_flops(device, autocast or torch.float32)  # measured by main, first
    out = {"setting": setting, "environment": environment, "peak": peak, "flops_per_token": flops,
           "others_busy": others}
    for side, steps in runs.items():
        tps = [tokens / wall_s for wall_s, _ in steps]
        q1, _, q3 = statistics.quantiles(tps, n=4)
        out[side] = {"tokens_per_s": statistics.median(tps), "q1": q1, "q3": q3, "min": min(tps),
                     "max": max(tps), "mfu": mfu(statistics.median(tps), flops, peak),
                     "warmup_s": warmup_s[side]}
        if side in splits:
            out[side]["split"] = splits[side]
    # Each round's two steps ran back to back, so load from other work hits both: the median of
    # the per-round ratios is steadier than the ratio of the medians.
    out["ratio"] = statistics.median(h[0] / o[0] for o, h in zip(runs["ours"], runs["hf"]))
    out["best_ratio"] = out["ours"]["max"] / out["hf"]["max"]
    return out


def report(args, config: ModelConfig, n_params: int, gap: float, results: list[dict], device) -> str:
    command = "python bench/train_vs_hf.py" + "".join(
        f" --{k} {v}" for k, v in (("steps", args.steps), ("warmup", args.warmup),
                                   ("threads", args.threads), ("device", args.device),
                                   ("batch", args.batch), ("seq", args.seq))) + (
        "" if args.settings == list(SETTINGS) else " --settings " + " ".join(args.settings)) + (
        "" if args.environments == list(ENVIRONMENTS) else " --environments " + " ".join(args.environments)) + (
        f" --quiet-wait {args.quiet_wait:g}" if args.quiet_wait else "")
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"{machine_line()}, {args.threads} threads")
    lines = [SECTION, "",
             f"Measured {time.strftime('%Y-%m-%d')} on {where}, "
             f"{versions(['torch', 'transformers'])}. Command: `.venv/bin/{command}`.", "",
             f"Model: vocab {config.vocab_size}, dim {config.dim}, {config.n_layers} layers, "
             f"{config.n_heads} heads, {config.n_kv_heads} KV heads, SwiGLU {config.hidden_dim}, "
             f"tied embeddings {config.tie_embeddings}; {n_params / 1e6:.2f} M parameters. Batch "
             f"{args.batch} x {args.seq} tokens. One step = forward, cross-entropy, backward, fused AdamW "
             f"step, zero_grad; {args.steps} timed steps per model after {args.warmup} warm-up steps, "
             "ours and HF alternating, each in its own process. Logits of the two models agree "
             f"within {gap:.1e} before timing.", "",
             "| setting | allocator | model | tokens/s (median) | interquartile range | best step | ours / HF (paired median, best steps) "
             "| MFU (median) | measured peak | other load |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        for side, label in (("ours", "xiulian `Transformer`"), ("hf", "HF `LlamaForCausalLM`")):
            s = r[side]
            others = "" if r["others_busy"] is None or side == "hf" else f"{max(0.0, r['others_busy']):.0%}"
            lines.append(f"| {r['setting']} | {ENVIRONMENT_LABELS[r['environment']][side]} | {label} | {s['tokens_per_s']:,.0f} | {s['q1']:,.0f}-{s['q3']:,.0f} | "
                         f"{s['max']:,.0f} | "
                         + (f"**{r['ratio']:.2f}x**, {r['best_ratio']:.2f}x" if side == "ours" else "")
                         + f" | {s['mfu']:.1%} | {r['peak'] / 1e9:,.0f} GFLOP/s | {others} |")
    lines += split_table(results)
    lines += ["",
              f"- MFU = tokens/s x {results[0]['flops_per_token'] / 1e6:.1f} MFLOP per token "
              "(`Transformer.flops_per_token`: 6 per matmul weight, the untied input embedding being "
              "a lookup, plus attention) / the peak that `train.kernels.flops.measured_peak_flops` times for "
              "the setting's matmul dtype (fp32, or bf16 under autocast) with the same thread count.",
              "- bf16 settings: `torch.autocast(bfloat16)` over forward and loss (weights and AdamW "
              "state stay fp32); +compile: `torch.compile(model)` with default options for both "
              "models" + "".join(f"; warm-up (compiling, or loading inductor's on-disk cache) with the "
                                 f"{r['environment']} allocator {r['ours']['warmup_s']:.0f} s (ours) "
                                 f"and {r['hf']['warmup_s']:.0f} s (HF)"
                                 for r in results if r["setting"].endswith("compile")) + ".",
              "- *other load*: the share of the machine's cores that other processes used while the "
              "setting's steps were timed (from /proc/stat); with 2 shared cores, anything above a few "
              "% slows both models and widens the spread, so compare ours and HF within a row pair.",
              "- *allocator*: *as shipped* runs each model the way its library runs it by default: "
              "our trainer tells glibc to keep freed memory (`train/kernels/allocator.py`, which `Trainer` "
              "calls on a CPU), a transformers process keeps glibc's default, which returns every "
              "block over 32 MB to the kernel on free and faults it in again on the next step. "
              "*same* gives HF's process our setting too, so the two rows differ only by model.",
              "- Where the difference comes from: both models run the same matmuls, the same SDPA "
              "kernel (with GQA) and the same fused AdamW, which are most of a step. In eager mode "
              "our model does RMSNorm, SwiGLU, the rotary split of q/k/v and the cross-entropy in "
              "fused fp32 kernels, one pass per row (`train/kernels/cpu_kernels.c`, compiled for the machine "
              "on first use), where PyTorch's ops make several passes over memory each: that is the "
              "fp32 lead with the same allocator. The cross-entropy kernel also takes bf16 logits "
              "and is a custom op that compiled models call as well (inductor fuses the rest alike "
              "for both models), and under bf16 autocast RMSNorm on the fp32 residual stream takes "
              "its kernel too. As shipped, the allocator adds to it: a step re-allocates its "
              "(tokens, vocab) logits and their gradient, so with glibc's default each step pays the "
              "page faults of a fresh 30-70 MB tensor several times.",
              "- HF is called as `model(input_ids=x, labels=y, shift_labels=y)`, so its loss averages "
              "over the same positions as ours; HF uses its default SDPA attention (with `enable_gqa`).",
              ""]
    return "\n".join(lines)


def split_table(results: list[dict]) -> list[str]:
    """Where each model's step goes, and the most a faster 'everything else' could give ours."""
    rows = [r for r in results if "split" in r["ours"]]
    if not rows:
        return []
    lines = ["", "Where a step's time goes (ms per step; torch profiler, CPU self time over 3 steps, "
             "which adds some overhead). *Ceiling* is HF's step over ours with everything but the "
             "matmuls, attention and AdamW taking no time: the most any rewrite of the rest could reach.",
             "", "| setting | allocator | model | matmuls | attention | AdamW | everything else | ceiling of ours / HF |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        total_hf = sum(r["hf"]["split"].values())
        floor = sum(r["ours"]["split"][k] for k in ("matmul", "attention", "optimizer"))
        for side, label in (("ours", "xiulian"), ("hf", "HF")):
            t = r[side]["split"]
            lines.append(f"| {r['setting']} | {ENVIRONMENT_LABELS[r['environment']][side]} | {label} | {t['matmul']:.0f} | {t['attention']:.0f} | "
                         f"{t['optimizer']:.0f} | {t['other']:.0f} | "
                         + (f"{total_hf / floor:.2f}x" if side == "ours" else "") + " |")
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30, help="timed steps per model and setting")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    ap.add_argument("--environments", nargs="+", choices=ENVIRONMENTS, default=list(ENVIRONMENTS),
                    help="shipped: each library's default allocator (ours keeps freed memory, HF's "
                         "glibc default does not); same: both keep it, so only the models differ")
    ap.add_argument("--quiet-wait", type=float, default=0, metavar="SECONDS",
                    help="before each setting, wait up to this long for other processes to go quiet")
    ap.add_argument("--profile", action=argparse.BooleanOptionalAction, default=False,
                    help="after timing, profile 3 steps per model: where a step's time goes (CPU). "
                         "Off by default: the profiler's own allocations move 'everything else' by "
                         "tens of ms between runs, more than the differences it is meant to show")
    ap.add_argument("--no-docs", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    config = ModelConfig(vocab_size=8192, dim=256, n_layers=4, n_heads=4, n_kv_heads=2,
                         max_seq_len=args.seq, tie_embeddings=False)
    torch.manual_seed(0)
    ours = Transformer(config)
    n_params = ours.num_params()
    gap = assert_same_function(ours, hf_twin(ours), benchmark_batch(config, args)[0][:2])
    for dtype in {SETTINGS[name][0] or torch.float32 for name in args.settings}:
        wait_for_quiet(args.quiet_wait)
        measured_peak_flops(device, dtype, repeats=5)  # cached for the settings below
    results = []
    for name, environment in itertools.product(args.settings, args.environments):
        wait_for_quiet(args.quiet_wait)
        r = run_comparison(name, environment, config, ours.flops_per_token(args.seq), args, device)
        results.append(r)
        print(f"{name}, {environment}: ours {r['ours']['tokens_per_s']:,.0f} tok/s, HF {r['hf']['tokens_per_s']:,.0f} "
              f"tok/s, ratio {r['ratio']:.2f}x (best steps {r['best_ratio']:.2f}x), MFU "
              f"{r['ours']['mfu']:.1%} vs {r['hf']['mfu']:.1%}, other load {r['others_busy'] or 0:.0%}", flush=True)
    section = report(args, config, n_params, gap, results, device)
    print(section)
    if not args.no_docs:
        write_section(SECTION, section)


if __name__ == "__main__":
    main()
