"""What a path or URI names, and which filesystem serves it.

Inputs and outputs may be plain paths or URIs: `s3://bucket/key`, `gs://bucket/key`,
`hdfs://host:port/path`, `file:///abs/path` (pyarrow's own filesystems), or any other scheme
fsspec knows when fsspec is installed (through pyarrow's FSSpecHandler). URIs stay strings
everywhere (task specs pickle to Ray workers as they are); each process resolves them to a
filesystem once per bucket or host. In a URI `?` starts the options pyarrow reads
(`s3://bucket/out?region=eu-west-1&endpoint_override=...`); they ride along when names are
joined onto it.
"""
from __future__ import annotations

import os
import posixpath
import re
from functools import lru_cache
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from .errors import UserError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
LOCAL_SCHEMES = ("file", "local")
PATH_ONLY_SCHEMES = ("hdfs", "viewfs")  # the path after host:port is the filesystem path


def is_uri(path: str) -> bool:
    return bool(_SCHEME.match(str(path)))


_FILESYSTEMS: dict[tuple[str, str, str], pafs.FileSystem] = {}


def _filesystem(scheme: str, netloc: str, query: str) -> pafs.FileSystem:
    """A filesystem for one bucket or host (made once per process: S3 may look up the region)."""
    key = (scheme, netloc, query)
    if key not in _FILESYSTEMS:
        _FILESYSTEMS[key] = _make_filesystem(scheme, netloc, query)
    return _FILESYSTEMS[key]


# Options of an s3:// URI that pyarrow's URI parser does not know; this module applies them.
# Every S3 request is retried by the AWS SDK's "standard" mode (exponential backoff with
# jitter, capped at 20 s) on 5xx answers, throttling, dropped connections and timeouts.
S3_OPTIONS = {"max_attempts": int, "connect_timeout": float, "request_timeout": float}
S3_MAX_ATTEMPTS = 10  # the AWS CLI's default is 3; a long batch job rides out a longer blip


def _s3_options(query: str) -> tuple[dict, str]:
    """(our options, the rest of the query for pyarrow) from an s3:// URI's query."""
    ours, rest = {}, []
    for item in filter(None, query.split("&")):
        key, _, value = item.partition("=")
        if key not in S3_OPTIONS:
            rest.append(item)
            continue
        try:
            ours[key] = S3_OPTIONS[key](value)
        except ValueError:
            raise UserError(f"s3:// option {key}={value!r} is not a number") from None
        if ours[key] <= 0:
            raise UserError(f"s3:// option {key} must be positive")
    return ours, "&".join(rest)


def _s3_filesystem(netloc: str, query: str) -> pafs.FileSystem:
    """pyarrow's S3 filesystem as its URI parser makes it, with our retry strategy and the
    timeouts a URI may name (`?max_attempts=5&request_timeout=10&connect_timeout=2`)."""
    ours, rest = _s3_options(query)
    parsed = pafs.FileSystem.from_uri(f"s3://{netloc}/" + (f"?{rest}" if rest else ""))[0]
    options = parsed.__reduce__()[1][0]  # the options pyarrow itself pickles the filesystem with
    for key in ("connect_timeout", "request_timeout"):
        options[key] = ours.get(key, options[key] if options[key] > 0 else None)
    # A delayed open sends an object smaller than one part as a single PUT when it is closed
    # (1 request, not a multipart upload's 3); either way it appears whole or not at all.
    options["allow_delayed_open"] = True
    attempts = ours.get("max_attempts", S3_MAX_ATTEMPTS)
    return pafs.S3FileSystem(**options, retry_strategy=pafs.AwsStandardS3RetryStrategy(attempts))


def _make_filesystem(scheme: str, netloc: str, query: str) -> pafs.FileSystem:
    if scheme in LOCAL_SCHEMES:
        return pafs.LocalFileSystem()
    root = f"{scheme}://{netloc}/" + (f"?{query}" if query else "")
    try:
        if scheme == "s3":
            return _s3_filesystem(netloc, query)
        return pafs.FileSystem.from_uri(root)[0]
    except pa.ArrowInvalid as exc:
        if "Unrecognized filesystem type" not in str(exc):
            raise UserError(f"{root}: {exc}") from None
    except (OSError, pa.ArrowException) as exc:
        raise UserError(f"cannot open {root}: {exc}") from None
    return _fsspec_filesystem(scheme)


