"""A real S3-compatible server on 127.0.0.1 for the object-store and cluster tests, and a small
HTTP proxy in front of it that injects faults (5xx answers, dropped connections, slow
answers) and counts requests.

The server is moto's (`moto.server`, in its own process): it speaks the S3 REST API that
pyarrow's S3 filesystem uses -- ranged GETs, listing (ListObjectsV2), single PUTs and
multipart uploads -- and enforces conditional writes (If-None-Match), so what passes here is
what the client library does against S3, not a mock of our own code.
"""
from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow.fs as pafs

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "xiulian-test", "AWS_SECRET_ACCESS_KEY": "xiulian-test",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """moto's S3 server in a subprocess, on a free port of 127.0.0.1."""

    def __init__(self):
        self.port = free_port()
        self.log = tempfile.TemporaryFile()  # its request log: a pipe nobody reads would fill up
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=self.log, env={**os.environ, **CREDENTIALS})
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/moto-api/", timeout=2)
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.log.seek(0)
                    said = self.log.read().decode(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"the S3 server did not start: {said}")
                time.sleep(0.1)

    def filesystem(self) -> pafs.S3FileSystem:
        """A client talking to the server directly (no proxy), allowed to make buckets."""
        return pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{self.port}", scheme="http",
                                 region="us-east-1", access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                 secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                                 allow_bucket_creation=True, allow_bucket_deletion=True)

    def create_bucket(self, name: str) -> None:
        self.filesystem().create_dir(name)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@dataclass
class Fault:
    """What to do to requests whose method and path match: `status` (answer that HTTP error,
    S3-style), `drop` (close the connection without an answer) or `delay` (answer `seconds`
    late). `times` matching requests are hit, then the fault is spent (None: never spent)."""
    kind: str
    method: str = ""
    path: str = ""
    times: int | None = None
    status: int = 503
    seconds: float = 0.0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return ((not self.method or method == self.method) and re.search(self.path, path) is not None
                and (self.times is None or self.hits < self.times))


ERROR_CODES = {500: "InternalError", 503: "SlowDown"}


@dataclass
class Log:
    """Requests seen: (method, path) in order, their answers' status codes, and bytes moved."""
    requests: list[tuple[str, str]] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    bytes_in: int = 0    # request bodies (uploads)
    bytes_out: int = 0   # response bodies (downloads)


class FaultProxy:
    """An HTTP/1.1 proxy on 127.0.0.1 in front of `upstream_port`, in a thread of this process."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.faults: list[Fault] = []
        self.log = Log()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def inject(self, kind: str, **options) -> Fault:
        fault = Fault(kind, **options)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> Log:
        """Remove every fault and start a new log; returns the old one."""
        with self._lock:
            self.faults.clear()
            log, self.log = self.log, Log()
        return log

    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    def _record(self, method: str, path: str, status: int, sent: int, received: int) -> None:
        with self._lock:
            self.log.requests.append((method, path))
            self.log.statuses[status] += 1
            self.log.bytes_in += sent
            self.log.bytes_out += received

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(proxy: FaultProxy):
    local = threading.local()

    def upstream() -> http.client.HTTPConnection:
        if getattr(local, "connection", None) is None:
            local.connection = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
        return local.connection

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # answer in one go, not 40 ms apart (delayed ACKs)

        def log_message(self, *args) -> None:
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while (size := int(self.rfile.readline().split(b";")[0], 16)):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _proxy(self) -> None:
            body = self._body()
            path = self.path.split("?", 1)[0]
            fault = proxy._fault_for(self.command, path)
            if fault and fault.kind == "drop":
                proxy._record(self.command, path, 0, len(body), 0)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault and fault.kind == "status":
                code = ERROR_CODES.get(fault.status, "ServiceUnavailable")
                answer = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>"
                          f"<Message>injected by the test proxy</Message></Error>").encode()
                self.send_response(fault.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                proxy._record(self.command, path, fault.status, len(body), len(answer))
                return
            if fault and fault.kind == "delay":
                time.sleep(fault.seconds)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("transfer-encoding", "content-length", "connection")}
            headers["Content-Length"] = str(len(body))
            for attempt in range(2):  # a kept-alive upstream connection may have been closed
                try:
                    connection = upstream()
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    answer = response.read()
                    break
                except (http.client.HTTPException, OSError):
                    local.connection = None
                    if attempt:
                        raise
            self.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length",
                                       "server", "date"):
                    self.send_header(key, value)
            if self.command != "HEAD" or response.getheader("Content-Length") is None:
                self.send_header("Content-Length", str(len(answer)))
            else:
                self.send_header("Content-Length", response.getheader("Content-Length"))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer)
            proxy._record(self.command, path, response.status, len(body), len(answer))

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _proxy

    return Handler


def s3_uri(port: int, bucket: str, key: str = "", **options) -> str:
    """An s3:// URI on the test server (through the proxy when `port` is the proxy's)."""
    query = "&".join(f"{k}={v}" for k, v in {"endpoint_override": f"127.0.0.1:{port}",
                                             "scheme": "http", "region": "us-east-1",
                                             **options}.items())
    return f"s3://{bucket}/{key}?{query}" if key else f"s3://{bucket}?{query}"


