from pathlib import Path

import pytest

from corpus.errors import UserError
from corpus.inputs import discover, format_of, plan_tasks, split_name


@pytest.mark.parametrize("name, fmt", [
    ("CC-MAIN.warc.gz", "warc"), ("x.warc", "warc"), ("x.warc.wet.gz", "warc"),
    ("a.jsonl.zst", "jsonl"), ("a.json", "json"), ("b.parquet", "parquet"),
    ("p.HTML.gz", "html"), ("p.htm", "html"), ("t.txt", "text"),
    ("x.warc.wat.gz", None), ("MANIFEST.csv", None),
])
def test_format_from_name(name, fmt):
    assert format_of(name) == fmt


def test_split_name_strips_warc_from_wet_stem():
    assert split_name("whirlwind.warc.wet.gz") == ("whirlwind", ".wet", ".gz")


def test_directory_walk_is_sorted_relative_and_skips_unknown(tmp_path: Path):
    (tmp_path / "b").mkdir()
    for name in ("b/2.html", "a.html", "b/1.html", "notes.csv"):
        (tmp_path / name).write_text("<p>x</p>")
    files, ignored, _ = discover([str(tmp_path)])
    assert [f.rel for f in files] == ["a.html", "b/1.html", "b/2.html"]
    assert [Path(p).name for p in ignored] == ["notes.csv"]
    # one-document files are labelled by their folder, record files by their stem
    assert files[1].source == "b"


def test_missing_path_and_empty_glob_are_user_errors(tmp_path: Path):
    with pytest.raises(UserError, match="no such file"):
        discover([str(tmp_path / "nope")])
    with pytest.raises(UserError, match="no files match"):
        discover([str(tmp_path / "*.warc.gz")])


def test_tasks_group_small_pages_but_not_record_files(tmp_path: Path):
    for i in range(130):
        (tmp_path / f"p{i:03d}.html").write_text("<p>x</p>")
    (tmp_path / "z.jsonl").write_text("{}\n")
    files, _, _ = discover([str(tmp_path)])
    tasks = plan_tasks(files)
    assert [len(t) for t in tasks] == [64, 64, 2, 1]
    assert tasks[-1][0].format == "jsonl"


def test_no_input_files_says_what_was_seen_and_why_it_was_skipped(tmp_path: Path):
    (tmp_path / "report.pdf").write_text("x")
    (tmp_path / "MANIFEST.csv").write_text("x")
    with pytest.raises(UserError) as err:
        discover([str(tmp_path)])
    message = str(err.value)
    assert "2 file(s) seen" in message and "report.pdf (unknown format .pdf)" in message
    assert "MANIFEST.csv (unknown format .csv)" in message and ".warc" in message
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".hidden.jsonl").write_text("{}\n")
    with pytest.raises(UserError, match="hold no files .*hidden"):
        discover([str(empty)])


def test_a_file_named_twice_is_read_once(tmp_path: Path):
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    files, _, repeated = discover([str(tmp_path), str(tmp_path / "a.jsonl"), str(tmp_path)])
    assert [f.rel for f in files] == ["a.jsonl"]
    assert len(repeated) == 2
