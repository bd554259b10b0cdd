"""The OpenAI chat-completions API over a `ChatModel`, as a FastAPI app.

`POST /v1/chat/completions` (whole answers, or `stream: true` as server-sent events ending in
`data: [DONE]`) and `GET /v1/models` follow OpenAI's schemas, so the official clients and the
tools built on them work unchanged. Every error, FastAPI's own validation errors included, is
OpenAI's shape: `{"error": {"message", "type", "param", "code"}}` with a 4xx status.
"""
from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from corpus.errors import UserError

from .chat_model import ChatModel, ContextTooLong, Reply


class APIError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def response(self) -> JSONResponse:
        body = {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}
        return JSONResponse({"error": body}, status_code=self.status)


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The fields we honour; others OpenAI defines (penalties, `user`, ...) are accepted and ignored."""
    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    temperature: float | None = Field(None, ge=0, le=2)  # 0 = greedy; null = OpenAI's default, 1
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=1)        # not OpenAI's; vLLM and llama.cpp accept it too
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)  # the newer name for max_tokens
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = 1
    logprobs: bool | None = None
    tools: list | None = None


def create_app(chat: ChatModel, api_key: str | None = None) -> FastAPI:
    app = FastAPI(title="xiulian", summary=f"OpenAI-compatible chat completions for {chat.name}")
    created = int(time.time())
    _add_error_handlers(app)

    def check_key(authorization: str | None = Header(None)) -> None:
        if api_key is None:
            return
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not secrets.compare_digest(given.encode(), api_key.encode()):
            raise APIError(401, "Incorrect API key provided", code="invalid_api_key")

    def model_card() -> dict:
        return {"id": chat.name, "object": "model", "created": created, "owned_by": "xiulian"}

    def check_model(name: str) -> None:
        if name != chat.name:
            raise APIError(404, f"The model `{name}` does not exist; this server has `{chat.name}`",
                           "model", "model_not_found")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/v1/models", dependencies=[Depends(check_key)])
    def list_models() -> dict:
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{name:path}", dependencies=[Depends(check_key)])
    def get_model(name: str) -> dict:
        check_model(name)
        return model_card()

    @app.post("/v1/chat/completions", dependencies=[Depends(check_key)])
    def chat_completions(request: ChatRequest):
        check_model(request.model)
        for option, value in (("n", request.n not in (None, 1)), ("logprobs", request.logprobs),
                              ("tools", request.tools)):
            if value:
                raise APIError(400, f"`{option}` is not supported by this server", option)
        try:
            prompt = chat.encode([_openai_message(m) for m in request.messages])
            stop = [request.stop] if isinstance(request.stop, str) else request.stop or []
            reply = chat.reply(prompt, request.max_completion_tokens or request.max_tokens,
                               1.0 if request.temperature is None else request.temperature,
                               request.top_p, request.top_k, stop, request.seed)
        except UserError as exc:
            raise APIError(400, str(exc), "messages") from None
        except ContextTooLong as exc:
            raise APIError(400, f"This model's maximum context length is {exc.context} tokens; "
                           f"your messages are {exc.prompt_tokens} tokens.", "messages",
                           "context_length_exceeded") from None
        answer = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()),
                  "model": chat.name, "system_fingerprint": None}
        if request.stream:
            usage = request.stream_options is not None and request.stream_options.include_usage
            return StreamingResponse(_events(reply, answer, usage), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        try:
            text = reply.text()
        except RuntimeError as exc:
            raise APIError(500, str(exc), kind="server_error") from None
        choice = {"index": 0, "message": {"role": "assistant", "content": text},
                  "logprobs": None, "finish_reason": reply.finish_reason}
        return {**answer, "object": "chat.completion", "choices": [choice], "usage": _usage(reply)}

    return app


def _openai_message(message: dict) -> dict:
    """OpenAI's variants in our terms: text parts joined, `developer` read as `system`."""
    content = message.get("content")
    if isinstance(content, list):
        if not all(isinstance(p, dict) and p.get("type") == "text" for p in content):
            raise UserError("only text content parts are supported")
        content = "".join(str(p.get("text", "")) for p in content)
    role = "system" if message.get("role") == "developer" else message.get("role")
    return {**message, "role": role, "content": content}


def _usage(reply: Reply) -> dict:
    return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens}


def _events(reply: Reply, answer: dict, include_usage: bool):
    """Server-sent events: a role chunk, content deltas, a finish chunk, [usage], [DONE]."""
    def event(payload: dict) -> str:
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    def chunk(delta: dict, finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return event({**answer, "object": "chat.completion.chunk", "choices": [choice]})

    try:
        yield chunk({"role": "assistant", "content": ""})
        for piece in reply:
            yield chunk({"content": piece})
        yield chunk({}, reply.finish_reason)
        if include_usage:
            yield event({**answer, "object": "chat.completion.chunk", "choices": [],
                         "usage": _usage(reply)})
    except RuntimeError as exc:  # the engine failed mid-answer: the status line is long gone
        yield event({"error": {"message": str(exc), "type": "server_error", "param": None, "code": None}})
    finally:
        reply.cancel()  # a client that hung up stops costing decoding steps
    yield "data: [DONE]\n\n"


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_request: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            return APIError(400, "the request body is not valid JSON").response()
        where = [str(part) for part in first.get("loc", ()) if part != "body"]
        param = ".".join(where) or None
        message = first.get("msg", "invalid request")
        return APIError(400, f"{param}: {message}" if param else message, param).response()

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return APIError(exc.status_code, str(exc.detail)).response()
