"""A checkpoint that answers conversations, and the server that puts it on the network.

`ChatModel` is what both `xiulian serve` (serve_api.py) and `xiulian arena` (arena.py) use: the
stage-2 chat template turns messages into a prompt, the engine (serve_engine.py) samples the
answer with a KV cache alongside every other request in flight, and `Reply` hands back text
pieces that never split a UTF-8 character and stop before a stop string.
"""
from __future__ import annotations

import random
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

from corpus.errors import UserError
from train.model.chat_template import check_messages, prompt_ids, stop_ids
from train.model.generation import stream_text
from train.model.tokenizer import Tokenizer
from train.model.transformer import Transformer

from .engine import Engine, Job


class ContextTooLong(Exception):
    def __init__(self, prompt_tokens: int, context: int):
        super().__init__(f"the conversation is {prompt_tokens} tokens; this model's context is "
                         f"{context} tokens, with at least one left for the answer")
        self.prompt_tokens, self.context = prompt_tokens, context


class Reply:
    """An answer being sampled: iterate for text pieces; then `finish_reason` is "stop" (end of
    turn or a stop string) or "length" (max_tokens or the end of the context)."""

    def __init__(self, job: Job, tokenizer: Tokenizer, stop_strings: list[str]):
        self.job, self.tokenizer, self.stop_strings = job, tokenizer, stop_strings
        self.prompt_tokens = len(job.prompt)
        self.completion_tokens = 0
        self.finish_reason: str | None = None

    def __iter__(self) -> Iterator[str]:
        try:
            yield from stream_text(self.tokenizer, self._counted(), self.stop_strings)
        finally:
            # Ended before the engine did: a stop string matched, or the reader went away.
            self.finish_reason = self.job.finish_reason or "stop"
            self.cancel()

    def text(self) -> str:
        return "".join(self)

    def cancel(self) -> None:
        self.job.cancel()

    def _counted(self) -> Iterator[int]:
        for token in self.job.tokens():
            self.completion_tokens += 1
            yield token


class ChatModel:
    """A checkpoint's tokenizer and model behind a running engine."""

    def __init__(self, model: Transformer, tokenizer: Tokenizer, name: str, max_batch: int = 8):
        prompt_ids(tokenizer, [{"role": "user", "content": ""}])  # UserError if no chat tokens
        self.tokenizer, self.name = tokenizer, name
        self.context_length = model.config.max_seq_len
        self.stop_tokens = stop_ids(tokenizer)
        self.engine = Engine(model, max_batch).start()
        self.device = self.engine.device

    @classmethod
    def load(cls, checkpoint: str, device: str | None = None, max_batch: int = 8,
             name: str | None = None) -> ChatModel:
        from train.model.checkpoint import load_model, load_tokenizer, resolve
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise UserError("--device cuda, but torch sees no CUDA device")
        if max_batch < 1:
            raise UserError("--max-batch must be at least 1")
        tokenizer = load_tokenizer(checkpoint)
        return cls(load_model(checkpoint, device), tokenizer, name or model_name(resolve(checkpoint)),
                   max_batch)

    def encode(self, messages: list[dict]) -> list[int]:
        """Prompt ids for a conversation; UserError for a bad message."""
        return prompt_ids(self.tokenizer, check_messages(messages))

    def reply(self, prompt: list[int], max_tokens: int | None = None, temperature: float = 1.0,
              top_p: float | None = None, top_k: int | None = None, stop: list[str] = (),
              seed: int | None = None) -> Reply:
        """Start sampling an answer to `prompt`; `max_tokens` is capped by the room in the context."""
        room = self.context_length - len(prompt)
        if room < 1:
            raise ContextTooLong(len(prompt), self.context_length)
        generator = torch.Generator(device=self.device)
        generator.manual_seed(random.getrandbits(63) if seed is None else seed)
        job = Job(prompt, room if max_tokens is None else min(max_tokens, room), temperature,
                  top_p, top_k, self.stop_tokens, generator)
        self.engine.submit(job)
        return Reply(job, self.tokenizer, [s for s in stop if s])

    def close(self) -> None:
        self.engine.close()


def model_name(checkpoint: Path) -> str:
    """What clients call the model: the run's folder name (`runs/sft/checkpoint` -> `sft`)."""
    checkpoint = Path(checkpoint).resolve()
    if checkpoint.name in ("checkpoint", "checkpoint.old"):
        checkpoint = checkpoint.parent
    return checkpoint.name


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the model loads, so a busy port is one clear line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def run_app(app, sock: socket.socket, banner: str, log_level: str = "info") -> None:
    """Serve an ASGI app with uvicorn on an already bound socket until Ctrl-C."""
    import uvicorn
    print(banner, file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=3)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down on: a normal stop
        print("stopped", file=sys.stderr)


def serve(checkpoint: str, host: str = "127.0.0.1", port: int = 8000, model: str | None = None,
          api_key: str | None = None, device: str | None = None, max_batch: int = 8) -> None:
    """`xiulian serve`: the OpenAI chat-completions API for one checkpoint."""
    from .api import create_app
    sock = bind(host, port)
    chat = ChatModel.load(checkpoint, device, max_batch, model)
    try:
        shown = f"[{host}]" if ":" in host else host
        run_app(create_app(chat, api_key), sock,
                f"serving {chat.name!r} ({chat.context_length}-token context, {chat.device}) "
                f"at http://{shown}:{sock.getsockname()[1]}/v1 — Ctrl-C stops")
    finally:
        chat.close()
