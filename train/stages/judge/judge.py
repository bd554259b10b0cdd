"""AI feedback (RLAIF): a model judges which of two answers is better, and the verdicts become
preference pairs for `xiulian dpo` and `xiulian reward`.

The judge reads a judging prompt (the question, answer A, answer B, "Which answer is better?
Reply with A or B.") rendered with the chat template as one user turn, and we compare its next-
token log-probabilities of "A" and "B" after `<|assistant|>`: no sampling, so a verdict is the
same on every run. Language models prefer one position whatever the content, so every pair is
judged in both orders and the two probabilities averaged:

    P(x better) = ( P_A(x first, y second) + P_B(y first, x second) ) / 2

where P_A = p(A) / (p(A) + p(B)). That cancels the position preference exactly (the verdict on
(y, x) is one minus the verdict on (x, y)) and measures it: position_bias = the mean of P_A over
both orders, minus 0.5 (positive: the judge leans to the first answer). With more than two
answers, every pair is judged (round robin); the answer with the most wins is chosen, the one
with the fewest rejected, ties broken by summed probability.

A tokenizer without our chat tokens (an imported Hugging Face model) gets a plain-text prompt
ending in "Better answer:", continued by " A" or " B". How a label encodes depends on the
tokenizer (SentencePiece may split " A" as "▁" + "A"), so both full texts are encoded and the
shared beginning is the prompt; a label of several tokens scores the sum of their log-probs.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import combinations

import torch

from corpus.errors import UserError
from train.data.sft_formats import Skipped

DEFAULT_TEMPLATE = ("Question:\n{question}\n\nAnswer A:\n{answer_a}\n\nAnswer B:\n{answer_b}\n\n"
                    "Which answer is better? Reply with A or B.")
PLAIN_CUE = "\n\nBetter answer:"        # plain-text style: the template, this, then " A" or " B"
PLACEHOLDER = re.compile(r"\{(question|answer_a|answer_b)\}")
CHAT_TOKENS = ("user", "assistant", "end_of_turn")


def check_template(template: str, source: str = "the template") -> str:
    found = set(PLACEHOLDER.findall(template))
    missing = [f"{{{name}}}" for name in ("question", "answer_a", "answer_b") if name not in found]
    if missing:
        raise UserError(f"{source} lacks {', '.join(missing)} (it needs {{question}}, {{answer_a}} "
                        "and {answer_b})")
    return template


def fill(template: str, question: str, answer_a: str, answer_b: str) -> str:
    """The template with its placeholders replaced in one pass (an answer that contains
    "{answer_b}" stays as written)."""
    values = {"question": question, "answer_a": answer_a, "answer_b": answer_b}
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def question_text(messages: list[dict]) -> str:
    """What the judge sees as the question: a lone user turn as it is, a longer conversation as
    a transcript ("System: ...\\n\\nUser: ...\\n\\nAssistant: ...\\n\\nUser: ...")."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def _split_labels(full_a: list[int], full_b: list[int]) -> tuple[list[int], list[int], list[int]]:
    shared = 0
    while shared < min(len(full_a), len(full_b)) and full_a[shared] == full_b[shared]:
        shared += 1
    if shared == len(full_a) or shared == len(full_b):
        raise UserError("the labels A and B encode to the same tokens with this tokenizer")
    return full_a[:shared], full_a[shared:], full_b[shared:]


