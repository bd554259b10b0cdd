"""Find the input files behind the paths a user names, and group them into tasks.

An input is a file, a directory (walked recursively) or a glob, as a local path or a URI
(`s3://...`, `gs://...`, `file:///...`; see fs.py). Each file gets a format from its name, a
path relative to the input it came from (recorded as `metadata.file`, so ids and metadata do
not depend on where the data sits, on disk or in a bucket) and a source label.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from . import fs
from .errors import UserError
from .output_layout import MANIFEST_FILE, SHARDS_DIR

COMPRESSIONS = (".gz", ".zst")
FORMATS = {
    ".warc": "warc", ".arc": "warc", ".wet": "warc",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
    ".parquet": "parquet", ".html": "html", ".htm": "html", ".xhtml": "html",
    ".txt": "text",
}
# One document per file: many small files are grouped into one task.
SINGLE_DOCUMENT = {"html", "text"}
GROUP_FILES = 64
GROUP_BYTES = 32 << 20


@dataclass(frozen=True)
class InputFile:
    path: str     # as found on disk, or a URI
    rel: str      # relative to the input root: metadata.file, and part of generated ids
    format: str   # warc | jsonl | json | parquet | html | text
    source: str   # the label written to the `source` column
    size: int


def split_name(name: str) -> tuple[str, str, str]:
    """'a.warc.gz' -> ('a', '.warc', '.gz'): stem, format extension, compression."""
    base, compression = name, ""
    for suffix in COMPRESSIONS:
        if base.lower().endswith(suffix):
            base, compression = base[: -len(suffix)], suffix
            break
    stem, ext = os.path.splitext(base)
    if ext.lower() == ".wet" or ext.lower() == ".warc":
        stem = stem[: -len(".warc")] if stem.lower().endswith(".warc") else stem
    return stem, ext.lower(), compression


def format_of(name: str) -> str | None:
    return FORMATS.get(split_name(name)[1])


def _source_for(path: str, fmt: str, from_directory: bool, source: str | None) -> str:
    if source:
        return source
    if fmt in SINGLE_DOCUMENT and from_directory:
        if fs.is_uri(path):
            return fs.name(fs.parent(path))
        return os.path.basename(os.path.dirname(os.path.abspath(path)))
    return split_name(fs.name(path))[0]


def _walk(directory: str) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(os.path.join(dirpath, f) for f in sorted(filenames) if not f.startswith("."))
    return found


def _expand_local(spec: str) -> tuple[str, list[tuple[str, int]], bool]:
    """(root, [(path, size)], came from a folder or glob) for a local path, folder or glob."""
    if os.path.isdir(spec):
        candidates, root, from_dir = _walk(spec), spec, True
    elif os.path.isfile(spec):
        candidates, root, from_dir = [spec], os.path.dirname(spec) or ".", False
    elif glob.has_magic(spec):
        candidates = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
        if not candidates:
            raise UserError(f"no files match {spec!r}")
        root, from_dir = fs.common_parent(candidates), True
    else:
        raise UserError(f"no such file or directory: {spec}")
    return root, [(p, os.path.getsize(p)) for p in candidates], from_dir


def _expand_uri(spec: str) -> tuple[str, list[tuple[str, int]], bool]:
    """The same for a URI, listed through its filesystem (fs.walk and fs.glob keep the local
    rules: sorted names, hidden files skipped)."""
    try:
        if fs.is_dir(spec):
            return spec, fs.walk(spec), True
        if fs.is_file(spec):
            return fs.parent(spec), [(spec, fs.size(spec))], False
        if fs.has_magic(spec):
            candidates = fs.glob(spec)
            if not candidates:
                raise UserError(f"no files match {spec!r}")
            return fs.common_parent([p for p, _ in candidates]), candidates, True
    except OSError as exc:  # no credentials, no such bucket, no network ...
        raise UserError(f"cannot read {spec}: {exc}") from None
    raise UserError(f"no such file or directory: {spec}")


def discover(paths: list[str], source: str | None = None
             ) -> tuple[list[InputFile], list[str], list[str]]:
    """Resolve user paths to input files (in a stable order), the files skipped as unknown, and
    the files named more than once (read once: `dedup A A` must not see each document twice)."""
    files: list[InputFile] = []
    ignored: list[str] = []
    repeated: list[str] = []
    seen: set[str] = set()
    for spec in map(_kept_shards_of_output, paths):
        root, candidates, from_dir = (_expand_uri if fs.is_uri(spec) else _expand_local)(spec)
        for path, size in candidates:
            fmt = format_of(fs.name(path))
            if fmt is None:
                if not from_dir:
                    raise UserError(f"unsupported input format: {path} "
                                    f"(known: {', '.join(sorted(FORMATS))}, optionally .gz/.zst)")
                ignored.append(path)
                continue
            key = path if fs.is_uri(path) else os.path.realpath(path)
            if key in seen:
                repeated.append(path)
                continue
            seen.add(key)
            rel = fs.relative(path, root)
            files.append(InputFile(path, rel, fmt, _source_for(path, fmt, from_dir, source), size))
    if not files:
        raise UserError(_nothing_found(paths, ignored))
    return files, ignored, repeated


def _kept_shards_of_output(spec: str) -> str:
    """A finished clean output named as input means its kept shards, not every file under it:
    its removed ledger, dedup index and reports would come back as documents."""
    folder = spec.rstrip("/")
    if (not fs.has_magic(spec) and fs.is_dir(folder) and fs.is_file(fs.join(folder, MANIFEST_FILE))
            and fs.is_dir(fs.join(folder, SHARDS_DIR))):
        return fs.join(folder, SHARDS_DIR)
    return spec


def _nothing_found(paths: list[str], ignored: list[str]) -> str:
    """Why no input file was found: what was seen, and why each was skipped."""
    where = ", ".join(paths)
    if not ignored:
        return (f"no input files found in {where}: the folder(s) hold no files "
                "(hidden files and folders, whose names start with '.', are skipped)")
    shown = "; ".join(f"{fs.name(p)} (unknown format {split_name(fs.name(p))[1] or 'no extension'})"
                      for p in ignored[:5])
    more = f"; and {len(ignored) - 5} more" if len(ignored) > 5 else ""
    return (f"no input files found in {where}: {len(ignored)} file(s) seen, none of a known "
            f"format: {shown}{more} (known: {', '.join(sorted(FORMATS))}, optionally .gz/.zst)")


def plan_tasks(files: list[InputFile]) -> list[list[InputFile]]:
    """Group files into tasks: each record file alone, small one-document files in batches.

    Grouping depends only on the file list, never on the worker count, so the output does not
    either.
    """
    tasks: list[list[InputFile]] = []
    group: list[InputFile] = []
    group_bytes = 0
    for f in files:
        if f.format not in SINGLE_DOCUMENT:
            if group:
                tasks.append(group)
                group, group_bytes = [], 0
            tasks.append([f])
            continue
        if group and (len(group) >= GROUP_FILES or group_bytes + f.size > GROUP_BYTES):
            tasks.append(group)
            group, group_bytes = [], 0
        group.append(f)
        group_bytes += f.size
    if group:
        tasks.append(group)
    return tasks
