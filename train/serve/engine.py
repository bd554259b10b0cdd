"""The decoding engine behind `xiulian serve` and `xiulian arena`: one thread owns the model and
decodes every waiting request together, one token per request per step.

Why one thread: torch on a CPU already uses every core for one forward pass, so threads racing
for the model would only slow each other down; on a GPU, one batched step costs about what one
request's step costs. Requests join the running batch between steps (continuous batching) and
leave it when they finish, so a short answer never waits for a long one.

All rows of a batch share one KV-cache length T. A request whose prompt is shorter than T is
prefilled *at an offset*: behind T - len(prompt) zero key/value columns that the attention mask
hides, so its tokens sit at positions T - len .. T - 1. RoPE only sees relative positions, so it
decodes exactly as it would alone — without padding queries, whose fully masked attention rows
would turn into NaN. Admission is first come, first served: a request that does not fit the
running batch (its prompt is longer than T, or T plus its answer would pass the context) waits
until the batch drains, and nothing behind it jumps the queue.
"""
from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Iterator

import torch

from train.model.transformer import KVCache, Transformer, sample


class _End:
    """The last item of a job's outbox: why it ended, or the error that ended it."""

    def __init__(self, reason: str, error: BaseException | None = None):
        self.reason, self.error = reason, error


class Job:
    """One request: a prompt's token ids and how to sample its answer. Its tokens arrive on
    `tokens()` as the engine produces them."""

    def __init__(self, prompt: list[int], max_new_tokens: int, temperature: float = 1.0,
                 top_p: float | None = None, top_k: int | None = None,
                 stop: set[int] = frozenset(), generator: torch.Generator | None = None):
        if not prompt or max_new_tokens < 1:
            raise ValueError("a job needs a prompt and room for at least one new token")
        self.prompt, self.max_new_tokens = list(prompt), max_new_tokens
        self.temperature, self.top_p, self.top_k = temperature, top_p, top_k
        self.stop, self.generator = set(stop), generator
        self.generated = 0              # counted by the engine
        self.finish_reason: str | None = None  # "stop" or "length", once `tokens()` is exhausted
        self.cancelled = False
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()

    def tokens(self) -> Iterator[int]:
        """Token ids as they are sampled; blocks between them. Raises the engine's error, if any."""
        while True:
            item = self._outbox.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise RuntimeError(f"generation failed: {item.error}") from item.error
                self.finish_reason = item.reason
                return
            yield item

    def cancel(self) -> None:
        """Stop sampling for this job (its reader is gone, or it hit a stop string)."""
        self.cancelled = True

    def _emit(self, token: int) -> None:
        self.generated += 1
        self._outbox.put(token)

    def _end(self, reason: str, error: BaseException | None = None) -> None:
        self._outbox.put(_End(reason, error))


