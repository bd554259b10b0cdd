"""Instruction data from a teacher: Self-Instruct (Wang et al. 2022) as Stanford Alpaca ran it.

Each round puts a few seed tasks (and up to two tasks generated earlier, as Self-Instruct mixes
machine tasks in) into a prompt that asks the teacher for a new task, then asks the teacher to
answer that task; both turns use the chat template. A task is dropped, and counted by reason,
when it is empty, too short or long, copies a seed, or is a near-duplicate (ROUGE-L >= 0.7 over
words, one token per Chinese character) of a seed or a kept task; an answer is dropped when
it is empty or does not end its turn within the limit. Rows are Alpaca records that `xiulian
sft` reads as they are, and each names its teacher and the teacher's licence: some providers'
terms forbid training on their outputs, and the data carries that forward.
"""
from __future__ import annotations

import json
import os
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass, field

from corpus.errors import UserError

UNKNOWN_LICENCE = "unknown — check the teacher's terms before training on this output"
MIN_WORDS, MAX_WORDS = 4, 150     # Alpaca keeps instructions of 4..150 words
MAX_GENERATED_SHOTS = 2
ORIGIN_KEYS = ("imported_from", "stage", "init", "step")   # where the teacher came from

PROMPTS = {
    "en": ("Come up with a new task for an AI assistant. Make it different from the examples "
           "below, answerable in text, and write it in the same format: the instruction, then "
           "an input only if the task needs one.", "Instruction: ", "Input: "),
    "zh": ("请为 AI 助手想出一个新的任务。它要与下面的例子不同，能用文字完成，并按同样的格式写出："
           "先写指令，只有任务需要时再写输入。", "指令：", "输入："),
}
INSTRUCTION_LABEL = re.compile(r"^\s*(?:instruction|指令)\s*[:：]\s*", re.I | re.M)
INPUT_LABEL = re.compile(r"^\s*(?:input|输入)\s*[:：]", re.I | re.M)
NO_INPUT = {"", "<noinput>", "none", "n/a", "无", "（无）", "(none)"}
HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")


@dataclass
class Task:
    instruction: str
    input: str = ""
    output: str = ""
    id: str | None = None


# ---- seeds and prompts -------------------------------------------------------------------

def read_seed_tasks(path: str) -> list[Task]:
    """Self-Instruct seed tasks ({instruction, instances: [{input, output}]}) or Alpaca records."""
    from train.data.sft_formats import read_records
    stem, found = os.path.splitext(os.path.basename(path))[0], []
    for i, record in enumerate(read_records(path)):
        if not isinstance(record, dict) or not isinstance(record.get("instruction"), str):
            continue
        instance = (record.get("instances") or [record])[0]
        instance = instance if isinstance(instance, dict) else {}
        found.append(Task(record["instruction"].strip(), str(instance.get("input") or "").strip(),
                          str(instance.get("output") or "").strip(), str(record.get("id") or f"{stem}-{i}")))
    found = [t for t in found if t.instruction]
    if not found:
        raise UserError(f"{path}: no seed tasks (records with an 'instruction')")
    return found


def language_of(tasks: list[Task]) -> str:
    """'zh' when the instructions are mostly Chinese characters, else 'en'."""
    text = "".join(t.instruction for t in tasks)
    letters = sum(c.isalpha() for c in text)
    return "zh" if letters and len(HAN.findall(text)) / letters > 0.3 else "en"


def build_prompt(examples: list[Task], language: str) -> str:
    """The user's message asking for one new task, the examples in the format we parse back."""
    header, instruction_label, input_label = PROMPTS[language]
    blocks = [instruction_label + t.instruction + (f"\n{input_label}{t.input}" if t.input else "")
              for t in examples]
    return header + "\n\n" + "\n\n".join(blocks)


def parse_task(reply: str) -> Task:
    """The first task in the teacher's reply: labels optional, a second task cut off."""
    text = INSTRUCTION_LABEL.sub("", reply.strip(), count=1)
    text = INSTRUCTION_LABEL.split(text, maxsplit=1)[0]
    parts = INPUT_LABEL.split(text, maxsplit=1)
    given = parts[1].strip() if len(parts) > 1 else ""
    return Task(parts[0].strip(), "" if given.lower() in NO_INPUT else given)


# ---- near-duplicates -----------------------------------------------------------------------

def _tokens(text: str) -> list[str]:
    """Words, and single characters of Chinese (the dedup tokens). Imported here, not at the
    top: corpus.dedup loads numpy and its steps, a cost every `xiulian` command would pay."""
    from corpus.dedup.text import tokens
    return tokens(text)


