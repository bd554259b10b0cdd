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
    files, ignored = discover([str(tmp_path)])
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
    files, _ = discover([str(tmp_path)])
    tasks = plan_tasks(files)
    assert [len(t) for t in tasks] == [64, 64, 2, 1]
    assert tasks[-1][0].format == "jsonl"
