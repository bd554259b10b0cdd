"""For the serve and arena tests: a tiny chat checkpoint, and a real uvicorn server on a free
localhost port in a thread of the test process."""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import torch

# Untied embeddings: a random model with tied ones only ever repeats its last input token, the
# `<|assistant|>` marker, which decodes to nothing; untied, it answers in (random) words.
TINY_CHAT = dict(vocab_size=2048, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=128,
                 tie_embeddings=False)


def tiny_checkpoint(tokenizer_dir: Path, folder: Path, seed: int = 0) -> Path:
    from train.model.checkpoint import save
    from train.model.tokenizer import Tokenizer
    from train.model.transformer import ModelConfig, Transformer
    torch.manual_seed(seed)
    return save(folder, Transformer(ModelConfig(**TINY_CHAT)), Tokenizer(tokenizer_dir))


@contextmanager
def live_server(app):
    """Serve `app` on 127.0.0.1 until the block ends; yields the base URL."""
    import uvicorn
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