def copy_key(instruction: str) -> str:
    """Its words in order: two instructions that differ only in case, spacing or punctuation match."""
    return " ".join(_tokens(instruction))


def lcs_length(a: list[str], b: list[str]) -> int:
    """Longest common subsequence, bit-parallel (Hyyrö 2004): one big-int step per token of b."""
    masks: dict[str, int] = {}
    for i, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << i)
    v = full = (1 << len(a)) - 1
    for token in b:
        u = v & masks.get(token, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - bin(v).count("1")


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 over words (one token per Chinese character), case and width folded."""
    return _rouge_l(_tokens(candidate), _tokens(reference))


def _rouge_l(a: list[str], b: list[str]) -> float:
    return 2 * lcs_length(a, b) / (len(a) + len(b)) if a and b else 0.0


class SimilarityIndex:
    """Instructions seen so far, tokenised once; `most_similar` is ROUGE-L against each."""

    def __init__(self, texts=()):
        self.entries: list[tuple[list[str], str]] = []
        for text in texts:
            self.add(text)

    def add(self, text: str) -> None:
        self.entries.append((_tokens(text), text))

    def most_similar(self, text: str) -> tuple[float, str | None]:
        mine, best = _tokens(text), (0.0, None)
        for theirs, other in self.entries:
            # F1 cannot beat 2 * min / sum: skip the LCS when that is no better than the best.
            if mine and theirs and 2 * min(len(mine), len(theirs)) / (len(mine) + len(theirs)) > best[0]:
                best = max(best, (_rouge_l(mine, theirs), other), key=lambda pair: pair[0])
        return best


# ---- the loop ------------------------------------------------------------------------------

@dataclass
class Teacher:
    model: object
    tokenizer: object
    generator: object
    temperature: float
    top_k: int | None
    top_p: float | None
    max_new_tokens: int

    def has_room(self, user_message: str) -> bool:
        """Whether the prompt leaves room to write: the limit, or a quarter of the context."""
        room = self.model.config.max_seq_len - len(self.prompt(user_message))
        return room >= min(self.max_new_tokens, self.model.config.max_seq_len // 4)

    def prompt(self, user_message: str) -> list[int]:
        from train.model.chat_template import prompt_ids
        return prompt_ids(self.tokenizer, [{"role": "user", "content": user_message}])

    def reply(self, user_message: str) -> tuple[str, bool]:
        """The reply to a one-turn chat, and whether it ended its turn within the limit."""
        from train.model.chat_template import stop_ids
        from train.model.generation import stream_tokens
        stop, out = stop_ids(self.tokenizer), []
        for token in stream_tokens(self.model, self.prompt(user_message), self.max_new_tokens,
                                   self.temperature, self.top_k, self.top_p, frozenset(), self.generator):
            if token in stop:
                return self.tokenizer.decode(out).strip(), True
            out.append(token)
        return self.tokenizer.decode(out).strip(), False


@dataclass
class Books:
    generated: int = 0
    kept: int = 0
    total: int = 0              # rows in the output file when done, earlier runs' included
    rejected: Counter = field(default_factory=Counter)


def read_rows(path: str) -> list[dict]:
    """Rows already written. A last row cut short by a killed run is removed from the file;
    a file that is not our JSONL is left alone and refused."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    cut = data.rfind(b"\n") + 1
    try:
        rows = [json.loads(line) for line in data[:cut].decode("utf-8").splitlines() if line.strip()]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not a self-instruct output to continue ({exc})") from None
    if not all(isinstance(row, dict) and isinstance(row.get("instruction"), str) for row in rows):
        raise UserError(f"{path} is not a self-instruct output to continue (rows without an instruction)")
    if data[cut:].strip():
        if not data[cut:].startswith(b'{"instruction": '):
            raise UserError(f"{path} is not a self-instruct output to continue (its last line is not a row)")
        with open(path, "r+b") as f:
            f.truncate(cut)
    return rows


def fitting(teacher: Teacher, examples: list[Task], language: str) -> list[Task]:
    """The examples, dropped from the end until their prompt leaves the teacher room to write."""
    while examples and not teacher.has_room(build_prompt(examples, language)):
        examples = examples[:-1]
    return examples


def instruction_problem(instruction: str, seed_keys: set[str], seen: SimilarityIndex,
                        similarity: float) -> str | None:
    """Why a new instruction is not kept (None: it is), as Self-Instruct and Alpaca filter."""
    words = _tokens(instruction)
    if not words:
        return "instruction empty"
    if len(words) < MIN_WORDS or len(words) > MAX_WORDS:
        return "instruction too short" if len(words) < MIN_WORDS else "instruction too long"
    if copy_key(instruction) in seed_keys:
        return "copies a seed"
    if seen.most_similar(instruction)[0] >= similarity:
        return "near-duplicate"
    return None


def next_task(teacher: Teacher, examples: list[Task], language: str, seed_keys: set[str],
              seen: SimilarityIndex, similarity: float) -> Task | str:
    """A new task with its answer, or the reason it was rejected."""
    if not examples:
        return "prompt does not fit the context"
    asked = teacher.reply(build_prompt(examples, language))
    if not asked[1]:
        return "instruction cut off at the limit"
    task = parse_task(asked[0])
    problem = instruction_problem(task.instruction, seed_keys, seen, similarity)
    if problem:
        return problem
    question = task.instruction + (f"\n\n{task.input}" if task.input else "")
    if not teacher.has_room(question):
        return "no room left to answer"
    answered = teacher.reply(question)
    if not answered[0]:
        return "answer empty"
    if not answered[1]:
        return "answer cut off at the limit"
    task.output = answered[0]
    return task


def self_instruct(teacher: str, seeds_path: str, output: str, num: int = 100, num_shots: int = 3,
                  temperature: float = 1.0, top_p: float | None = None, max_new_tokens: int = 256,
                  similarity: float = 0.7, seed: int = 0, licence: str = UNKNOWN_LICENCE,
                  device: str = "cpu", max_rounds: int | None = None, progress: bool = True,
                  top_k: int | None = None) -> Books:
    """Append teacher-written tasks to `output` until it holds `num` rows (or rounds run out)."""
    import torch
    from tqdm import tqdm

    from train.model.checkpoint import load_model, load_tokenizer, read_config, resolve
    if num_shots < 1 or max_new_tokens < 1 or not 0 < similarity <= 1:
        raise UserError("--num-shots and --max-new-tokens must be >= 1, --similarity in (0, 1]")
    seed_tasks = read_seed_tasks(seeds_path)
    language = language_of(seed_tasks)
    rows = read_rows(output)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    generated = [Task(r["instruction"], str(r.get("input") or "")) for r in rows]
    seen = SimilarityIndex(t.instruction for t in seed_tasks + generated)
    seed_keys = {copy_key(t.instruction) for t in seed_tasks}
    config = read_config(teacher)
    teacher_info = {"checkpoint": os.path.abspath(resolve(teacher)),
                    **{k: config[k] for k in ORIGIN_KEYS if k in config}}
    # Seeded by where this run starts, so a resumed run does not replay the first run's rounds.
    rng = random.Random(f"{seed}:{len(rows)}")
    model = load_model(teacher, device).eval()
    generator = torch.Generator(device=device).manual_seed(seed * 1_000_003 + len(rows))
    teacher_model = Teacher(model, load_tokenizer(teacher), generator, temperature, top_k, top_p,
                            max_new_tokens)
    books = Books()
    rounds = max_rounds if max_rounds is not None else 20 * max(0, num - len(rows))
    bar = tqdm(total=num, initial=min(len(rows), num), desc="self-instruct", unit="task",
               disable=not progress, dynamic_ncols=True, file=sys.stderr)
    with open(output, "a", encoding="utf-8") as out:
        while len(rows) + books.kept < num and books.generated < rounds:
            examples = rng.sample(seed_tasks, min(num_shots, len(seed_tasks)))
            examples += rng.sample(generated, min(MAX_GENERATED_SHOTS, len(generated)))
            rng.shuffle(examples)
            examples = fitting(teacher_model, examples, language)
            books.generated += 1
            result = next_task(teacher_model, examples, language, seed_keys, seen, similarity)
            if isinstance(result, str):
                books.rejected[result] += 1
            else:
                row = {"instruction": result.instruction, "input": result.input, "output": result.output,
                       "teacher": teacher_info, "licence": licence,
                       "seed_ids": [t.id for t in examples if t.id is not None]}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                out.flush()
                generated.append(result)
                seen.add(result.instruction)
                books.kept += 1
                bar.update(1)
            bar.set_postfix(rounds=books.generated, rejected=sum(books.rejected.values()), refresh=False)
    bar.close()
    books.total = len(rows) + books.kept
    return books
