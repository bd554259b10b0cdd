"""Big files split into spans: reading every span gives exactly what reading the whole file
gives (ids, positions, ledger entries), and a run gives the same bytes for any worker count."""
import gzip
import json
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.clean import clean
from corpus.executors import LocalExecutor
from corpus.inputs import discover
from corpus.planner import plan_map
from corpus.readers import ReadOptions, read_file, spans
from tests.conftest import manifest, rows


@pytest.fixture
def small_pieces(monkeypatch):
    """Pieces of a few KiB, so small real files split into many spans."""
    monkeypatch.setattr(spans, "MIN_PIECE", 2048)
    monkeypatch.setattr(spans, "MAX_STREAM_PIECE", 2048)


def items(path, span=None):
    (f,), _, _ = discover([str(path)])
    return [vars(i) for i in read_file(f, ReadOptions(), span)]


def planned_items(path, workers=1):
    files, _, _ = discover([str(path)])
    tasks = list(plan_map(files, "unused", {}, ReadOptions(), LocalExecutor(workers)))
    return tasks, [vars(i) for t in tasks for i in read_file(t.files[0], ReadOptions(), t.span)]


def c4_lines(shared_data, n=120):
    lines = [json.dumps({"text": json.loads(x)["text"]}) for x in
             (shared_data / "text/c4_demo.jsonl").read_text(encoding="utf-8").splitlines()[:n]]
    lines[7] = "{not json"            # a bad record in the middle of some span
    lines[30] = ""                    # a blank line still counts as a line
    lines[31] = lines[31] * 3         # one long line across block boundaries
    return "\n".join(lines)          # no newline after the last line


def test_jsonl_spans_read_what_the_whole_file_reads(shared_data, tmp_path, small_pieces, monkeypatch):
    path = tmp_path / "c4.jsonl"
    path.write_text(c4_lines(shared_data), encoding="utf-8")
    tasks, pieces = planned_items(path, workers=2)  # the scan runs on two workers
    assert len(tasks) > 10 and all(t.span for t in tasks)
    assert pieces == items(path)
    assert tasks == list(plan_map(*discover([str(path)])[:1], "unused", {}, ReadOptions(),
                                  LocalExecutor(1)))  # the plan ignores the worker count
    monkeypatch.setattr(spans, "PIECES_PER_RUN", 4)  # a big run: fewer, larger pieces
    fewer, same = planned_items(path, workers=2)
    assert 1 < len(fewer) <= 5 and same == pieces


def test_compressed_stream_is_cut_into_pieces_that_read_like_the_file(shared_data, tmp_path,
                                                                       small_pieces):
    path = tmp_path / "c4.jsonl.gz"
    payload = gzip.compress(c4_lines(shared_data).encode())
    path.write_bytes(payload)
    tasks, pieces = planned_items(path)
    assert len(tasks) > 10 and all(t.span.data is not None for t in tasks)
    assert pieces == items(path)
    cut = tmp_path / "cut.jsonl.gz"   # broken half way: the last piece carries the ledger row
    cut.write_bytes(payload[: len(payload) // 2])
    tasks, pieces = planned_items(cut)
    assert pieces == items(cut) and pieces[-1]["reason"] == "truncated_file"


def test_warc_members_are_spans_and_a_single_stream_is_one(shared_data, tmp_path, small_pieces):
    warc = shared_data / "web/warc/CC-MAIN-2020-34_sample.warc.gz"
    tasks, pieces = planned_items(warc)
    assert len(tasks) > 10 and pieces == items(warc)
    single = tmp_path / "single.warc.gz"  # one gzip stream: nowhere to cut
    single.write_bytes(gzip.compress(gzip.decompress(warc.read_bytes())))
    tasks, pieces = planned_items(single)
    assert [t.span for t in tasks] == [None] and len(pieces) == len(items(warc))


def test_a_warc_gz_stored_inside_a_record_is_not_cut(shared_data, tmp_path, monkeypatch):
    """Deflate stores incompressible bytes as they are, so a .warc.gz inside a record's body
    shows whole gzip members holding WARC records: the scan must not cut there."""
    monkeypatch.setattr(spans, "MIN_PIECE", 64 << 10)
    inner = (shared_data / "web/warc/whirlwind.warc.gz").read_bytes()
    outer = gzip.decompress((shared_data / "web/warc/CC-MAIN-2020-34_sample.warc.gz").read_bytes())
    body = (inner + b"padding " * 1000) * 40
    record = (b"WARC/1.0\r\nWARC-Type: resource\r\nContent-Length: %d\r\n\r\n" % len(body)
              + body + b"\r\n\r\n")
    stored = zlib.compressobj(0, zlib.DEFLATED, 31)
    path = tmp_path / "stored.warc.gz"
    path.write_bytes(stored.compress(outer + record) + stored.flush())
    assert path.stat().st_size > 10 * (64 << 10)
    tasks, _ = planned_items(path)
    assert [t.span for t in tasks] == [None]


def test_parquet_row_groups_are_spans(shared_data, tmp_path, small_pieces):
    texts = [json.loads(x)["text"] for x in
             (shared_data / "text/c4_demo.jsonl").read_text(encoding="utf-8").splitlines()]
    path = tmp_path / "c4.parquet"
    pq.write_table(pa.table({"text": texts}), path, row_group_size=25)
    tasks, pieces = planned_items(path)
    assert len(tasks) > 3 and pieces == items(path)


def test_one_split_file_gives_the_same_bytes_and_ids_for_any_worker_count(
        shared_data, tmp_path, small_pieces, monkeypatch):
    path = tmp_path / "c4.jsonl"
    path.write_text(c4_lines(shared_data, 300), encoding="utf-8")
    config = {"seed": 0, "read": {}, "steps": [{"use": "length", "min_chars": 500}]}
    for workers in (1, 2):
        clean([str(path)], str(tmp_path / f"w{workers}"), config=config, workers=workers,
              progress=False)
    one, two = manifest(tmp_path / "w1"), manifest(tmp_path / "w2")
    assert one["map_tasks"] > 10 and one["counts"] == two["counts"]
    assert one["counts"]["read"] == 299 == one["counts"]["kept"] + one["counts"]["removed"]
    for sub in ("shards", "removed"):
        assert [p.read_bytes() for p in sorted((tmp_path / "w1" / sub).glob("*.parquet"))] == \
               [p.read_bytes() for p in sorted((tmp_path / "w2" / sub).glob("*.parquet"))]
    monkeypatch.setattr(spans, "MIN_PIECE", 1 << 30)   # the whole file as one task
    clean([str(path)], str(tmp_path / "whole"), config=config, progress=False)
    assert manifest(tmp_path / "whole")["map_tasks"] == 1
    for sub in ("shards", "removed"):  # the same bytes however the file was split, too
        assert [r["id"] for r in rows(tmp_path / "whole", sub)] == \
               [r["id"] for r in rows(tmp_path / "w1", sub)]
        assert [p.read_bytes() for p in sorted((tmp_path / "whole" / sub).glob("*.parquet"))] == \
               [p.read_bytes() for p in sorted((tmp_path / "w1" / sub).glob("*.parquet"))]
