"""The byte-level BPE: exact round trips, reserved special tokens, and HF loading."""
import json

import pytest

from train.model.tokenizer import SPECIAL_TOKENS, Tokenizer

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "北京大学创建于1898年，初名京师大学堂。",
    "Mixed 中英文 text with emoji 🎉👩‍💻 and accents: café, naïve, Zürich.",
    "  leading spaces, tabs\tand\nnew lines\r\n",
    "Unicode oddities: \u200b zero-width, \U0001F600, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
]


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_is_exact(tokenizer_dir, text):
    tok = Tokenizer(tokenizer_dir)
    assert tok.decode(tok.encode(text)) == text


def test_special_tokens_are_reserved_first(tokenizer_dir):
    tok = Tokenizer(tokenizer_dir)
    assert [tok.special[name] for name in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
    assert tok.vocab_size == 2048


def test_special_token_text_in_a_document_stays_text(tokenizer_dir):
    tok = Tokenizer(tokenizer_dir)
    ids = tok.encode("a user typed <|assistant|> here")
    assert tok.special["assistant"] not in ids
    assert tok.decode(ids) == "a user typed <|assistant|> here"


def test_chinese_gets_multi_character_tokens(tokenizer_dir, shared_data):
    """Trained on both languages with 2,048 tokens, most Chinese characters are one token or
    part of a longer one (raw UTF-8 bytes would give 1/3 of a character per token)."""
    tok = Tokenizer(tokenizer_dir)
    lines = (shared_data / "text" / "zh_wikipedia_cmrc2018_contexts.jsonl").read_text(encoding="utf-8").splitlines()
    text = "".join(json.loads(line)["text"] for line in lines[-50:])
    assert len(text) / len(tok.encode(text)) > 0.85


def test_transformers_auto_tokenizer_agrees(tokenizer_dir):
    transformers = pytest.importorskip("transformers", reason="the [hf] extra is not installed")
    ours = Tokenizer(tokenizer_dir)
    theirs = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir))
    for text in TEXTS:
        assert theirs(text, add_special_tokens=False).input_ids == ours.encode(text)
        assert theirs.decode(ours.encode(text)) == text
    assert theirs.eos_token_id == ours.eos_id


def test_cli_trains_from_shards(prose_files, tmp_path):
    from tests.conftest import run_cli
    run_cli("tokenizer", "train", *prose_files, "-o", tmp_path / "tok", "--vocab-size", "600", "-q")
    assert Tokenizer(tmp_path / "tok").vocab_size == 600
    bad = run_cli("tokenizer", "train", prose_files[0], "-o", tmp_path / "t2", "--vocab-size", "100",
                  check=False)
    assert bad.returncode == 2 and "at least 263" in bad.stderr
    (tmp_path / "empty.jsonl").write_text('{"text": ""}\n')
    bad = run_cli("tokenizer", "train", tmp_path / "empty.jsonl", "-o", tmp_path / "t3", check=False)
    assert bad.returncode == 2 and "no text to train the tokenizer on" in bad.stderr
    assert not (tmp_path / "t3").exists()


@pytest.mark.parametrize("text", TEXTS)
def test_token_bytes_spell_the_text(tokenizer_dir, text):
    tok = Tokenizer(tokenizer_dir)
    table = tok.token_bytes()
    assert b"".join(table[i] for i in tok.encode(text)) == text.encode("utf-8")
    assert all(table[i] == b"" for i in tok.special.values())


def test_streamed_chinese_breaks_only_on_character_boundaries(tokenizer_dir):
    from train.model.generation import stream_text
    tok = Tokenizer(tokenizer_dir)
    text = "北京大学创建于1898年，初名京师大学堂。"
    # one token per byte: every Chinese character arrives in three pieces
    byte_ids = [tok.backend.token_to_id(ch) for ch in
                "".join(_byte_char(b) for b in text.encode("utf-8"))]
    pieces = list(stream_text(tok, iter(byte_ids)))
    assert "".join(pieces) == text and len(pieces) > 1
    assert not any("\ufffd" in p for p in pieces)
    # a stray lead byte the model emitted before ASCII is not shown as U+FFFD
    stray = [tok.backend.token_to_id(_byte_char(0xE5))] + tok.encode("ok 中文")
    assert "".join(stream_text(tok, iter(stray))) == "ok 中文"


def _byte_char(b: int) -> str:
    from train.model.tokenizer import _byte_level_alphabet
    return _byte_level_alphabet()[b]