def small_corpus(shared_data, folder) -> list:
    """Six JSONL files of real text (C4 pages, Chinese Wikipedia paragraphs), with near- and
    exact duplicates planted across files so both dedup stages find pairs between tasks."""
    import json
    import random
    from pathlib import Path
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    c4 = [json.loads(line)["text"] for line in open(shared_data / "text/c4_demo.jsonl", encoding="utf-8")]
    zh = [json.loads(line)["text"] for line in
          open(shared_data / "text/zh_wikipedia_cmrc2018_contexts.jsonl", encoding="utf-8")][:600]
    rng = random.Random(0)
    edited = []
    for text in c4[::5]:  # every fifth page again, 3 % of its words changed
        words = text.split()
        for i in rng.sample(range(len(words)), max(1, len(words) * 3 // 100)):
            words[i] = rng.choice(words)
        edited.append(" ".join(words))
    parts = {"c4_a": c4[:150], "c4_b": c4[150:], "zh_a": zh[:300], "zh_b": zh[300:],
             "edited": edited, "copies": c4[::10] + zh[::30]}
    paths = []
    for name, texts in parts.items():
        path = folder / f"{name}.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for i, text in enumerate(texts):
                f.write(json.dumps({"id": f"{name}-{i}", "text": text}, ensure_ascii=False) + "\n")
        paths.append(path)
    return paths


def upload(files, filesystem: pafs.FileSystem, prefix: str) -> None:
    """Copy local files to `prefix` (bucket/key) in an object store, keeping their names."""
    for path in files:
        with filesystem.open_output_stream(f"{prefix}/{path.name}") as f:
            f.write(path.read_bytes())


class ObjectStore:
    """The server, the proxy in front of it, and the credentials set for every process started
    from here (CLI runs, Ray nodes and their workers inherit them)."""

    def __init__(self):
        self._saved = {k: os.environ.get(k) for k in CREDENTIALS}
        os.environ.update(CREDENTIALS)
        self.server = S3Server()
        self.proxy = FaultProxy(self.server.port)
        self.fs = self.server.filesystem()  # direct, for the tests' own looks
        self._buckets = 0

    def new_bucket(self) -> str:
        self._buckets += 1
        name = f"xiulian-{os.getpid()}-{self._buckets}"
        self.server.create_bucket(name)
        return name

    def uri(self, bucket: str, key: str = "", **options) -> str:
        """An s3:// URI that goes through the proxy."""
        return s3_uri(self.proxy.port, bucket, key, **options)

    def keys(self, prefix: str) -> list[str]:
        found = self.fs.get_file_info(pafs.FileSelector(prefix, recursive=True, allow_not_found=True))
        return sorted(i.path for i in found if i.type == pafs.FileType.File)

    def close(self) -> None:
        self.proxy.stop()
        self.server.stop()
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
