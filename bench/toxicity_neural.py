"""Chinese toxicity with an order-aware neural model: does reading a post in order generalise
from COLD to ToxiCN where bags of n-grams do not?

Every fastText and TF-IDF setting in docs/filters.md sees a post as a bag of characters, words
and their bigrams. Much of ToxiCN's toxicity is implicit (a stereotype stated about a group, no
slur), which is a matter of order ("X 都是 Y"). This trains a small recurrent classifier in torch
on the same input and the same rows as the `--lexicon-rows` fastText model: the characters in
order through a bidirectional GRU (max-pooled), beside the mean embedding of the jieba words and
word-list tokens the classifier's tokenizer adds; the offensive words as positive rows.

    .venv/bin/python bench/toxicity_neural.py gru            # COLD only: holdout, pairs, dev
    .venv/bin/python bench/toxicity_neural.py gru --toxicn   # ToxiCN read once, at the end

Every choice is COLD's: the epoch (1-6) and the threshold (F1-best) on the training file's 10%
hashed holdout, as `classifier train` picks its threshold; three seeds, reported as mean and
range. Prints one JSON line per setting; docs/filters.md ("Generalising beyond one dataset").
"""
from __future__ import annotations

import json
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from toxicity_cold_only import load, pairs  # noqa: E402

_CJK = re.compile(r"[\u3400-\u9fff]")
MAX_CHARS = 160
EPOCHS = 6
SEEDS = (0, 1, 2)


def split_tokens(tokenizer, text: str) -> tuple[list[str], list[str]]:
    """(the single-character and non-CJK tokens in order, the multi-character words and
    word-list tokens): the tokenizer writes a run's characters, then its jieba words."""
    seq, bag = [], []
    for t in tokenizer(text).split():
        (seq if len(t) == 1 or not _CJK.search(t) and not t.startswith("__lex") else bag).append(t)
    return seq[:MAX_CHARS], bag


class Vocabulary:
    def __init__(self, token_lists, min_count: int = 2):
        counts = Counter(t for tokens in token_lists for t in tokens)
        self.index = {t: i + 2 for i, t in enumerate(sorted(t for t, c in counts.items() if c >= min_count))}

    def __len__(self):
        return len(self.index) + 2

    def ids(self, tokens):  # 0 padding, 1 unknown
        return [self.index.get(t, 1) for t in tokens] or [1]


class GruClassifier(nn.Module):
    def __init__(self, n_seq: int, n_bag: int, dim: int = 64, hidden: int = 64):
        super().__init__()
        self.seq_embed = nn.Embedding(n_seq, dim, padding_idx=0)
        self.bag_embed = nn.EmbeddingBag(n_bag, dim, mode="mean", padding_idx=0)
        self.gru = nn.GRU(dim, hidden, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(2 * hidden + dim, 1)

    def forward(self, seq, bag):
        h, _ = self.gru(self.drop(self.seq_embed(seq)))
        h = h.masked_fill((seq == 0).unsqueeze(-1), -1e4).max(dim=1).values
        return self.out(self.drop(torch.cat([h, self.bag_embed(bag)], dim=1))).squeeze(1)


def batches(encoded, order, size):
    for i in range(0, len(order), size):
        rows = [encoded[j] for j in order[i:i + size]]
        seq = nn.utils.rnn.pad_sequence([torch.tensor(s) for s, _, _ in rows], batch_first=True)
        bag = nn.utils.rnn.pad_sequence([torch.tensor(b) for _, b, _ in rows], batch_first=True)
        yield seq, bag, torch.tensor([y for _, _, y in rows], dtype=torch.float32)


def scores(model, encoded) -> list[float]:
    model.eval()
    out = []
    with torch.no_grad():
        for seq, bag, _ in batches(encoded, list(range(len(encoded))), 256):
            out += torch.sigmoid(model(seq, bag)).tolist()
    model.train()
    return out


def encode(sets: dict) -> tuple[dict, int, int]:
    """Each set as (character ids, bag ids, label) rows, the vocabularies from the training rows
    (COLD's minus its holdout, plus the offensive words): the same for every seed, made once."""
    from filters import lexicon_features
    from filters.classifier_data import Example
    from filters.fasttext_model import Tokenizer
    tokenizer = Tokenizer.for_language("zh")
    rows = {**sets, "fit": sets["fit"] + [Example(w, True) for w in lexicon_features.rows(tokenizer.lexicon)]}
    split = {name: [split_tokens(tokenizer, e.text) for e in examples] for name, examples in rows.items()}
    seq_vocab = Vocabulary(s for s, _ in split["fit"])
    bag_vocab = Vocabulary(b for _, b in split["fit"])
    data = {name: [(seq_vocab.ids(s), bag_vocab.ids(b), e.positive) for (s, b), e in zip(split[name], examples)]
            for name, examples in rows.items()}
    return data, len(seq_vocab), len(bag_vocab)


def run(data: dict, n_seq: int, n_bag: int, seed: int) -> dict:
    from filters.fasttext_model import best_threshold, metrics
    torch.manual_seed(seed)
    model = GruClassifier(n_seq, n_bag)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(seed)
    truth = {n: [y for _, _, y in d] for n, d in data.items()}
    best = None
    for epoch in range(1, EPOCHS + 1):
        for seq, bag, y in batches(data["fit"], torch.randperm(len(data["fit"]), generator=generator).tolist(), 64):
            optimizer.zero_grad()
            loss_fn(model(seq, bag), y).backward()
            optimizer.step()
        held = scores(model, data["holdout"])
        threshold = best_threshold(held, truth["holdout"])
        f1 = metrics(held, truth["holdout"], threshold)["f1"]
        if best is None or f1 > best[0]:
            best = (f1, epoch, threshold, {k: v.clone() for k, v in model.state_dict().items()})
        print(f"seed {seed} epoch {epoch}: holdout F1 {f1:.4f}", file=sys.stderr, flush=True)
    _, epoch, threshold, state = best
    model.load_state_dict(state)
    result = {"seed": seed, "epoch": epoch, "threshold": threshold}
    for name in ("holdout", "pairs", "dev", "toxicn"):
        if name in data:
            m = metrics(scores(model, data[name]), truth[name], threshold)
            result[name] = {k: m[k] for k in ("f1", "precision", "recall")}
    return result


def main(argv: list[str]) -> None:
    if not argv or argv[0] != "gru":
        sys.exit(__doc__)
    torch.set_num_threads(2)
    sets = load("--toxicn" in argv)
    sets["pairs"] = pairs(sets["holdout"])
    data, n_seq, n_bag = encode(sets)
    runs = [run(data, n_seq, n_bag, seed) for seed in SEEDS]
    for r in runs:
        print(json.dumps(r), file=sys.stderr, flush=True)
    summary = {"setting": "gru", "epochs": [r["epoch"] for r in runs]}
    for name in ("holdout", "pairs", "dev", "toxicn"):
        if name in runs[0]:
            f1 = [r[name]["f1"] for r in runs]
            summary[name] = {"f1_mean": round(statistics.mean(f1), 4), "f1_min": min(f1), "f1_max": max(f1),
                             "precision_mean": round(statistics.mean(r[name]["precision"] for r in runs), 4),
                             "recall_mean": round(statistics.mean(r[name]["recall"] for r in runs), 4)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1:])
