"""Byte-level BPE trained with Hugging Face `tokenizers`, saved as `tokenizer.json`.

Byte-level means every string round-trips (Chinese, emoji, stray bytes): there is no unknown
token. Text is first split with the GPT-4 pattern (letters, 1-3 digit numbers, punctuation,
spaces), so merges never cross a word boundary; a run of Chinese characters is one "word", and
BPE learns the common multi-character words inside it. The special tokens for documents and
chat are reserved at ids 0..6 from the first training run, so a pretrained model and its
fine-tuned descendants agree on them.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from corpus.errors import UserError

# name -> token. Ids follow this order (0..6).
SPECIAL_TOKENS = {
    "bos": "<|begin_of_text|>",
    "eos": "<|end_of_text|>",      # between documents in pretraining; stops generation
    "system": "<|system|>",
    "user": "<|user|>",
    "assistant": "<|assistant|>",
    "end_of_turn": "<|end_of_turn|>",
    "pad": "<|pad|>",
}

# GPT-4's (cl100k) split pattern: contractions, letter runs, 1-3 digits, punctuation, spaces.
SPLIT_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

TOKENIZER_FILE = "tokenizer.json"


class Tokenizer:
    """A trained tokenizer: encode/decode plus the ids of the special tokens."""

    def __init__(self, path: str | os.PathLike):
        from tokenizers import Tokenizer as HFTokenizer
        path = Path(path)
        file = path / TOKENIZER_FILE if path.is_dir() else path
        if not file.is_file():
            raise UserError(f"no tokenizer at {path} (expected {TOKENIZER_FILE}; "
                            "train one with `xiulian tokenizer train`)")
        self.file = file
        self.backend = HFTokenizer.from_file(str(file))
        # Text is text: a "<|user|>" typed inside a document or a chat message must not become
        # the role marker. Special tokens enter sequences only as ids, placed by our code.
        self.backend.encode_special_tokens = True
        self.special = {}
        for name, token in {**SPECIAL_TOKENS, **_declared_special(file.parent)}.items():
            token_id = self.backend.token_to_id(token)
            if token_id is not None:
                self.special.setdefault(name, token_id)
        if "eos" not in self.special:
            raise UserError(f"{file}: no end-of-text token ({SPECIAL_TOKENS['eos']}, or an "
                            "eos_token in tokenizer_config.json)")

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size()

    @property
    def eos_id(self) -> int:
        return self.special["eos"]

    def encode(self, text: str) -> list[int]:
        """Token ids of plain text; special-token strings inside `text` stay plain text."""
        return self.backend.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.backend.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int], skip_special: bool = True) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=skip_special)

    def token_bytes(self) -> list[bytes] | None:
        """The UTF-8 bytes each id stands for (b"" for special tokens), so streamed text can
        be cut on character boundaries; None unless the vocabulary is byte-level."""
        if not hasattr(self, "_token_bytes"):
            from tokenizers import decoders
            self._token_bytes = None
            if isinstance(self.backend.decoder, decoders.ByteLevel):
                byte_of = {ch: b for b, ch in _byte_level_alphabet().items()}
                special = set(self.special.values())
                self._token_bytes = [
                    b"" if i in special or (t := self.backend.id_to_token(i)) is None
                    else bytes(byte_of[ch] for ch in t) if all(ch in byte_of for ch in t)
                    else t.encode("utf-8")  # an added token: stored as plain text
                    for i in range(self.vocab_size)]
        return self._token_bytes

    def save(self, directory: str | os.PathLike) -> None:
        """Copy tokenizer.json and the HF config files into `directory` (a checkpoint, an export)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name in (TOKENIZER_FILE, "tokenizer_config.json", "special_tokens_map.json"):
            source = self.file.parent / name
            if source.is_file() and source.resolve() != (directory / name).resolve():
                shutil.copyfile(source, directory / name)


def _declared_special(directory: Path) -> dict[str, str]:
    """bos/eos/pad named by an imported model's tokenizer_config.json (ours come first)."""
    path = directory / "tokenizer_config.json"
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    found = {}
    for name in ("bos", "eos", "pad"):
        token = config.get(f"{name}_token")
        if isinstance(token, dict):
            token = token.get("content")
        if isinstance(token, str):
            found[name] = token
    return found


def train_tokenizer(texts: Iterator[str], out_dir: str | os.PathLike, vocab_size: int,
                    min_frequency: int = 2, progress: bool = True) -> Tokenizer:
    """Train a byte-level BPE on `texts` and save it (with HF config files) to `out_dir`."""
    from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
    from tokenizers import Tokenizer as HFTokenizer

    if vocab_size < len(SPECIAL_TOKENS) + 256:
        raise UserError(f"--vocab-size must be at least {len(SPECIAL_TOKENS) + 256} "
                        "(the special tokens and the 256 bytes)")
    tokenizer = HFTokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, show_progress=progress,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    seen = [0]

    def counted(texts):
        for text in texts:
            seen[0] += bool(text and text.strip())
            yield text
    tokenizer.train_from_iterator(counted(texts), trainer=trainer)
    if not seen[0]:
        raise UserError("no text to train the tokenizer on (the inputs hold no documents with text)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out_dir / TOKENIZER_FILE))
    _write_hf_config(out_dir)
    return Tokenizer(out_dir)


def _write_hf_config(out_dir: Path) -> None:
    """What `transformers.AutoTokenizer` needs to load tokenizer.json as it is."""
    special = {"bos_token": SPECIAL_TOKENS["bos"], "eos_token": SPECIAL_TOKENS["eos"],
               "pad_token": SPECIAL_TOKENS["pad"]}
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special,
        "additional_special_tokens": [SPECIAL_TOKENS[k] for k in
                                      ("system", "user", "assistant", "end_of_turn")],
        "add_bos_token": False, "add_eos_token": False,
        "clean_up_tokenization_spaces": False,   # byte-level decoding is exact; keep it so
        "model_max_length": 1_000_000,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")


def _byte_level_alphabet() -> dict[int, str]:
    """GPT-2's byte -> printable character map, which byte-level BPE vocabularies are written in."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return {b: chr(b if b in printable else next(extra)) for b in range(256)}
