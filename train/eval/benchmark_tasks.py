"""The benchmark tasks of `xiulian eval --tasks`, defined as lm-evaluation-harness defines them.

Each task turns one record of its file into a `Doc`: the prompt text (lm-eval's `doc_to_text`),
the choices and the gold index (multiple choice), or the reference answer (GSM8K), and the
description put before the prompt. The prompts are the harness's own, character for character,
so `xiulian eval` and lm-eval on our HF export score the same strings (bench/lmeval_tasks/ holds
the harness's side). Files are read where they are (`../shared/data/benchmarks` unless
`--task-file TASK=PATH` names another file in the same format); a record that lacks the fields
its task needs stops the run with one line naming the file, the record and the fields.

Few-shot examples are lm-eval's `first_n` sampler over the same file: the first k+1 records of
the item's subject, the item itself left out, the first k of the rest. The harness uses it for
MMLU and CMMLU; for the others it samples at random, so the parity runs set `first_n` there too.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from corpus.decontam.benchmarks import read_records
from corpus.errors import UserError

from .cmmlu_subjects import CMMLU_SUBJECTS_ZH

LETTERS = ("A", "B", "C", "D")


@dataclass
class Doc:
    """One item, rendered: what the model reads and what counts as right."""

    text: str                       # lm-eval's doc_to_text
    target: str                     # what a few-shot example shows after the text
    choices: list[str] = field(default_factory=list)   # multiple choice only
    gold: int = -1                  # index into choices
    answer: str = ""                # generation: the reference final answer
    description: str = ""           # put before the few-shot examples
    subject: str = ""               # few-shot examples come from the same subject


@dataclass(frozen=True)
class Task:
    name: str
    kind: str                       # "multiple_choice" or "generate_until"
    default_file: str | None        # under the shared benchmarks folder
    fields: tuple[str, ...]         # what a record must have, named in the error
    to_doc: Callable[[dict], Doc]
    default_shots: int = 0
    until: tuple[str, ...] = ()     # generation stops before these strings
    what: str = ""                  # for --help


def hellaswag_preprocess(text: str) -> str:
    """lm-eval's hellaswag/utils.py `preprocess` (WikiHow markers out, double spaces single)."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def _hellaswag(record: dict) -> Doc:
    # The official file has ctx_a and ctx_b, which lm-eval joins (capitalising ctx_b); the
    # shared copy was rebuilt from a dump that kept only their join, `ctx`, as it is.
    if "ctx_a" in record and "ctx_b" in record:
        context = record["ctx_a"] + " " + record["ctx_b"].capitalize()
    else:
        context = record["ctx"]
    choices = [hellaswag_preprocess(e) for e in record["endings"]]
    gold = int(record["label"])
    return Doc(hellaswag_preprocess(record["activity_label"] + ": " + context), choices[gold],
               choices, gold)


def _arc(record: dict) -> Doc:
    """AI2's original layout ({"question": {"stem", "choices": [{"text", "label"}]}}) or the
    HF dataset's ({"question": str, "choices": {"text": [...], "label": [...]}})."""
    question = record["question"]
    if isinstance(question, dict):
        stem = question["stem"]
        texts = [c["text"] for c in question["choices"]]
        labels = [c["label"] for c in question["choices"]]
    else:
        stem, texts, labels = question, record["choices"]["text"], record["choices"]["label"]
    gold = labels.index(record["answerKey"])
    return Doc(f"Question: {stem}\nAnswer:", texts[gold], texts, gold)


def _letter_gold(record: dict) -> int:
    """The answer as a letter (the CSV files) or an index (the HF datasets)."""
    answer = str(record["answer"]).strip()
    return LETTERS.index(answer) if answer in LETTERS else int(answer)


def _options_block(record: dict) -> str:
    return "".join(f"\n{letter}. {record[letter]}" for letter in LETTERS)  # as written, not stripped


def _mmlu(record: dict) -> Doc:
    subject = record["subject"]
    gold = _letter_gold(record)
    return Doc(f"{record['question'].strip()}{_options_block(record)}\nAnswer:", LETTERS[gold],
               list(LETTERS), gold, subject=subject,
               description=f"The following are multiple choice questions (with answers) about "
                           f"{' '.join(subject.split('_'))}.\n\n")


def _cmmlu(record: dict) -> Doc:
    subject = record["subject"]
    gold = _letter_gold(record)
    name = CMMLU_SUBJECTS_ZH.get(subject, subject)
    return Doc(f"{record['question'].strip()}{_options_block(record)}\n答案：", LETTERS[gold],
               list(LETTERS), gold, subject=subject, description=f"以下是关于{name}的单项选择题，请直接给出正确答案的选项。\n\n")