class JudgePrompter:
    """Judging prompts as token ids, and the label tokens that follow them."""

    def __init__(self, tokenizer, max_len: int, template: str = DEFAULT_TEMPLATE, style: str = "auto"):
        has_chat = all(name in tokenizer.special for name in CHAT_TOKENS)
        if style == "auto":
            style = "chat" if has_chat else "plain"
        if style == "chat" and not has_chat:
            raise UserError("the judge's tokenizer has no chat tokens; use --prompt-style plain")
        self.tokenizer, self.max_len, self.style = tokenizer, max_len, style
        self.template = check_template(template)
        empty = self.ids("", "", "")
        self.label_room = max(len(empty[1]), len(empty[2])) - 1  # label tokens past the prompt
        self.fixed = len(empty[0])

    def ids(self, question: str, answer_a: str, answer_b: str) -> tuple[list[int], list[int], list[int]]:
        """(prompt, label A, label B) token ids for one ordering."""
        text = fill(self.template, question, answer_a, answer_b)
        tok = self.tokenizer
        if self.style == "chat":
            from train.model.chat_template import prompt_ids
            prompt = prompt_ids(tok, [{"role": "user", "content": text}])
            return _split_labels(prompt + tok.encode("A"), prompt + tok.encode("B"))
        bos = [tok.special["bos"]] if "bos" in tok.special else []
        return _split_labels(bos + tok.encode(text + PLAIN_CUE + " A"), bos + tok.encode(text + PLAIN_CUE + " B"))

    def fits(self, prompt: list[int]) -> bool:
        return len(prompt) + self.label_room <= self.max_len

    def fit(self, question: str, answers: list[str]) -> tuple[str, list[str], bool]:
        """Question and answers cut (each keeps its beginning) so that any two answers fit the
        context together, and whether anything was cut; Skipped when even the template cannot."""
        tok = self.tokenizer
        q_ids, a_ids = tok.encode(question), [tok.encode(a) for a in answers]
        longest = sorted(range(len(answers)), key=lambda i: len(a_ids[i]))[-2:]
        room = self.max_len - self.label_room - self.fixed
        if len(q_ids) + sum(len(a_ids[i]) for i in longest) <= room - 8:  # a margin for merges at joins
            return question, answers, False
        for _ in range(8):
            if room < 3:
                break
            question_budget, answer_budget = _water_fill(len(q_ids), [len(a_ids[i]) for i in longest], room)
            cut_question = tok.decode(q_ids[:question_budget]) if len(q_ids) > question_budget else question
            cut_answers = [tok.decode(ids[:answer_budget]) if len(ids) > answer_budget else a
                           for a, ids in zip(answers, a_ids)]
            worst = self.ids(cut_question, *(cut_answers[i] for i in longest))[0]
            if self.fits(worst):
                cut = len(q_ids) > question_budget or any(len(ids) > answer_budget for ids in a_ids)
                return cut_question, cut_answers, cut
            room -= len(worst) + self.label_room - self.max_len
        raise Skipped("the judging prompt does not fit the judge's context")