class Engine:
    """Continuous batching over a `Transformer`: `submit` jobs from any thread."""

    def __init__(self, model: Transformer, max_batch: int = 8):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.model, self.max_batch = model.eval(), max_batch
        self.config = model.config
        first = next(model.parameters())
        self.device, self.dtype = first.device, first.dtype
        self.largest_batch = 0          # the most rows decoded in one step, for tests and benchmarks
        self._waiting: collections.deque[Job] = collections.deque()
        self._wakeup = threading.Condition()
        self._rows: list[Job] = []
        self._cache: KVCache | None = None
        self._mask: torch.Tensor | None = None     # (rows, T) bool: which cache columns are real
        self._logits: torch.Tensor | None = None   # (rows, vocab): each row's next-token logits
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> Engine:
        self._thread = threading.Thread(target=self._loop, name="xiulian-engine", daemon=True)
        self._thread.start()
        return self

    def submit(self, job: Job) -> Job:
        if len(job.prompt) + job.max_new_tokens > self.config.max_seq_len:
            raise ValueError(f"prompt of {len(job.prompt)} tokens plus {job.max_new_tokens} new ones "
                             f"exceeds the context of {self.config.max_seq_len}")
        with self._wakeup:
            if self._closed:
                raise RuntimeError("the engine is closed")
            self._waiting.append(job)
            self._wakeup.notify()
        return job

    def drain(self) -> None:
        """Decode in the caller's thread until every submitted job has ended (batch sampling
        with no server: best-of-N, PPO, the judge; the engine is then not `start`ed)."""
        while self._waiting or self._rows:
            self.step()

    def close(self) -> None:
        with self._wakeup:
            self._closed = True
            self._wakeup.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            with self._wakeup:
                while not (self._waiting or self._rows or self._closed):
                    self._wakeup.wait()
                if self._closed:
                    for job in [*self._rows, *self._waiting]:
                        job._end("cancelled", RuntimeError("the server is shutting down"))
                    return
            try:
                self.step()
            except Exception as exc:  # e.g. out of memory: fail this batch, keep serving
                for job in self._rows:
                    job._end("error", exc)
                self._reset()

    @torch.no_grad()
    def step(self) -> None:
        """Admit waiting jobs, sample one token for every row, feed the survivors back in."""
        self._admit()
        if not self._rows:
            return
        self.largest_batch = max(self.largest_batch, len(self._rows))
        survivors, next_tokens = [], []
        for i, job in enumerate(self._rows):
            if job.cancelled:
                job._end("cancelled")
                continue
            token = int(sample(self._logits[i:i + 1], job.temperature, job.top_k, job.top_p,
                               job.generator).item())
            if token in job.stop:
                job._end("stop")
                continue
            job._emit(token)
            if job.generated >= job.max_new_tokens:
                job._end("length")
                continue
            survivors.append(i)
            next_tokens.append(token)
        self._keep_rows(survivors)
        if self._rows:
            self._mask = torch.cat([self._mask, self._mask.new_ones(len(self._rows), 1)], dim=1)
            tokens = torch.tensor(next_tokens, device=self.device)[:, None]
            self._logits = self.model(tokens, attention_mask=self._mask, cache=self._cache)[:, -1]

    def _admit(self) -> None:
        with self._wakeup:
            length = self._cache.length if self._rows else 0
            chosen: list[Job] = []
            while self._waiting and len(self._rows) + len(chosen) < self.max_batch:
                job = self._waiting[0]
                if job.cancelled:
                    self._waiting.popleft()._end("cancelled")
                    continue
                # An empty batch may grow to the longest prompt it admits; a running one cannot.
                new_length = max(length, len(job.prompt)) if not self._rows else length
                if not all(new_length + j.max_new_tokens <= self.config.max_seq_len and
                           len(j.prompt) <= new_length for j in (*chosen, job)):
                    break
                chosen.append(self._waiting.popleft())
                length = new_length
        for i, job in enumerate(chosen):
            try:
                self._join(job, length)
            except Exception as exc:  # not rows yet, so `_loop` would not tell them
                for unjoined in chosen[i:]:
                    unjoined._end("error", exc)
                raise

    def _join(self, job: Job, length: int) -> None:
        """Prefill `job` so its prompt ends at cache column `length`, and add it as a row."""
        offset = length - len(job.prompt)
        cache = KVCache(self.config.n_layers)
        mask = torch.ones(1, length, dtype=torch.bool, device=self.device)
        ids = torch.tensor([job.prompt], device=self.device)
        if offset:
            shape = (1, self.config.n_kv_heads, offset, self.config.head_dim)
            zeros = torch.zeros(shape, dtype=self.dtype, device=self.device)
            cache.layers = [(zeros, zeros) for _ in range(self.config.n_layers)]
            mask[:, :offset] = False
            logits = self.model(ids, attention_mask=mask, cache=cache)[:, -1]
        else:
            logits = self.model(ids, cache=cache)[:, -1]
        if not self._rows:
            self._cache, self._mask, self._logits = cache, mask, logits
        else:
            self._cache.layers = [(torch.cat([k, k_new]), torch.cat([v, v_new]))
                                  for (k, v), (k_new, v_new) in zip(self._cache.layers, cache.layers)]
            self._mask = torch.cat([self._mask, mask])
            self._logits = torch.cat([self._logits, logits])
        self._rows.append(job)

    def _keep_rows(self, keep: list[int]) -> None:
        if len(keep) == len(self._rows):
            return
        if not keep:
            self._reset()
            return
        index = torch.tensor(keep, device=self.device)
        self._cache.layers = [(k.index_select(0, index), v.index_select(0, index))
                              for k, v in self._cache.layers]
        self._mask, self._logits = self._mask[index], self._logits[index]
        self._rows = [self._rows[i] for i in keep]

    def _reset(self) -> None:
        self._rows, self._cache, self._mask, self._logits = [], None, None, None
