"""Side-by-side throughput: xiulian vs HF datatrove on the same HTML pages.

Same work on both sides: read every ``*.html.gz`` page, extract the main text,
write Parquet. Each configuration is timed as a whole subprocess (wall clock,
interpreter start-up and imports included on both sides), run ``--repeats``
times after one warm-up run, and the median is reported.

* datatrove: ``bench/datatrove_html.py`` in its own venv ``bench/.venv-datatrove``
  (custom ``BaseDiskReader`` -> ``Trafilatura()`` defaults -> ``ParquetWriter``,
  ``LocalPipelineExecutor(tasks=N, workers=N)``).
* xiulian: ``xiulian clean INPUT... -o OUT --config extract.toml --workers N
  --overwrite`` with an extract-only config, once per backend
  (trafilatura, resiliparse).

documents/s counts pages *read* (pages in) on both sides.

Usage (from the repo root, with our own venv):
    .venv/bin/python bench/pipeline_vs_datatrove.py [--workers 1 2] [--repeats 3] [--quick]

Set up the datatrove venv first:
    python3 -m venv bench/.venv-datatrove
    bench/.venv-datatrove/bin/pip install "datatrove[processing]==0.10.1" trafilatura lxml_html_clean \
        pyarrow faust-cchardet spacy warcio python-magic pyahocorasick fasteners fasttext-numpy2-wheel

Writes the table, the command lines and the machine to docs/BENCHMARKS.md under
``## Pipeline throughput vs datatrove`` (only that section is replaced).

``--fineweb`` measures the whole pipelines instead (section ``## Whole pipeline vs datatrove``):
the 469 pages packed into one WARC.gz (one gzip member per record, as Common Crawl writes),
xiulian's default pipeline (``xiulian clean WARC -o OUT``: extraction, language, filters,
dedup) vs datatrove's FineWeb-style chain (``datatrove_html.py --fineweb``), one core each,
kept counts beside the times; then one file at ``--workers 1`` and ``2``: that WARC and a
large JSONL (c4_demo 40 times over, as throughput.sh builds it), with a byte check of the
outputs; then extract-only, one core each (datatrove's ``Trafilatura()`` defaults against
xiulian's resiliparse backend, the ``.html.gz`` pages), and MinHash signatures from raw text
against rensa fed README-style shingles (``minhash_vs_peers.readme_harness``): issue 21's
four targets from one run, each run's share of other processes' CPU time reported beside it.
``--quick`` (1 repeat, no warm-up, only the first input folder) prints the
table without touching docs/BENCHMARKS.md unless ``--write-docs`` is given.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from benchdocs import docs_path, git_commit, machine_line, package_versions, write_section
from benchdocs import machine as machine_facts  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DATA = Path("/work/shared/data/web/html")
DEFAULT_INPUTS = [DATA / "gne_zh", DATA / "trafilatura_cache", DATA / "trafilatura_eval"]
DT_PY = REPO / "bench" / ".venv-datatrove" / "bin" / "python"
DT_SCRIPT = REPO / "bench" / "datatrove_html.py"
XIULIAN = REPO / ".venv" / "bin" / "xiulian"
SECTION = "## Pipeline throughput vs datatrove"
BACKENDS = ("trafilatura", "resiliparse")


NOTES = [
    "- **Extractor version**: `datatrove[processing]` pins `trafilatura<1.12` (1.11.0 here); xiulian uses "
    "trafilatura 2.x. Same lxml and pyarrow on both sides.",
    "- **Extractor options**: datatrove's `Trafilatura()` defaults to `favour_precision=True, deduplicate=True` "
    "and runs trafilatura's fallback extractors (readability, jusText); xiulian's extract step passes "
    "`favor_precision=False, deduplicate=False, include_tables=True, include_links=False` and its `fast` "
    "option (see the manifest line above; `fast = true` skips the fallbacks). Both pass "
    "`include_comments=False`. Extraction alone on these 469 pages, one process, measured directly: "
    "trafilatura 1.11 with datatrove's defaults 13.4 s, with xiulian's options 9.3 s, plus skipping the "
    "fallbacks 6.0 s; trafilatura 2.3 with the same three: 9.9 s, 9.6 s, 7.0 s. So most of the "
    "default-vs-default gap is extractor options, not framework. The row *datatrove, xiulian's trafilatura "
    "options* (trafilatura 1.11 called with xiulian's options, `no_fallback` = xiulian's `fast`) and the "
    "*same options* ratio column isolate the framework cost; with fallbacks skipped, trafilatura 1.11 is "
    "itself ~14% faster than 2.3, so that column slightly favours datatrove.",
    "- **Sandbox vs in-process**: datatrove extracts each page in a forked helper process (the HTML is pickled "
    "over a pipe, 1 s timeout per page); xiulian extracts in the worker itself with a SIGALRM time limit "
    "(its `timeout`, see the manifest line above).",
    "- **Decoding**: the datatrove reader decodes like datatrove's `WarcReader` (UTF-8, else cchardet's guess, "
    "else drop): 1 page (invalid UTF-8 that cchardet also calls UTF-8) is dropped before extraction; "
    "xiulian decodes all pages. Both count all pages as read.",
    "- **Work per page beyond extraction**: xiulian also NFC-normalises text, looks for a declared licence and "
    "writes a removal ledger and manifest; datatrove writes per-step stats. Parquet codecs differ "
    "(datatrove: snappy + content-defined chunking + page index; xiulian: zstd); datatrove's writer step "
    "takes under 1% of its run.",
    "- **Parallelism**: datatrove runs `tasks = workers = N` ranks (files round-robin, forkserver pool); "
    "xiulian (currently) groups single-page files into tasks of up to 64 files and runs them on a fork pool of N workers.",
]


@dataclass
class Config:
    tool: str  # "datatrove" | "xiulian"
    extractor: str  # "trafilatura" | "resiliparse"
    workers: int
    settings: str = "default"  # datatrove only: "default" Trafilatura() or "matched" (xiulian's options)
    fast: bool = False  # datatrove matched: mirror xiulian's trafilatura `fast` (no_fallback)
    runs: list[dict] = field(default_factory=list)

    @property
    def label(self) -> str:
        s = "" if self.settings == "default" else f"({self.settings})"
        return f"{self.tool}{s}/{self.extractor}/w{self.workers}"

    @property
    def display_tool(self) -> str:
        return self.tool if self.settings == "default" else f"{self.tool}, xiulian's trafilatura options"


def extract_config(backend: str) -> str:
    return f'[[steps]]\nuse = "extract"\nbackend = "{backend}"\n'


def command(cfg: Config, inputs: list[str], out: str, config_path: str) -> list[str]:
    if cfg.tool == "datatrove":
        cmd = [str(DT_PY), str(DT_SCRIPT), *inputs, "-o", out, "--workers", str(cfg.workers)]
        if cfg.settings != "default":
            cmd += ["--settings", cfg.settings] + (["--fast"] if cfg.fast else [])
        return cmd
    return [
        str(XIULIAN), "clean", *inputs, "-o", out, "--config", config_path,
        "--workers", str(cfg.workers), "--overwrite",
    ]


def display_command(cfg: Config, inputs: list[str]) -> str:
    """The command line as it is run, with the temp paths shown as placeholders."""
    cmd = command(cfg, inputs, "OUT", f"extract-{cfg.extractor}.toml")
    rel = []
    for a in cmd:
        try:
            a = str(Path(a).relative_to(REPO)) if a.startswith(str(REPO)) else a
        except ValueError:
            pass
        rel.append(a)
    return shlex.join(rel)


def _busy_cpu_seconds() -> float:
    """CPU seconds all processes on the machine have used since boot (from /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0.0
    return (sum(v) - v[3] - (v[4] if len(v) > 4 else 0)) / os.sysconf("SC_CLK_TCK")


def _become_subreaper() -> bool:
    """Adopt orphaned descendants (datatrove's forkserver workers outlive their parent), so that
    their CPU time shows up in RUSAGE_CHILDREN once reaped. Linux only; harmless elsewhere."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except Exception:
        return False


def _reap_orphans() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def run_once(cfg: Config, inputs: list[str], workdir: Path) -> dict:
    out = workdir / f"out-{cfg.tool}-{cfg.settings}-{cfg.extractor}-w{cfg.workers}"
    shutil.rmtree(out, ignore_errors=True)
    config_path = workdir / f"extract-{cfg.extractor}.toml"
    config_path.write_text(extract_config(cfg.extractor))
    cmd = command(cfg, inputs, str(out), str(config_path))
    ru0, busy0 = resource.getrusage(resource.RUSAGE_CHILDREN), _busy_cpu_seconds()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    time.sleep(0.2)  # let orphaned workers exit, then reap them to count their CPU time
    _reap_orphans()
    busy = _busy_cpu_seconds() - busy0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    ncpu = os.cpu_count() or 1
    if proc.returncode != 0:
        raise RuntimeError(
            f"{cfg.label} failed (rc={proc.returncode}): {shlex.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"
        )
    # share of the machine's CPUs that *other* processes used while this run was timed
    run = {"seconds": seconds, "cpu_seconds": own,
           "others": max(0.0, (busy - own) / ((seconds + 0.2) * ncpu))}
    if cfg.tool == "datatrove":
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        run.update(docs=info["docs"], kept=info["kept"], inner=info)
    else:
        manifest = json.loads((out / "manifest.json").read_text())
        counts = manifest["counts"]
        run.update(docs=counts["read"], kept=counts.get("kept"),
                   inner={"counts": counts, "removed_by": manifest.get("removed_by", {})})
    shutil.rmtree(out, ignore_errors=True)
    return run


def cpu_busy(interval: float = 0.5) -> float:
    """Fraction of all CPUs busy over `interval` seconds (from /proc/stat); 0.0 if unavailable."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle
    try:
        t0, i0 = snap()
        time.sleep(interval)
        t1, i1 = snap()
    except OSError:
        return 0.0
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def wait_idle(max_wait: float, threshold: float = 0.15) -> tuple[float, float]:
    """Wait (at most max_wait s) until other processes use under `threshold` of the CPUs.

    Returns (seconds waited, last busy fraction). The machine is shared; this keeps other
    people's jobs from landing in the middle of a timed run where it can."""
    t0 = time.perf_counter()
    busy = cpu_busy()
    while busy > threshold and time.perf_counter() - t0 < max_wait:
        time.sleep(1.0)
        busy = cpu_busy()
    return time.perf_counter() - t0, busy


def xiulian_extract_options(inputs: list[str], workdir: Path) -> dict:
    """The extract step's resolved options (timeout, fast, ...) as xiulian records them in
    OUT/manifest.json, from a run on a single page. The lead may change defaults at any time;
    the matched datatrove configuration follows whatever xiulian really ran with."""
    page = None
    for inp in inputs:
        p = Path(inp)
        if p.is_file():
            page = p
        else:
            page = next(iter(sorted(p.rglob("*.html.gz"))), None)
        if page:
            break
    if page is None:
        return {}
    out, cfg_path = workdir / "probe-out", workdir / "probe.toml"
    cfg_path.write_text(extract_config("trafilatura"))
    subprocess.run([str(XIULIAN), "clean", str(page), "-o", str(out), "--config", str(cfg_path),
                    "--workers", "1", "--overwrite"], cwd=REPO, capture_output=True, text=True)
    try:
        steps = json.loads((out / "manifest.json").read_text())["config"]["steps"]
        return next(s for s in steps if s.get("use") == "extract")
    except (OSError, KeyError, StopIteration, json.JSONDecodeError):
        return {}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def startup_seconds(cmd: list[str], n: int = 3) -> float:
    """Median wall time of a command that only starts the interpreter and imports."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fmt(x: float, nd: int = 2) -> str:
    return f"{x:.{nd}f}"


def extractor_label(cfg: Config, versions: dict, xi_fast: bool) -> str:
    label = (cfg.extractor + " " + (versions.get(cfg.tool, {}).get(cfg.extractor) or "")).strip()
    if cfg.extractor == "trafilatura":
        fast = cfg.fast if cfg.tool == "datatrove" else xi_fast
        label += " (fast: no fallbacks)" if fast else " (with fallbacks)"
    return label


def allowed_others(workers: int, contention: float) -> float:
    """Share of the CPUs other processes may use during a run before it counts as contended:
    the CPUs the run leaves free (a 1-worker run on 2 CPUs leaves one), plus `contention`."""
    ncpu = os.cpu_count() or 1
    return min(1.0, max(0.0, (ncpu - workers) / ncpu) + contention)


def build_table(configs: list[Config], versions: dict | None = None,
                xi_fast: bool = False) -> tuple[str, list[dict]]:
    """versions: {tool: {package: version}}, to show the extractor's version in the table.

    seconds = median over the configuration's clean runs (see allowed_others), or over all its
    runs (marked †) when none was clean."""
    versions = versions or {}
    rows = []
    dt_rate, dt_matched = {}, {}
    for cfg in configs:
        clean = [r for r in cfg.runs if r.get("clean", True)]
        use = clean or cfg.runs
        secs = statistics.median(r["seconds"] for r in use)
        docs = cfg.runs[0]["docs"]
        rate = docs / secs
        rows.append({"cfg": cfg, "docs": docs, "kept": cfg.runs[0].get("kept"), "seconds": secs,
                     "rate": rate, "per_worker": rate / cfg.workers,
                     "all": [fmt(r["seconds"]) + ("" if r.get("clean", True) else "*") for r in cfg.runs],
                     "cpu": statistics.median(r["cpu_seconds"] for r in use),
                     "clean": f"{len(clean)}/{len(cfg.runs)}" + ("" if clean else " †")})
        if cfg.tool == "datatrove":
            (dt_rate if cfg.settings == "default" else dt_matched)[cfg.workers] = rate
    with_matched = bool(dt_matched)
    lines = [
        "| tool | extractor | workers | docs | seconds (median) | docs/s | docs/s per worker "
        "| ratio vs datatrove |" + (" ratio vs datatrove, same options |" if with_matched else "")
        + " kept | clean runs | all runs (s) | CPU s (median) | docs per CPU s |",
        "|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if with_matched else "")
        + "---:|---:|---|---:|---:|---:|",
    ]

    def ratio_to(rate: float, base: float | None) -> str:
        return fmt(rate / base) if base else "n/a"

    for r in rows:
        cfg = r["cfg"]
        r["ratio"] = ratio_to(r["rate"], dt_rate.get(cfg.workers))
        r["ratio_matched"] = (
            ratio_to(r["rate"], dt_matched.get(cfg.workers))
            if cfg.tool == "xiulian" and cfg.extractor == "trafilatura" or cfg.settings == "matched" else "–"
        )
        lines.append(
            f"| {cfg.display_tool} | {extractor_label(cfg, versions, xi_fast)} | {cfg.workers} | {r['docs']} | {fmt(r['seconds'])} "
            f"| {fmt(r['rate'], 1)} | {fmt(r['per_worker'], 1)} | {r['ratio']} |"
            + (f" {r['ratio_matched']} |" if with_matched else "")
            + f" {r['kept']} | {r['clean']} | {', '.join(r['all'])} "
            f"| {fmt(r['cpu'])} | {fmt(r['docs'] / r['cpu'], 1) if r['cpu'] else 'n/a'} |"
        )
    return "\n".join(lines), rows


FINEWEB_SECTION = "## Whole pipeline vs datatrove"
JSONL_COPIES = 40


def build_warc(inputs: list[Path], path: Path) -> int:
    """Every *.html.gz page under `inputs` as a response record of one WARC.gz, one gzip member
    per record; URLs name the folder and file (example.org), ids and dates are fixed."""
    import gzip
    import io
    import uuid

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    pages = sorted(p for folder in inputs for p in Path(folder).rglob("*.html.gz"))
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for page in pages:
            body = gzip.decompress(page.read_bytes())
            url = f"https://{page.parent.name.replace('_', '-')}.example.org/{page.name[:-3]}"
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"),
                                               ("Content-Length", str(len(body)))],
                                    protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
                warc_headers_dict={"WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}>",
                                   "WARC-Date": "2026-01-15T10:00:00Z"}))
    return len(pages)


def build_jsonl(path: Path) -> int:
    """c4_demo, JSONL_COPIES times over, each copy's texts marked (throughput.sh's file, bigger)."""
    src = [json.loads(line) for line in open(DATA.parents[1] / "text" / "c4_demo.jsonl", encoding="utf-8")]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(JSONL_COPIES):
            for j, d in enumerate(src):
                f.write(json.dumps({"id": f"d{i}-{j}", "text": d["text"] + f" variant {i}"}) + "\n")
    return JSONL_COPIES * len(src)


def timed(cmd: list[str]) -> tuple[float, float, str, float]:
    """(wall seconds, CPU seconds of the command and its children, stdout, CPU seconds other
    processes on the machine used meanwhile: a clean run on this shared machine has ~0)."""
    ru0, busy0 = resource.getrusage(resource.RUSAGE_CHILDREN), _busy_cpu_seconds()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    _reap_orphans()
    ru1, busy = resource.getrusage(resource.RUSAGE_CHILDREN), _busy_cpu_seconds() - busy0
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return seconds, cpu, proc.stdout, max(0.0, busy - cpu)


def output_digest(out: Path) -> str:
    import hashlib
    h = hashlib.sha256()
    for sub in ("shards", "removed"):
        for part in sorted((out / sub).glob("*.parquet")):
            h.update(part.read_bytes())
    return h.hexdigest()[:16]


def precompile() -> None:
    """Byte-compile xiulian's packages, as pip does for an installed package (datatrove's, in
    its venv, are). An editable checkout run with PYTHONDONTWRITEBYTECODE set (this machine's
    shells set it) would otherwise compile every module from source on every run: ~0.2 s."""
    import compileall
    for package in ("corpus", "filters"):
        compileall.compile_dir(str(REPO / package), quiet=1)


def fineweb_suite(repeats: int, write: bool) -> None:
    """The whole pipelines side by side, and one file on one and two workers."""
    precompile()
    from filters.language import model_path
    sys.path.insert(0, str(REPO))
    import minhash_vs_peers  # bench/ is on the path: this script's folder
    minhash_texts = minhash_vs_peers.load_c4() * 10
    _become_subreaper()  # datatrove's helper processes: their CPU time is counted too
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xiulian-fineweb-") as tmp:
        work = Path(tmp)
        warc, jsonl = work / "pages.warc.gz", work / "c4x40.jsonl"
        n_pages, n_lines = build_warc(DEFAULT_INPUTS, warc), build_jsonl(jsonl)
        jsonl_mb = jsonl.stat().st_size / 1e6

        def xiulian(path: Path, workers: int, tag: str) -> dict:
            out = work / f"out-{tag}"
            shutil.rmtree(out, ignore_errors=True)
            seconds, cpu, _, others = timed([str(XIULIAN), "clean", str(path), "-o", str(out),
                                             "--workers", str(workers), "-q"])
            m = json.loads((out / "manifest.json").read_text())
            return {"seconds": seconds, "cpu": cpu, "others": others, "read": m["counts"]["read"],
                    "kept": m["counts"]["kept"], "tasks": m.get("map_tasks"),
                    "digest": output_digest(out)}

        def datatrove() -> dict:
            out = work / "out-datatrove"
            shutil.rmtree(out, ignore_errors=True)
            seconds, cpu, stdout, others = timed([str(DT_PY), str(DT_SCRIPT), "--fineweb", "--lid",
                                                  model_path(), str(warc), "-o", str(out),
                                                  "--workers", "1"])
            info = json.loads(stdout.strip().splitlines()[-1])
            dropped = {k.encode("ascii", "ignore").decode().replace("- FILTER:", "").strip(): v
                       for k, v in info["dropped"].items()}
            # pages in = the WARC's records on both sides (datatrove's reader drops some itself)
            return {"seconds": seconds, "cpu": cpu, "others": others, "read": n_pages, "kept": info["kept"],
                    "dropped": {"reader": n_pages - info["docs"], **dropped}}

        def extract_only(cfg: Config) -> dict:
            r = run_once(cfg, [str(i) for i in DEFAULT_INPUTS], work)
            return {"seconds": r["seconds"], "cpu": r["cpu_seconds"], "read": r["docs"],
                    "kept": r["kept"], "others": r["others"] * (r["seconds"] + 0.2) * (os.cpu_count() or 1)}

        runs: dict[str, list[dict]] = {}
        plan = [("datatrove FineWeb-style", datatrove),
                ("xiulian default, WARC, 1 worker", lambda: xiulian(warc, 1, "w1")),
                ("xiulian default, WARC, 2 workers", lambda: xiulian(warc, 2, "w2")),
                ("xiulian default, JSONL, 1 worker", lambda: xiulian(jsonl, 1, "j1")),
                ("xiulian default, JSONL, 2 workers", lambda: xiulian(jsonl, 2, "j2")),
                ("datatrove extract-only (Trafilatura() defaults)",
                 lambda: extract_only(Config("datatrove", "trafilatura", 1))),
                ("xiulian extract-only (resiliparse)",
                 lambda: extract_only(Config("xiulian", "resiliparse", 1)))]
        minhash_runs = []
        for rep in range(repeats):  # interleaved, so drifts in load hit every row alike
            for name, run in plan:
                runs.setdefault(name, []).append(run())
                print(f"[{rep + 1}/{repeats}] {name}: {runs[name][-1]['seconds']:.2f} s "
                      f"(others {runs[name][-1]['others']:.1f} CPU s)", file=sys.stderr)
            minhash_runs.append(minhash_vs_peers.readme_harness(minhash_texts, 3))
    med = {name: statistics.median(r["seconds"] for r in rs) for name, rs in runs.items()}
    cpu = {name: statistics.median(r["cpu"] for r in rs) for name, rs in runs.items()}
    others = {name: statistics.median(r["others"] for r in rs) for name, rs in runs.items()}
    dt, w1, w2 = (runs[k][0] for k in ("datatrove FineWeb-style", "xiulian default, WARC, 1 worker",
                                       "xiulian default, WARC, 2 workers"))
    j1, j2 = runs["xiulian default, JSONL, 1 worker"][0], runs["xiulian default, JSONL, 2 workers"][0]
    dt_name, dtx_name = "datatrove FineWeb-style", "datatrove extract-only (Trafilatura() defaults)"
    lines = [FINEWEB_SECTION, "",
             f"Measured {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')} at commit `{git_commit()}` by "
             f"`.venv/bin/python bench/pipeline_vs_datatrove.py --fineweb --repeats {repeats}`; "
             f"{machine_line()}; median of {repeats} interleaved runs, each the wall clock of the "
             "whole command (start-up, imports and writing included).", "",
             f"Input: the {n_pages} pages of {', '.join('`' + str(i) + '`' for i in DEFAULT_INPUTS)} "
             f"packed into one WARC.gz, one gzip member per record (extract-only rows: the same pages "
             f"as `.html.gz` files, as in the section above); and `c4_demo.jsonl` {JSONL_COPIES} "
             f"times over ({n_lines} lines, {jsonl_mb:.0f} MB). *others CPU s*: CPU time other "
             "processes on the machine used during the run (median; a clean run has about 0).", "",
             "| pipeline | input | workers | seconds | CPU s | others CPU s | read | kept | docs/s | vs datatrove per core |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, rs in runs.items():
        r = rs[0]
        workers = 2 if "2 workers" in name else 1
        rate = r["read"] / med[name]
        per_core = ""
        if name.startswith("xiulian default") and "WARC" in name:
            per_core = f"{rate / workers / (dt['read'] / med[dt_name]):.2f}x"
        elif name.startswith("xiulian extract-only"):
            per_core = f"{rate / (runs[dtx_name][0]['read'] / med[dtx_name]):.2f}x"
        kind = "JSONL" if "JSONL" in name else "HTML files" if "extract-only" in name else "WARC"
        lines.append(f"| {name.split(',')[0]} | {kind} | {workers} | {med[name]:.2f} | {cpu[name]:.2f} "
                     f"| {others[name]:.1f} | {r['read']} | {r['kept']} | {rate:.1f} | {per_core} |")
    warc_2w = med["xiulian default, WARC, 1 worker"] / med["xiulian default, WARC, 2 workers"]
    jsonl_2w = med["xiulian default, JSONL, 1 worker"] / med["xiulian default, JSONL, 2 workers"]
    per_core = med[dt_name] / med["xiulian default, WARC, 1 worker"]  # same pages on both sides
    extract = med[dtx_name] / med["xiulian extract-only (resiliparse)"]
    mh = statistics.median(m["ratio"] for m in minhash_runs)

    def verdict(value: float, target: float) -> str:
        return f"**{value:.2f}x** (target {target}x: {'met' if value >= target else 'not met'})"

    lines += ["",
              "Issue 21's targets, from this one run:", "",
              f"- One file, two workers: WARC {verdict(warc_2w, 1.8)} the one-worker rate "
              f"({w1['tasks']} tasks, same bytes: {w1['digest'] == w2['digest']}); JSONL "
              f"{verdict(jsonl_2w, 1.8)} ({j1['tasks']} tasks, same bytes: {j1['digest'] == j2['digest']}).",
              f"- The default pipeline per core against datatrove's FineWeb-style chain, same WARC: "
              f"{verdict(per_core, 4)}.",
              f"- resiliparse extract-only against datatrove's trafilatura extraction, one core each: "
              f"{verdict(extract, 8)}.",
              f"- MinHash signatures from raw text against rensa fed README-style word 5-grams "
              f"(`minhash_vs_peers.readme_harness`: c4_demo 10 times over, {minhash_runs[0]['docs']} "
              f"documents, CPU seconds, median of {len(minhash_runs)} rounds of 3): {verdict(mh, 1.5)} "
              f"(rensa {statistics.median(m['rensa_s'] for m in minhash_runs):.3f} s, ours "
              f"{statistics.median(m['xiulian_s'] for m in minhash_runs):.3f} s).", "",
              f"datatrove removals (reader: records its WarcReader did not turn into documents): "
              f"{json.dumps(dt['dropped'])}. xiulian runs its default config "
              "(`corpus/configs/default.toml`), which also deduplicates (exact and MinHash) and "
              "removes repeated paragraphs; datatrove's FineWeb chain has no dedup in it.", "",
              f"Versions: datatrove venv {json.dumps(package_versions(['datatrove', 'trafilatura'], DT_PY))}; "
              f"xiulian venv {json.dumps(package_versions(['xiulian', 'trafilatura', 'resiliparse']))}. "
              f"Whole benchmark: {time.perf_counter() - started:.0f} s.", ""]
    section = "\n".join(lines) + "\n"
    print(section)
    if write:
        write_section(FINEWEB_SECTION, section)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", help=f"input folders/files (default: the three folders in {DATA})")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true",
                    help="1 repeat, no warm-up, first input folder only; docs not written unless --write-docs")
    ap.add_argument("--tools", nargs="+", default=["datatrove", "xiulian"], choices=["datatrove", "xiulian"])
    ap.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS),
                    help="xiulian extract backends to run")
    ap.add_argument("--no-matched", action="store_true",
                    help="skip the extra datatrove run with xiulian's trafilatura options")
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--wait-idle", type=float, default=20.0, metavar="S",
                    help="before each timed run, wait up to S seconds for the CPUs to be idle "
                    "(shared machine); 0 disables (default: 20)")
    ap.add_argument("--retries", type=int, default=1,
                    help="re-run a timed run up to this many times when other processes used more than "
                    "--contention of the CPUs during it; the least contended attempt is kept (default: 1)")
    ap.add_argument("--contention", type=float, default=0.10,
                    help="share of the CPUs other processes may use during a timed run, on top of the "
                    "CPUs the run leaves free (default: 0.10)")
    ap.add_argument("--write-docs", action="store_true", help="write docs/BENCHMARKS.md even with --quick")
    ap.add_argument("--no-docs", action="store_true", help="do not write docs/BENCHMARKS.md")
    ap.add_argument("--fineweb", action="store_true",
                    help="the whole pipelines on one WARC, and one file on 1 and 2 workers (see above)")
    args = ap.parse_args(argv)
    if args.fineweb:
        fineweb_suite(args.repeats, write=not args.no_docs)
        return 0
    precompile()
    inputs = [str(p) for p in (args.inputs or DEFAULT_INPUTS)]
    repeats, warmup = args.repeats, not args.no_warmup
    if args.quick:
        repeats, warmup, inputs = 1, False, inputs[:1]
    write = (not args.no_docs) and (args.write_docs or not args.quick)

    if "datatrove" in args.tools and not DT_PY.exists():
        sys.exit(f"missing {DT_PY}: create the datatrove venv first (see this file's docstring)")
    if "xiulian" in args.tools and not XIULIAN.exists():
        sys.exit(f"missing {XIULIAN}: install xiulian into .venv first")

    xi_opts: dict = {}
    if "xiulian" in args.tools:
        with tempfile.TemporaryDirectory(prefix="xiulian-probe-") as tmp:
            xi_opts = xiulian_extract_options(inputs, Path(tmp))
    xi_fast = bool(xi_opts.get("fast", False))
    configs: list[Config] = []
    for w in args.workers:
        if "datatrove" in args.tools:
            configs.append(Config("datatrove", "trafilatura", w))
            if not args.no_matched:
                configs.append(Config("datatrove", "trafilatura", w, settings="matched", fast=xi_fast))
        if "xiulian" in args.tools:
            configs.extend(Config("xiulian", b, w) for b in args.backends)

    _become_subreaper()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean the temp folder on kill
    machine = machine_facts()
    load_before = os.getloadavg()
    print(f"# machine: nproc={machine['cores']} cpu={machine['cpu']} load={load_before}", file=sys.stderr)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xiulian-bench-") as tmp:
        workdir = Path(tmp)
        if warmup:
            for cfg in configs:
                print(f"warm-up {cfg.label} ...", file=sys.stderr, flush=True)
                run_once(cfg, inputs, workdir)
        # interleave the configurations so slow drifts in machine load hit all of them alike
        for rep in range(repeats):
            for cfg in configs:
                best = None
                for attempt in range(1 + max(0, args.retries)):
                    waited, busy = wait_idle(args.wait_idle) if args.wait_idle > 0 else (0.0, cpu_busy(0.2))
                    r = run_once(cfg, inputs, workdir)
                    r["busy_before"], r["attempts"] = busy, attempt + 1
                    print(f"[{rep + 1}/{repeats}] {cfg.label}: {r['docs']} docs in {r['seconds']:.2f}s "
                          f"({r['docs'] / r['seconds']:.1f} docs/s; waited {waited:.0f}s for idle CPUs; "
                          f"others used {r['others']:.0%} of the CPUs during the run)",
                          file=sys.stderr, flush=True)
                    r["clean"] = r["others"] <= allowed_others(cfg.workers, args.contention)
                    if best is None or r["others"] < best["others"]:
                        best = r
                    if r["clean"]:
                        break
                best["attempts"] = attempt + 1
                cfg.runs.append(best)
    total = time.perf_counter() - t_start
    load_after = os.getloadavg()

    # start-up cost (interpreter + imports) of each side, measured separately
    startup = {}
    if "datatrove" in args.tools:
        startup["datatrove (python + datatrove/trafilatura imports)"] = startup_seconds(
            [str(DT_PY), "-c", "from datatrove.executor import LocalPipelineExecutor; "
             "from datatrove.pipeline.extractors import Trafilatura; "
             "from datatrove.pipeline.writers import ParquetWriter; import trafilatura"])
    if "xiulian" in args.tools:
        startup["xiulian (python + corpus/trafilatura/resiliparse/pyarrow imports)"] = startup_seconds(
            [str(REPO / ".venv" / "bin" / "python"), "-c",
             "import corpus.cli, corpus.extract, trafilatura, pyarrow.parquet, "
             "resiliparse.extract.html2text"])
        startup["`xiulian clean --help`"] = startup_seconds([str(XIULIAN), "clean", "--help"])

    dt_versions = package_versions(["datatrove", "trafilatura", "lxml", "pyarrow"], DT_PY) if DT_PY.exists() else {}
    our_versions = package_versions(["xiulian", "trafilatura", "resiliparse", "lxml", "pyarrow"],
                                    REPO / ".venv" / "bin" / "python")
    table, rows = build_table(configs, {"datatrove": dt_versions, "xiulian": our_versions}, xi_fast)
    print(table)
    dt_inner = [r["inner"] for c in configs if c.tool == "datatrove" for r in c.runs]

    md = [SECTION, ""]
    md.append(
        f"Measured {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')} at commit `{git_commit()}` by "
        f"`.venv/bin/python bench/pipeline_vs_datatrove.py"
        f"{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}`."
    )
    md.append("")
    md.append(
        "Work: read every gzip-compressed HTML page, extract the main text, write Parquet. "
        f"Inputs: {', '.join('`' + i + '`' for i in inputs)}. "
        f"Each configuration: {'one warm-up run, then ' if warmup else ''}{repeats} timed run(s), "
        "interleaved. Seconds are the wall clock of the whole command "
        "(subprocess: interpreter start-up, imports, worker start-up and writing included on both sides). "
        "docs/s = pages read / seconds; ratio = xiulian docs/s / datatrove docs/s at the same worker count. "
        "CPU s = user + system CPU time of the command and all its processes (worker and helper processes "
        "included): less sensitive than wall clock to other jobs on this shared machine. A run is *clean* "
        "when other processes used at most the CPUs it left free plus "
        f"{args.contention:.0%} of the machine while it ran (a 1-worker run on 2 CPUs may share the machine "
        "with one busy CPU); *seconds* is the median of the clean runs (of all runs, marked †, when none "
        "was clean); contended runs are marked * in *all runs*."
    )
    md.append("")
    md.append(table)
    md.append("")
    all_runs = [r for c in configs for r in c.runs]
    n_runs = len(all_runs)
    contended = sum(not r["clean"] for r in all_runs)
    retried = sum(r["attempts"] - 1 for r in all_runs)
    worst = max((r["others"] for r in all_runs), default=0.0)
    md.append(f"Machine: {machine_line()}, Python {platform.python_version()}. "
              f"Load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f} "
              "(shared machine: timings are noisy). "
              f"Before each timed run the benchmark waited up to {args.wait_idle:.0f} s for the CPUs to be "
              f"idle, measured the CPU time other processes used during the run (machine total from "
              f"/proc/stat minus the run's own, orphaned workers included), and re-ran a run that was not "
              f"clean (up to {args.retries} times, keeping the least contended): {retried} re-runs; "
              f"{contended} of {n_runs} kept runs are still contended (worst: others used {worst:.0%} "
              "of the CPUs).")
    md.append("")
    if xi_opts:
        md.append("xiulian's extract step options, as recorded in its manifest: "
                  + ", ".join(f"`{k} = {json.dumps(v)}`" for k, v in xi_opts.items()) + ".")
        md.append("")
    md.append(f"Versions: datatrove venv {json.dumps(dt_versions)}; xiulian venv {json.dumps(our_versions)}.")
    md.append("")
    if startup:
        md.append("Start-up only (median of 3, included in every timing above): "
                  + "; ".join(f"{k}: {v:.2f} s" for k, v in startup.items()) + ".")
        md.append("")
    if dt_inner:
        to = sum(i.get("timeouts", 0) for i in dt_inner)
        inner = "; ".join(
            f"{c.label}: {statistics.median(r['inner']['pipeline_seconds'] for r in c.runs):.2f} s"
            for c in configs if c.tool == "datatrove"
        )
        md.append(
            f"datatrove in-process, median time inside `executor.run()` (the rest of each run is "
            f"interpreter start-up and imports): {inner}. {to} extractor timeouts over {len(dt_inner)} runs; "
            f"pages decoded/extracted/written per run: {dt_inner[0]['decoded']}/{dt_inner[0]['extracted']}"
            f"/{dt_inner[0]['kept']}."
        )
        md.append("")
    xi = [c for c in configs if c.tool == "xiulian"]
    if xi:
        parts = []
        for c in xi:
            rb = c.runs[0]["inner"].get("removed_by") or {}
            parts.append(f"{c.label}: " + (", ".join(f"{k} x{v}" for k, v in sorted(rb.items())) or "none"))
        md.append("xiulian removals (first timed run of each configuration): " + "; ".join(parts) + ".")
        md.append("")
    md.append("Command lines (OUT is a fresh temporary folder per run):")
    md.append("")
    md.append("```sh")
    seen = set()
    for cfg in configs:
        key = (cfg.tool, cfg.settings, cfg.extractor, cfg.workers)
        if key not in seen:
            seen.add(key)
            md.append(display_command(cfg, inputs))
    md.append("```")
    md.append("")
    if "xiulian" in args.tools:
        md.append("Extract-only configs, `extract-<backend>.toml`:")
        md.append("")
        md.append("```toml")
        md.append(extract_config("trafilatura").rstrip() + '   # or backend = "resiliparse"')
        md.append("```")
        md.append("")
    md.append("What differs between the two sides (read before quoting the ratio):")
    md.append("")
    md.extend(NOTES)
    md.append("")
    md.append(f"Whole benchmark took {total:.0f} s.")
    section = "\n".join(md) + "\n"

    if write:
        write_section(SECTION, section)
        print(f"wrote {docs_path()} ({SECTION})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