def _fsspec_filesystem(scheme: str) -> pafs.FileSystem:
    known = "pyarrow knows file://, s3://, gs://, hdfs://"
    try:
        import fsspec
    except ImportError:
        raise UserError(f"unknown URI scheme {scheme}:// ({known}; install fsspec for others)") from None
    try:
        handler = pafs.FSSpecHandler(fsspec.filesystem(scheme))
    except ValueError:
        raise UserError(f"unknown URI scheme {scheme}:// ({known}, and fsspec does not "
                        "know it either)") from None
    except ImportError as exc:
        raise UserError(f"{scheme}:// needs a package fsspec could not import: {exc}") from None
    return pafs.PyFileSystem(handler)


def resolve(path: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a plain path or a URI; a UserError for an unknown scheme."""
    if not is_uri(path):
        return _filesystem("file", "", ""), os.path.abspath(path)
    return _resolve_uri(path)


@lru_cache(maxsize=4096)
def _resolve_uri(uri: str) -> tuple[pafs.FileSystem, str]:
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    fs = _filesystem(scheme, parts.netloc, parts.query)
    if isinstance(fs, pafs.PyFileSystem):  # fsspec: each protocol has its own convention
        return fs, fs.handler.fs._strip_protocol(uri.split("?", 1)[0])
    if scheme in LOCAL_SCHEMES:
        if parts.netloc not in ("", "localhost"):
            raise UserError(f"{uri}: a file:// URI names an absolute path: file:///abs/path")
        return fs, unquote(parts.path)
    if scheme in PATH_ONLY_SCHEMES:
        return fs, unquote(parts.path)
    return fs, unquote(parts.netloc + parts.path).rstrip("/")  # s3, gs: bucket/key


def _forget_filesystems() -> None:
    _FILESYSTEMS.clear()
    _resolve_uri.cache_clear()


# A forked worker makes its own clients instead of sharing the parent's connections.
os.register_at_fork(after_in_child=_forget_filesystems)


def local_path(path: str) -> str | None:
    """The path on this machine's disk for a plain path or a file:// URI, else None."""
    if not is_uri(path):
        return path
    if urlsplit(path).scheme.lower() not in LOCAL_SCHEMES:
        return None
    return resolve(path)[1]


def renames(path: str) -> bool:
    """Whether a rename there is atomic (local disks, HDFS) -- object stores have none."""
    if not is_uri(path):
        return True
    fs = resolve(path)[0]
    return isinstance(fs, pafs.LocalFileSystem) or fs.type_name == "hdfs"


# Names ------------------------------------------------------------------------------------

def join(base: str, *parts: str) -> str:
    if not is_uri(base):
        return os.path.join(base, *parts)
    head, sep, query = base.partition("?")
    for part in parts:  # escape only what would end the path: names stay readable
        escaped = part.replace("%", "%25").replace("?", "%3F").replace("#", "%23")
        head = head.rstrip("/") + "/" + escaped
    return head + sep + query


def split_uri(uri: str) -> tuple[str, str, str]:
    """('s3://bucket', '/a/b', '?q') for 's3://bucket/a/b?q'."""
    head, sep, query = uri.partition("?")
    scheme_end = head.index("://") + 3
    slash = head.find("/", scheme_end)
    if slash < 0:
        return head, "", sep + query
    return head[:slash], head[slash:], sep + query


def with_suffix(path: str, suffix: str) -> str:
    """`path` with `suffix` appended to its last name ('out/00001' -> 'out/00001.tmp-7')."""
    head, sep, query = path.partition("?") if is_uri(path) else (path, "", "")
    return head.rstrip("/") + suffix + sep + query


def name(path: str) -> str:
    if not is_uri(path):
        return os.path.basename(path)
    return unquote(posixpath.basename(split_uri(path)[1].rstrip("/")))


def parent(path: str) -> str:
    if not is_uri(path):
        return os.path.dirname(path) or "."
    root, inner, query = split_uri(path)
    return root + (posixpath.dirname(inner.rstrip("/")) or "/") + query


def relative(path: str, start: str) -> str:
    """`path` relative to the folder `start` (both plain, or both URIs of one filesystem)."""
    if not is_uri(path):
        return os.path.relpath(path, start)
    return posixpath.relpath(resolve(path)[1], resolve(start)[1])


def common_parent(paths: list[str]) -> str:
    """The deepest folder holding all of `paths` (files)."""
    if not is_uri(paths[0]):
        return os.path.commonpath([os.path.dirname(p) or "." for p in paths])
    root, _, query = split_uri(paths[0])
    inner = posixpath.commonpath([posixpath.dirname(split_uri(p)[1]) or "/" for p in paths])
    return root + inner + query