def _water_fill(question: int, answers: list[int], room: int) -> tuple[int, int]:
    """Token budgets (question, each answer) sharing `room` fairly: short parts keep all they
    have, the rest split what is left evenly."""
    sizes = [question, *answers]
    given = [0] * len(sizes)
    left = room
    for rank, i in enumerate(sorted(range(len(sizes)), key=lambda i: sizes[i])):
        given[i] = min(sizes[i], left // (len(sizes) - rank))
        left -= given[i]
    return given[0], max(given[1:])


@torch.no_grad()
def label_logprobs(model, items: list[tuple[list[int], list[int], list[int]]],
                   batch_size: int = 8) -> list[tuple[float, float]]:
    """log p(label A | prompt) and log p(label B | prompt) for each (prompt, A, B), in order.

    Single-token labels (the usual case) are read from one row: the prompt's last position.
    Longer labels get a row each. Rows are right-padded (causal attention needs no mask) and
    batched by length; only the positions read go through `lm_head`."""
    rows, reads = [], []   # reads[k]: per label, [(row, position, token), ...]
    for prompt, label_a, label_b in items:
        if len(label_a) == len(label_b) == 1:
            rows.append(prompt)
            last = len(prompt) - 1
            reads.append([[(len(rows) - 1, last, label_a[0])], [(len(rows) - 1, last, label_b[0])]])
            continue
        picks = []
        for label in (label_a, label_b):
            rows.append(prompt + label[:-1])
            picks.append([(len(rows) - 1, len(prompt) - 1 + k, t) for k, t in enumerate(label)])
        reads.append(picks)
    device = next(model.parameters()).device
    wanted: dict[int, list[tuple[int, int]]] = {}
    for picks in reads:
        for row, position, token in (p for label in picks for p in label):
            wanted.setdefault(row, []).append((position, token))
    logp: dict[tuple[int, int, int], float] = {}
    order = sorted(range(len(rows)), key=lambda r: (len(rows[r]), r))
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        width = max(len(rows[r]) for r in chunk)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, r in enumerate(chunk):
            ids[i, :len(rows[r])] = torch.tensor(rows[r])
        hidden = model.hidden_states(ids.to(device))
        for i, r in enumerate(chunk):
            positions = sorted({p for p, _ in wanted[r]})
            scores = model.lm_head(hidden[i, positions]).float().log_softmax(-1).cpu()
            for j, p in enumerate(positions):
                for position, token in wanted[r]:
                    if position == p:
                        logp[(r, p, token)] = scores[j, token].item()
    return [tuple(sum(logp[pick] for pick in label) for label in picks) for picks in reads]


@dataclass(frozen=True)
class Comparison:
    """The verdict on answer x against answer y, both orders averaged."""
    p_first: float          # P(x better than y)
    position_bias: float    # mean P(the answer shown as A is better), minus 0.5
    consistent: bool        # both orders name the same winner
    label_mass: float       # mean p(A) + p(B): how much the judge answers with a label at all


def compare(x_first: tuple[float, float], y_first: tuple[float, float]) -> Comparison:
    """Combine (log p(A), log p(B)) with x shown as A and with y shown as A."""
    p_a_x_first = 1 / (1 + math.exp(x_first[1] - x_first[0]))
    p_a_y_first = 1 / (1 + math.exp(y_first[1] - y_first[0]))
    mass = sum(math.exp(a) + math.exp(b) for a, b in (x_first, y_first)) / 2
    return Comparison((p_a_x_first + 1 - p_a_y_first) / 2, (p_a_x_first + p_a_y_first) / 2 - 0.5,
                      (p_a_x_first > 0.5) == (p_a_y_first < 0.5), mass)


def flipped(c: Comparison) -> Comparison:
    return Comparison(1 - c.p_first, c.position_bias, c.consistent, c.label_mass)


def select(n: int, comparisons: dict[tuple[int, int], Comparison]) -> tuple[int, int]:
    """(chosen, rejected) among n answers from the round robin {(i, j), i < j: verdict on i vs j}:
    most and fewest wins (a draw gives half a win each), ties broken by summed P(better), then
    by position (earlier chosen, later rejected), so the choice is always the same."""
    wins, summed = [0.0] * n, [0.0] * n
    for (i, j), c in comparisons.items():
        wins[i] += 1.0 if c.p_first > 0.5 else 0.5 if c.p_first == 0.5 else 0.0
        wins[j] += 1.0 if c.p_first < 0.5 else 0.5 if c.p_first == 0.5 else 0.0
        summed[i] += c.p_first
        summed[j] += 1 - c.p_first
    key = lambda i: (wins[i], summed[i], -i)  # noqa: E731
    return max(range(n), key=key), min(range(n), key=key)


@dataclass
class Verdict:
    chosen: int
    rejected: int
    comparison: Comparison          # chosen against rejected
    comparisons: list[Comparison]   # every pair of the round robin
    truncated: bool


def judge(model, prompter: JudgePrompter, question: str, answers: list[str], batch_size: int = 8) -> Verdict:
    """One prompt's verdict (Skipped when the judging prompt cannot fit)."""
    return judge_many(model, prompter, [(question, answers)], batch_size)[0]


def judge_many(model, prompter: JudgePrompter, tasks: list[tuple[str, list[str]]],
               batch_size: int = 8) -> list[Verdict | Skipped]:
    """Verdicts for (question, answers) tasks, every judging prompt of the lot batched together;
    a task whose prompt cannot fit gets its Skipped instead."""
    items, plans = [], []
    for question, answers in tasks:
        try:
            question, answers, truncated = prompter.fit(question, answers)
            pairs = list(combinations(range(len(answers)), 2))
            prompts = [prompter.ids(question, answers[a], answers[b]) for i, j in pairs for a, b in ((i, j), (j, i))]
            if not all(prompter.fits(p[0]) for p in prompts):
                raise Skipped("the judging prompt does not fit the judge's context")
        except Skipped as reason:
            plans.append(reason)
            continue
        plans.append((len(answers), pairs, len(items), truncated))
        items += prompts
    scores = label_logprobs(model, items, batch_size)
    verdicts = []
    for plan in plans:
        if isinstance(plan, Skipped):
            verdicts.append(plan)
            continue
        n, pairs, first, truncated = plan
        comparisons = {pair: compare(scores[first + 2 * k], scores[first + 2 * k + 1]) for k, pair in enumerate(pairs)}
        chosen, rejected = select(n, comparisons)
        between = (comparisons[(chosen, rejected)] if chosen < rejected
                   else flipped(comparisons[(rejected, chosen)]))
        verdicts.append(Verdict(chosen, rejected, between, list(comparisons.values()), truncated))
    return verdicts
