"""`xiulian ablate`: variants cleaned, trained and scored on the executor; bad input stops it first."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

TINY = ROOT / "data" / "ablations" / "tiny.toml"


def _variants(tmp_path: Path, shared_data: Path, extra: str = "", variant: str = "") -> Path:
    path = tmp_path / "variants.toml"
    path.write_text(f"""
[ablation]
inputs = ["{ROOT / 'data' / 'recipes' / 'tiny' / 'prose.jsonl'}"]
heldout = ["{shared_data / 'text' / 'wikitext-2' / 'valid.txt'}"]
tokens = 2048
{extra}
[variants.a]
steps = [{{ use = "length", min_chars = 200 }}]
[variants.b]
{variant}
""", encoding="utf-8")
    return path


@pytest.mark.parametrize("extra, variant, message", [
    ("", 'steps = [{ use = "no_such_step" }]', "[variants.b]"),
    ("", 'drop_steps = ["minhash"]', "drop_steps names step(s) the pipeline does not have: minhash"),
    ('tasks = ["hellaswag", "squad"]', "", "unknown task squad"),
    ("seeds = [1, 1]", "", "seeds must be a list of distinct integers"),
    ("", "colour = 1", "[variants.b] has no option(s) colour"),
])
def test_bad_variants_stop_before_any_work(shared_data, tmp_path, extra, variant, message):
    proc = run_cli("ablate", _variants(tmp_path, shared_data, extra, variant), "-o", tmp_path / "out",
                   check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_benchmark_file_without_fields_stops_before_training(shared_data, tmp_path, monkeypatch):
    fake = tmp_path / "benchmarks"
    fake.mkdir()
    (fake / "hellaswag_val.jsonl.gz").write_bytes(
        __import__("gzip").compress(json.dumps({"ctx": "no label"}).encode() + b"\n"))
    monkeypatch.setenv("SHARED", str(tmp_path))
    proc = run_cli("ablate", _variants(tmp_path, shared_data, 'tasks = ["hellaswag"]'), "-o", tmp_path / "out",
                   check=False)
    assert proc.returncode == 2 and "record 1 has no activity_label" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_tiny_ablation_runs_and_resumes(shared_data, tmp_path):
    out = tmp_path / "ablation"
    first = run_cli("ablate", TINY, "-o", out)
    assert "training and scoring 4 models" in first.stdout
    page = (out / "ABLATION.md").read_text(encoding="utf-8")
    assert "| `length_only` |" in page and "| `default` |" in page and "± " in page
    assert (out / "figures" / "heldout_loss.png").stat().st_size > 10_000
    results = [json.loads(p.read_text()) for p in sorted(out.glob("variants/*/seed-*/result.json"))]
    assert len(results) == 4
    for result in results:
        assert result["heldout"]["tokens"] > 10_000 and result["tasks"]["hellaswag"]["n"] == 8
        assert len(result["curve"]) >= 2          # the held-out loss at several points of training
    floors = json.loads((out / "variants" / "default" / "floors.json").read_text())
    assert floors["unigram"]["loss"] > floors["bigram"]["loss"] > 0
    # The variants cleaned differently, and both decontaminated against the held-out text.
    manifests = [json.loads(p.read_text()) for p in out.glob("clean/*/manifest.json")]
    assert len(manifests) == 2 and all(any(s["use"] == "decontam" for s in m["config"]["steps"]) for m in manifests)
    # Run again: every task is done, nothing trains, the page is the same.
    again = run_cli("ablate", TINY, "-o", out)
    assert "training" not in "".join(line for line in again.stdout.splitlines() if "seed" in line)
    assert (out / "ABLATION.md").read_text(encoding="utf-8").split("\n", 3)[3] == page.split("\n", 3)[3]
