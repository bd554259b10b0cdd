"""`xiulian show`: the filters pick exactly the documents they name, on a real clean output."""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from tests.test_stats import cleaned_output, xiulian


@pytest.fixture
def out(tmp_path_factory, shared_data) -> Path:
    return cleaned_output(tmp_path_factory, shared_data)


def show_json(capsys, out, *args) -> list[dict]:
    code, text, err = xiulian(capsys, "show", out, "--json", *args)
    assert code == 0, err
    return [json.loads(line) for line in text.splitlines()]


def test_first_documents_as_text(out, capsys):
    code, text, _ = xiulian(capsys, "show", out, "-n", "3", "--lines", "2")
    assert code == 0
    kept = pl.read_parquet(out / "shards" / "*.parquet")
    assert [line.split()[-1] for line in text.splitlines() if line.startswith("── ")] == kept["id"][:3].to_list()
    assert "characters in all" in text          # long texts are cut to --lines


def test_removed_by_step_and_reason(out, capsys):
    removed = pl.read_parquet(out / "removed" / "*.parquet")
    rows = show_json(capsys, out, "--step", "length", "-n", "100")
    assert len(rows) == removed.filter(pl.col("step") == "length").height > 0
    assert {(r["step"], r["reason"]) for r in rows} == {("length", "too_short")}
    assert show_json(capsys, out, "--step", "length:too_short", "-n", "2") == rows[:2]
    code, text, _ = xiulian(capsys, "show", out, "--removed", "-n", "1")
    assert code == 0 and "removed by length:too_short" in text


def test_where_is_sql_over_the_columns(out, capsys):
    rows = show_json(capsys, out, "--where", "language = 'zh' and length(text) > 500", "-n", "1000")
    kept = pl.read_parquet(out / "shards" / "*.parquet")
    expected = kept.filter((pl.col("language") == "zh") & (pl.col("text").str.len_chars() > 500))
    assert sorted(r["id"] for r in rows) == sorted(expected["id"].to_list()) and rows
    assert show_json(capsys, out, "--where", "language = 'xx'") == []


def test_random_sample_is_seeded(out, capsys):
    first = show_json(capsys, out, "--random", "--seed", "1", "-n", "5")
    again = show_json(capsys, out, "--random", "--seed", "1", "-n", "5")
    other = show_json(capsys, out, "--random", "--seed", "2", "-n", "5")
    assert [r["id"] for r in first] == [r["id"] for r in again]
    assert [r["id"] for r in first] != [r["id"] for r in other]


@pytest.mark.parametrize("args, message", [
    (("--where", "languag = 'zh'"), "(columns here: id, text, url, source"),
    (("--where", "language = "), "--where"),
    (("--step", "sparkle"), "steps in the ledger: length"),
    (("--step", "length", "--reason", "too_blue"), "reasons: too_short"),
    (("-n", "0"), "-n must be"),
])
def test_mistakes_are_one_line_errors(out, capsys, args, message):
    code, _, err = xiulian(capsys, "show", out, *args)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
