"""`xiulian arena`: a local page where a person compares two answers and the choice is saved.

The two answers come from one model sampled twice or from two models, one each, and are shown
on random sides, so neither position nor name gives them away. While the person reads one
comparison, the next ones are already being sampled. Judgements go to the preference log
(arena_data.py): pairs in the format `xiulian reward` and `xiulian dpo` read, ties and
both-bad beside them; a restart skips every prompt already judged.
"""
from __future__ import annotations

import queue
import random
import sys
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from corpus.errors import UserError

from .arena_data import ArenaPrompt, PreferenceLog, load_prompts
from .arena_page import PAGE
from .chat_model import ChatModel, ContextTooLong, bind, run_app

JUDGEMENTS = ("A", "B", "tie", "both_bad", "skip")


@dataclass
class Answer:
    model: str
    text: str


@dataclass
class Comparison:
    id: str
    prompt: ArenaPrompt
    answers: tuple[Answer, Answer]   # as shown: A, B


class Arena:
    """Comparisons to judge, sampled ahead in a background thread, and where judgements go."""

    def __init__(self, models: list[ChatModel], prompts: list[ArenaPrompt], log: PreferenceLog,
                 max_tokens: int = 256, temperature: float = 0.8, top_p: float | None = 0.95,
                 seed: int = 0, ahead: int = 2):
        if len(models) == 1 and temperature == 0:
            raise UserError("one model at temperature 0 gives the same answer twice; "
                            "use a temperature above 0 or name a second checkpoint")
        self.models, self.log = models, log
        self.sampling = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}
        self.total = len(prompts)
        self.todo = [p for p in prompts if p.key not in log.judged]
        self.too_long = self.skipped = 0
        self._random = random.Random(seed)
        self._ready: queue.Queue[Comparison | None] = queue.Queue(maxsize=max(1, ahead))
        self._shown: OrderedDict[str, Comparison] = OrderedDict()  # handed out, not yet judged
        self._lock, self._taking = threading.Lock(), threading.Lock()
        self._keys = {p.key for p in prompts}
        self._done = self._closing = False
        threading.Thread(target=self._sample_all, name="arena-sampler", daemon=True).start()

    def next(self) -> Comparison | None:
        """The oldest comparison not judged yet (a reloaded page gets it again), or a new one;
        None when every prompt is judged."""
        with self._taking:  # one request at a time waits for the sampler
            with self._lock:
                if self._shown:
                    return next(iter(self._shown.values()))
                if self._done:
                    return None
            comparison = self._ready.get()
            with self._lock:
                if comparison is None:
                    self._done = True
                    return None
                self._shown[comparison.id] = comparison
                return comparison

    def judge(self, comparison_id: str, judgement: str) -> bool:
        """Save a judgement; False when this comparison was judged already (a second tab)."""
        if judgement not in JUDGEMENTS:
            raise ValueError(f"judgement must be one of {', '.join(JUDGEMENTS)}")
        with self._lock:
            comparison = self._shown.get(comparison_id)
            if comparison is None:
                return False
            if judgement == "skip":
                self.skipped += 1  # not saved: the prompt comes back after a restart
            else:
                self.log.write(self._record(comparison, judgement))
            del self._shown[comparison_id]
            return True

    def progress(self) -> dict:
        judged = len(self._keys & self.log.judged)
        return {"judged": judged, "left": max(0, self.total - judged - self.skipped - self.too_long)}

    def _record(self, comparison: Comparison, judgement: str) -> dict:
        a, b = comparison.answers
        common = {"judgement": judgement, "sampling": self.sampling, "judge": "human",
                  "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if judgement in ("A", "B"):
            better, worse = (a, b) if judgement == "A" else (b, a)
            return {"prompt": comparison.prompt.prompt, "chosen": better.text, "rejected": worse.text,
                    "chosen_model": better.model, "rejected_model": worse.model, **common}
        return {"prompt": comparison.prompt.prompt, "answers": [a.text, b.text],
                "models": [a.model, b.model], **common}

    def close(self) -> None:
        """Stop sampling ahead (before the models close)."""
        self._closing = True

    def _sample_all(self) -> None:
        for prompt in self.todo:
            if self._closing:
                return
            try:
                comparison = self._compare(prompt)
                while not self._closing:
                    try:
                        self._ready.put(comparison, timeout=0.2)
                        break
                    except queue.Full:
                        continue
            except ContextTooLong:
                self.too_long += 1
                print(f"arena: skipped a prompt longer than the context: {prompt.key[:60]}...",
                      file=sys.stderr)
            except Exception as exc:  # keep the page alive; the prompt returns after a restart
                if self._closing:
                    return
                print(f"arena: sampling failed ({exc}); skipping a prompt", file=sys.stderr)
        self._ready.put(None)

    def _compare(self, prompt: ArenaPrompt) -> Comparison:
        pair = self.models if len(self.models) == 2 else self.models * 2
        settings = dict(max_tokens=self.sampling["max_tokens"], temperature=self.sampling["temperature"],
                        top_p=self.sampling["top_p"])
        # Both answers are submitted before either is read, so the engine samples them together.
        prompts = [model.encode(prompt.messages) for model in pair]
        for model, ids in zip(pair, prompts):  # check both before sampling either
            if len(ids) >= model.context_length:
                raise ContextTooLong(len(ids), model.context_length)
        replies = [model.reply(ids, seed=self._random.getrandbits(63), **settings)
                   for model, ids in zip(pair, prompts)]
        answers = [Answer(model.name, reply.text()) for model, reply in zip(pair, replies)]
        if self._random.random() < 0.5:
            answers.reverse()
        return Comparison(uuid.uuid4().hex, prompt, (answers[0], answers[1]))


class JudgementIn(BaseModel):
    id: str
    judgement: str


def create_arena_app(arena: Arena) -> FastAPI:
    app = FastAPI(title="xiulian arena")

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    @app.get("/api/next")
    def next_comparison() -> dict:
        comparison = arena.next()
        if comparison is None:
            return {"done": True, "progress": arena.progress()}
        a, b = comparison.answers
        return {"done": False, "id": comparison.id, "messages": comparison.prompt.messages,
                "answers": {"A": a.text, "B": b.text}, "progress": arena.progress()}

    @app.post("/api/judge")
    def judge(body: JudgementIn):
        try:
            saved = arena.judge(body.id, body.judgement)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if not saved:
            return JSONResponse({"error": "this comparison was judged already"}, status_code=409)
        return {"saved": body.judgement != "skip", "progress": arena.progress()}

    return app


def run_arena(checkpoints: list[str], prompts_file: str, output: str, host: str = "127.0.0.1",
              port: int = 8001, max_tokens: int = 256, temperature: float = 0.8,
              top_p: float | None = 0.95, seed: int = 0, device: str | None = None) -> None:
    """`xiulian arena`: serve the comparison page until Ctrl-C."""
    prompts, unusable = load_prompts(prompts_file)
    log = PreferenceLog(output)
    sock = bind(host, port)
    models = [ChatModel.load(c, device, max_batch=2, name=str(c)) for c in checkpoints]
    arena = None
    try:
        arena = Arena(models, prompts, log, max_tokens, temperature, top_p, seed)
        notes = f"; {unusable} records without a prompt ignored" if unusable else ""
        shown = f"[{host}]" if ":" in host else host
        run_app(create_arena_app(arena), sock,
                f"arena: {len(prompts)} prompts, {len(prompts) - len(arena.todo)} judged already{notes}\n"
                f"open http://{shown}:{sock.getsockname()[1]}/ — keys: 1 A better, 2 B better, "
                f"3 tie, 4 both bad, s skip; judgements go to {log.path} (ties: {log.ties_path.name})",
                log_level="warning")
    finally:
        if arena is not None:
            arena.close()
        for model in models:
            model.close()
