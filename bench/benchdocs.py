"""Shared by the benchmark scripts: put one `## Section` of docs/BENCHMARKS.md in place, and the
lines every section carries (the command, the versions compared, the machine), so that each
section says how it was made; and run a command while sampling it (memory). Standard library
only: the datatrove venv imports it too.

XIULIAN_BENCH_DOCS=/tmp/bench.md sends every section to another file (smoke runs, trials), so
docs/BENCHMARKS.md keeps the numbers of the last real run.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "BENCHMARKS.md"
DOCS_ENV = "XIULIAN_BENCH_DOCS"
TITLE = "# Benchmarks"


def docs_path() -> Path:
    """docs/BENCHMARKS.md, or the file named by $XIULIAN_BENCH_DOCS."""
    return Path(os.environ[DOCS_ENV]) if os.environ.get(DOCS_ENV) else DOCS


def write_section(title: str, section: str, path: Path | None = None) -> None:
    """Replace the section headed `title` with `section` (which starts with that heading), or
    append it; every other section stays as it is. `path` defaults to docs_path()."""
    path = Path(path) if path is not None else docs_path()
    text = path.read_text(encoding="utf-8") if path.exists() else TITLE + "\n"
    pattern = re.compile(rf"^{re.escape(title)}\s*$.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section.rstrip() + "\n\n", text, count=1)
    else:
        text = text.rstrip() + "\n\n" + section.rstrip() + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n", encoding="utf-8")


def publish(title: str, section: str, write: bool = True) -> None:
    """Print a benchmark's section and, unless told not to (--no-docs), put it in the docs."""
    print(section)
    if write:
        write_section(title, section)


def write_preamble(preamble: str, path: Path | None = None) -> None:
    """Replace what stands between the page title and its first `## ` section."""
    path = Path(path) if path is not None else docs_path()
    text = path.read_text(encoding="utf-8") if path.exists() else TITLE + "\n"
    first = re.search(r"^## ", text, re.M)
    rest = text[first.start():] if first else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{TITLE}\n\n{preamble.strip()}\n\n{rest}".rstrip() + "\n", encoding="utf-8")


def command(script: str, argv: list[str] | None = None) -> str:
    """How to re-run a benchmark from the repository root, e.g. `.venv/bin/python bench/x.py --a 1`."""
    argv = sys.argv[1:] if argv is None else argv
    return " ".join([".venv/bin/python", f"bench/{Path(script).name}", *map(shlex.quote, argv)])


def package_versions(packages: list[str], python: str | Path | None = None) -> dict[str, str]:
    """{package: version} from importlib.metadata, in this interpreter or in `python` (another
    venv); "not installed" where missing."""
    if python is not None:
        code = ("import importlib.metadata as m, json, sys\nout = {}\nfor p in sys.argv[1:]:\n"
                "    try: out[p] = m.version(p)\n    except m.PackageNotFoundError: out[p] = 'not installed'\n"
                "print(json.dumps(out))")
        try:
            run = subprocess.run([str(python), "-c", code, *packages], capture_output=True, text=True,
                                 timeout=60)
            return json.loads(run.stdout)
        except (OSError, ValueError, subprocess.SubprocessError):
            return {p: "unknown" for p in packages}
    out = {}
    for p in packages:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def versions(packages: list[str], python: str | Path | None = None) -> str:
    """'datasketch 2.0.0, rensa 0.5.0, Python 3.11.7': the versions a section compares."""
    found = package_versions(packages, python)
    if python is None:
        py = platform.python_version()
    else:
        py = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    return ", ".join([f"{p} {v}" for p, v in found.items()] + [f"Python {py}"])


def machine() -> dict:
    """CPU model, cores, memory and kernel, from /proc where Linux has it."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = float("nan")
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 2**20
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "mem_gib": mem_gib,
            "system": f"{platform.system()} {platform.release()}", "machine": platform.machine()}


def load_average() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"


def machine_line() -> str:
    """'Intel(R) Xeon(R) Processor, 2 cores, 24 GiB RAM, Linux 6.18 (x86_64)'."""
    m = machine()
    return (f"{m['cpu']}, {m['cores']} cores, {m['mem_gib']:.0f} GiB RAM, {m['system']} "
            f"({m['machine']})")


def git_commit() -> str:
    """Short commit of the checkout, '+dirty' when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return (head or "unknown") + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def run_sampled(command: list[str], sample: Callable[[int], None], every: float = 0.1,
                cwd: Path = REPO) -> tuple[float, str]:
    """Run `command`, calling sample(pid) every `every` seconds while it runs; (seconds, stderr).
    Exits with its stderr's tail if it fails."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, stderr=subprocess.PIPE, text=True)

    def watch():
        while proc.poll() is None:
            sample(proc.pid)
            time.sleep(every)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stderr = proc.communicate()[1]
    seconds = time.perf_counter() - started
    watcher.join()
    if proc.returncode:
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({proc.returncode}): {stderr[-2000:]}")
    return seconds, stderr
