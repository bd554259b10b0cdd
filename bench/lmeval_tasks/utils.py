"""lm-evaluation-harness's own task definitions, fed from the local benchmark files.

The harness loads its datasets from the Hugging Face hub, which this machine cannot reach. These
`process_docs` functions turn the rows of ../shared/data/benchmarks (read by the `json` and `csv`
dataset builders, see the YAMLs beside this file) into the fields the harness's templates read;
prompts, choices, targets and metrics stay the harness's. Imported by lm-eval (in
bench/.venv-lmeval), never by xiulian.
"""
from functools import partial

from lm_eval.tasks.cmmlu._generate_configs import SUBJECTS as CMMLU_SUBJECTS
from lm_eval.tasks.hellaswag.utils import preprocess
from lm_eval.tasks.mmlu._generate_configs import SUBJECTS as MMLU_SUBJECTS

LETTERS = ["A", "B", "C", "D"]


def hellaswag(dataset):
    """The harness's hellaswag process_docs; the shared file has `ctx` (the dump it was rebuilt
    from kept only ctx_a and ctx_b joined), so the context is `ctx` where ctx_a is absent."""
    def one(doc):
        ctx = doc["ctx_a"] + " " + doc["ctx_b"].capitalize() if doc.get("ctx_a") is not None else doc["ctx"]
        return {"query": preprocess(doc["activity_label"] + ": " + ctx),
                "choices": [preprocess(ending) for ending in doc["endings"]],
                "gold": int(doc["label"])}
    return dataset.map(one)


def arc(dataset):
    """AI2's original ARC layout -> the HF dataset's fields (question, choices.text/label)."""
    def one(doc):
        question = doc["question"]
        return {"id": doc["id"], "question": question["stem"], "answerKey": doc["answerKey"],
                "choices": {"text": [c["text"] for c in question["choices"]],
                            "label": [c["label"] for c in question["choices"]]}}
    return dataset.map(one, remove_columns=dataset.column_names)


def _mmlu(subject, dataset):
    """One subject's rows of the concatenated CSV, as the harness's cais/mmlu fields."""
    rows = dataset.filter(lambda doc: doc["subject"] == subject)
    return rows.map(lambda doc: {"question": doc["question"], "subject": subject,
                                 "choices": [doc[letter] for letter in LETTERS],
                                 "answer": LETTERS.index(doc["answer"].strip())},
                    remove_columns=rows.column_names)


def _cmmlu(subject, dataset):
    """One subject's rows of the concatenated CSV, as the harness's haonan-li/cmmlu fields."""
    rows = dataset.filter(lambda doc: doc["subject"] == subject)
    return rows.map(lambda doc: {"Question": doc["question"], "A": doc["A"], "B": doc["B"],
                                 "C": doc["C"], "D": doc["D"], "Answer": doc["answer"].strip()},
                    remove_columns=rows.column_names)


# One process_docs per subject, named in the generated per-subject YAMLs (mmlu_<subject>).
for _name in MMLU_SUBJECTS:
    globals()[f"mmlu_{_name}"] = partial(_mmlu, _name)
for _name in CMMLU_SUBJECTS:
    globals()[f"cmmlu_{_name}"] = partial(_cmmlu, _name)