def gsm8k_final_answer(answer: str) -> str:
    return answer.split("####")[-1].strip()


def _gsm8k(record: dict) -> Doc:
    return Doc(f"Question: {record['question']}\nAnswer:", record["answer"],
               answer=gsm8k_final_answer(record["answer"]))


TASKS: dict[str, Task] = {task.name: task for task in (
    Task("hellaswag", "multiple_choice", "hellaswag_val.jsonl.gz",
         ("activity_label", "ctx", "endings", "label"), _hellaswag,
         what="sentence completion (10,042 validation items)"),
    Task("arc_easy", "multiple_choice", None, ("question", "answerKey"), _arc,
         what="grade-school science, easy set (no shared file: --task-file arc_easy=PATH)"),
    Task("arc_challenge", "multiple_choice", "arc_challenge_test.jsonl", ("question", "answerKey"), _arc,
         what="grade-school science, challenge set"),
    Task("mmlu", "multiple_choice", "mmlu_test.csv.gz", ("subject", "question", *LETTERS, "answer"), _mmlu,
         what="57 subjects, four options each"),
    Task("cmmlu", "multiple_choice", "cmmlu_test.csv", ("subject", "question", *LETTERS, "answer"), _cmmlu,
         what="67 subjects in Chinese, four options each"),
    Task("gsm8k", "generate_until", "gsm8k_test.jsonl", ("question", "answer"), _gsm8k, default_shots=5,
         until=("Question:", "</s>", "<|im_end|>"),
         what="grade-school maths: greedy answer, exact match of the final number"),
)}


def benchmarks_folder() -> Path:
    """The shared benchmarks folder: $SHARED/benchmarks, SHARED defaulting to ../shared/data."""
    return Path(os.environ.get("SHARED", os.path.join("..", "shared", "data")), "benchmarks")


def parse_task_names(spec: str) -> list[str]:
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in TASKS]
    if unknown or not names:
        raise UserError(f"unknown task {', '.join(unknown) or repr(spec)} (tasks: {', '.join(TASKS)})")
    return list(dict.fromkeys(names))


def parse_task_files(pairs: list[str] | None) -> dict[str, str]:
    """`--task-file TASK=PATH` options as {task: path}."""
    files = {}
    for pair in pairs or []:
        name, sep, path = pair.partition("=")
        if not sep or not path:
            raise UserError(f"--task-file wants TASK=PATH, not {pair!r}")
        if name not in TASKS:
            raise UserError(f"--task-file: unknown task {name!r} (tasks: {', '.join(TASKS)})")
        files[name] = path
    return files


def task_file(name: str, files: dict[str, str]) -> str:
    if name in files:
        path = files[name]
    elif TASKS[name].default_file:
        path = str(benchmarks_folder() / TASKS[name].default_file)
    else:
        raise UserError(f"{name} has no file in {benchmarks_folder()}; give one in the same format "
                        f"with --task-file {name}=PATH")
    if not os.path.isfile(path):
        raise UserError(f"{name}: no such benchmark file: {path}")
    return path


def load_docs(name: str, path: str, limit: int | None = None) -> list[Doc]:
    """The first `limit` items of a task's file, rendered; a record without the task's fields
    (or with a gold answer that is not one of its choices) is a user error, reported at once."""
    task = TASKS[name]
    docs = []
    for number, record in enumerate(read_records(path), 1):
        if limit is not None and len(docs) >= limit:
            break
        missing = [f for f in task.fields if not isinstance(record, dict) or f not in record]
        if missing:
            raise UserError(f"{path}: record {number} has no {', '.join(missing)} "
                            f"(the {name} task needs {', '.join(task.fields)})")
        try:
            docs.append(task.to_doc(record))
        except (KeyError, ValueError, IndexError, TypeError, AttributeError) as exc:
            raise UserError(f"{path}: record {number} is not a {name} item ({type(exc).__name__}: "
                            f"{exc})") from None
    if not docs:
        raise UserError(f"{path}: no {name} items")
    return docs


def fewshot_context(doc: Doc, pool: list[Doc], shots: int) -> str:
    """lm-eval's prompt: description, k solved examples (text, " ", target, blank line), the item.
    `pool` is the item's subject in file order; first_n sampling, the item itself left out."""
    examples = [d for d in pool[:shots + 1] if d != doc][:shots]
    solved = "".join(f"{d.text} {d.target}\n\n" for d in examples)
    return doc.description + solved + doc.text
