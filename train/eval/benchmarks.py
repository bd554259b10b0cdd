"""`xiulian eval --tasks`: benchmark scores of a checkpoint, as lm-evaluation-harness computes them.

Multiple choice (HellaSwag, ARC, MMLU, CMMLU): each choice's log-likelihood given the prompt;
`acc` picks the highest sum, `acc_norm` the highest sum per character of the choice (the
harness's definition: the choice as `doc_to_choice` gives it, without the space before it).
GSM8K: greedy generation until "Question:", then the harness's two answer extractions: the
number after "####" (`exact_match_strict`) and the last number in the answer (`exact_match`).
Standard errors are the harness's too: the sample standard deviation over items / sqrt(n).

`--limit N` keeps the first N items of each subject (MMLU, CMMLU) or of the file, as the
harness's `--limit` does per subtask; few-shot examples always come from the whole file.
"""
from __future__ import annotations

import json
import math
import re
import sys
import time
from collections import defaultdict

from .benchmark_tasks import TASKS, Doc, fewshot_context, load_docs, task_file
from .loglikelihood import encode_as_harness, encode_pairs, loglikelihoods


def evaluate_tasks(ckpt: str, names: list[str], files: dict[str, str] | None = None,
                   limit: int | None = None, shots: int | None = None, batch_size: int = 32,
                   device: str = "cpu", progress: bool = True, samples: str | None = None) -> dict:
    """Score a checkpoint (ours, or an HF model brought in by import-hf) on each named task.
    Every task's file is read and checked before the model is loaded."""
    from train.model.checkpoint import load_model, load_tokenizer
    prepared = {}
    for name in names:
        path = task_file(name, files or {})
        prepared[name] = (path, load_docs(name, path))
    tokenizer = load_tokenizer(ckpt)
    model = load_model(ckpt, device).eval()
    results, logged = {}, []
    for name, (path, docs) in prepared.items():
        k = TASKS[name].default_shots if shots is None else shots
        chosen = first_items(docs, limit)
        started = time.perf_counter()
        if TASKS[name].kind == "multiple_choice":
            metrics, items = _multiple_choice(model, tokenizer, name, docs, chosen, k, batch_size, progress)
        else:
            metrics, items = _generate(model, tokenizer, name, docs, chosen, k, batch_size, progress)
        seconds = time.perf_counter() - started
        results[name] = {"n": len(chosen), "shots": k, "file": path, **metrics,
                         "seconds": round(seconds, 2), "items_per_second": round(len(chosen) / seconds, 2)}
        logged += [{"task": name, **item} for item in items]
    if samples:
        with open(samples, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(item, ensure_ascii=False) + "\n" for item in logged)
    return {"checkpoint": str(ckpt), "tasks": results}


def first_items(docs: list[Doc], limit: int | None) -> list[Doc]:
    if limit is None:
        return docs
    taken: dict[str, int] = defaultdict(int)
    chosen = []
    for doc in docs:
        if taken[doc.subject] < limit:
            taken[doc.subject] += 1
            chosen.append(doc)
    return chosen


def _pools(docs: list[Doc]) -> dict[str, list[Doc]]:
    pools: dict[str, list[Doc]] = defaultdict(list)
    for doc in docs:
        pools[doc.subject].append(doc)
    return pools


def _bar(total: int, name: str, unit: str, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, desc=name, unit=unit, disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def _multiple_choice(model, tokenizer, name, docs, chosen, shots, batch_size, progress):
    pools = _pools(docs) if shots else {}
    pairs = []
    for doc in chosen:
        context = fewshot_context(doc, pools.get(doc.subject, []), shots)
        pairs += [(context, " " + choice) for choice in doc.choices]
    requests = encode_pairs(tokenizer, pairs)
    with _bar(len(requests), name, " choice", progress) as bar:
        scores = loglikelihoods(model, requests, batch_size, bar.update)
    hits, hits_norm, items, at = [], [], [], 0
    for index, doc in enumerate(chosen):
        mine = scores[at:at + len(doc.choices)]
        at += len(doc.choices)
        pick = _argmax(mine)
        pick_norm = _argmax([s / len(c) for s, c in zip(mine, doc.choices)])
        hits.append(float(pick == doc.gold))
        hits_norm.append(float(pick_norm == doc.gold))
        items.append({"index": index, "subject": doc.subject, "gold": doc.gold, "pred": pick,
                      "pred_norm": pick_norm, "loglikelihoods": mine})
    return {**_metric("acc", hits), **_metric("acc_norm", hits_norm)}, items


def _argmax(values: list[float]) -> int:
    """The first index of the largest value (numpy's argmax, which the harness uses)."""
    return max(range(len(values)), key=lambda i: (values[i], -i))


def _metric(name: str, values: list[float]) -> dict:
    n = len(values)
    mean = sum(values) / n
    if n > 1:
        stderr = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) / math.sqrt(n)
    else:
        stderr = None
    return {name: mean, f"{name}_stderr": stderr}


def _generate(model, tokenizer, name, docs, chosen, shots, batch_size, progress):
    from train.serve.engine import Engine, Job
    task = TASKS[name]
    pools = _pools(docs) if shots else {}
    limit = model.config.max_seq_len
    new_tokens = min(256, limit // 2)   # the harness's max_gen_toks, within a small context
    stops = {tokenizer.eos_id} | {tokenizer.special[k] for k in ("end_of_turn",) if k in tokenizer.special}
    engine = Engine(model, max_batch=batch_size)
    jobs = []
    with _bar(len(chosen), name, " item", progress) as bar:
        # A few batches' worth at a time, so the bar moves; the engine batches inside each.
        for start in range(0, len(chosen), 4 * batch_size):
            for doc in chosen[start:start + 4 * batch_size]:
                ids = encode_as_harness(tokenizer, [fewshot_context(doc, pools.get(doc.subject, []), shots)])[0]
                jobs.append(engine.submit(Job(ids[-(limit - new_tokens):], new_tokens,
                                              temperature=0.0, stop=stops)))
            engine.drain()
            bar.update(len(jobs) - bar.n)
    strict, flexible, items = [], [], []
    for index, (doc, job) in enumerate(zip(chosen, jobs)):
        text = tokenizer.decode(list(job.tokens()))
        for stop in task.until:
            text = text.split(stop)[0]
        extracted, extracted_strict = last_number(text), hash_number(text)
        gold = normalise_answer(doc.answer)
        flexible.append(float(normalise_answer(extracted) == gold))
        strict.append(float(normalise_answer(extracted_strict) == gold))
        items.append({"index": index, "answer": doc.answer, "response": text, "extracted": extracted,
                      "extracted_strict": extracted_strict})
    return {**_metric("exact_match", flexible), **_metric("exact_match_strict", strict)}, items


def hash_number(text: str) -> str:
    """The harness's gsm8k "strict-match": the number after '#### '."""
    found = re.findall(r"#### (\-?[0-9\.\,]+)", text)
    return found[0].strip() if found else "[invalid]"


def last_number(text: str) -> str:
    """The harness's gsm8k "flexible-extract": the last number-like run in the answer."""
    found = re.findall(r"(-?[$0-9.,]{2,})|(-?[0-9]+)", text)
    if not found:
        return "[invalid]"
    groups = [g for g in found[-1] if g]
    return groups[0].strip() if groups else "[invalid]"


def normalise_answer(text: str) -> str:
    """The harness's exact_match for gsm8k: commas, dollar signs, a '#### ' prefix and a final
    full stop ignored; case ignored."""
    for pattern in (",", "\\$", "(?s).*#### ", "\\.$"):
        text = re.sub(pattern, "", text)
    return text.strip().lower()
