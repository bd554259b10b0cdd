"""`xiulian serve`: the official openai client against a real server on localhost — whole and
streamed answers, eight clients at once, and OpenAI-shaped errors — plus the batching engine."""
from __future__ import annotations

import concurrent.futures
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import openai
import pytest

from corpus.errors import UserError
from tests.conftest import ROOT
from tests.live_server import live_server, tiny_checkpoint
from train.model.chat_template import prompt_ids, stop_ids
from train.model.checkpoint import load_model, load_tokenizer
from train.model.generation import stream_text, stream_tokens
from train.serve.api import create_app
from train.serve.chat_model import ChatModel, bind
from train.serve.engine import Engine, Job

NAME = "tiny-chat"


@pytest.fixture(scope="module")
def checkpoint(tokenizer_dir, tmp_path_factory):
    return tiny_checkpoint(tokenizer_dir, tmp_path_factory.mktemp("serve") / NAME)


@pytest.fixture(scope="module")
def chat(checkpoint):
    chat = ChatModel.load(str(checkpoint), "cpu", max_batch=8)
    yield chat
    chat.close()


@pytest.fixture(scope="module")
def server(chat):
    with live_server(create_app(chat)) as url:
        yield url


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=f"{server}/v1", api_key="none", max_retries=0)


@pytest.fixture(scope="module")
def alone(checkpoint):
    """What the library answers to one conversation by itself, greedily: the reference."""
    tokenizer, model = load_tokenizer(checkpoint), load_model(checkpoint).eval()

    def answer(content: str, max_tokens: int, stop=()) -> str:
        ids = prompt_ids(tokenizer, [{"role": "user", "content": content}])
        tokens = stream_tokens(model, ids, max_tokens, temperature=0, stop=stop_ids(tokenizer))
        return "".join(stream_text(tokenizer, tokens, list(stop)))
    return answer


def ask(content: str) -> list[dict]:
    return [{"role": "user", "content": content}]


def post(url: str, body) -> tuple[int, str, str]:
    """Status, content type and text of a raw POST (a dict is sent as JSON, bytes as they are)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def test_the_model_is_listed_and_answers_like_the_library_does(client, chat, alone):
    assert [m.id for m in client.models.list().data] == [NAME]
    reply = client.chat.completions.create(model=NAME, messages=ask("Name a colour."),
                                           max_tokens=12, temperature=0)
    assert reply.object == "chat.completion" and reply.model == NAME
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == alone("Name a colour.", 12) != ""
    assert reply.choices[0].finish_reason == "length"
    prompt_tokens = len(chat.encode(ask("Name a colour.")))
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (prompt_tokens, 12)
    assert reply.usage.total_tokens == prompt_tokens + 12


def test_streaming_sends_the_same_answer_in_pieces(client, alone):
    chunks = list(client.chat.completions.create(
        model=NAME, messages=ask("Say hello."), max_tokens=12, temperature=0, stream=True,
        stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1 and "".join(pieces) == alone("Say hello.", 12)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12


def test_the_stream_is_server_sent_events_ending_in_done(server):
    body = {"model": NAME, "messages": ask("Hi"), "max_tokens": 4, "stream": True}
    status, content_type, text = post(f"{server}/v1/chat/completions", body)
    assert status == 200 and content_type.startswith("text/event-stream")
    events = [line for line in text.split("\n\n") if line]
    assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"


def test_eight_concurrent_clients_each_get_the_answer_they_would_get_alone(client, alone):
    # Different prompt lengths and answer lengths: requests join and leave the running batch.
    questions = [("Count to %d. " % i) * (i + 1) for i in range(8)]

    def request(i: int) -> str:
        return client.chat.completions.create(model=NAME, messages=ask(questions[i]),
                                              max_tokens=6 + 3 * i, temperature=0).choices[0].message.content
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(request, range(8)))
    assert answers == [alone(questions[i], 6 + 3 * i) for i in range(8)]


def test_the_engine_batches_requests_that_arrive_while_others_decode(checkpoint):
    model = load_model(checkpoint).eval()
    prompts = [[9, 10, 11, 12, 13, 14, 15], list(range(100, 130)), [42, 43], list(range(300, 312))]
    expected = [list(stream_tokens(model, p, 20, temperature=0)) for p in prompts]
    engine = Engine(model, max_batch=3)  # driven step by step here, no thread
    jobs = [engine.submit(Job(p, 20, temperature=0)) for p in prompts[:2]]
    engine.step()
    engine.step()
    jobs += [engine.submit(Job(p, 20, temperature=0)) for p in prompts[2:]]
    for _ in range(200):
        engine.step()
    assert [list(job.tokens()) for job in jobs] == expected
    assert engine.largest_batch == 3 and all(job.finish_reason == "length" for job in jobs)


def test_a_seed_repeats_a_sampled_answer(client):
    def sample(seed: int) -> str:
        return client.chat.completions.create(model=NAME, messages=ask("Tell a story."), max_tokens=16,
                                              temperature=1.0, top_p=0.9, seed=seed).choices[0].message.content
    assert sample(7) == sample(7) != sample(8)


def test_a_stop_string_ends_the_answer_just_before_it(client, alone):
    full = alone("Name a colour.", 30)
    start = next(i for i in range(4, len(full) - 2) if "\ufffd" not in full[i:i + 2])
    stop = full[start:start + 2]
    reply = client.chat.completions.create(model=NAME, messages=ask("Name a colour."), max_tokens=30,
                                           temperature=0, stop=[stop, "never in the text"])
    assert reply.choices[0].message.content == full[:full.index(stop)]
    assert reply.choices[0].finish_reason == "stop"


def test_max_tokens_beyond_the_context_stops_at_its_end(client, chat):
    reply = client.chat.completions.create(model=NAME, messages=ask("Go on."), max_tokens=10_000,
                                           temperature=0)
    room = chat.context_length - len(chat.encode(ask("Go on.")))
    assert reply.usage.completion_tokens == room and reply.choices[0].finish_reason == "length"


def test_malformed_requests_get_400_in_openais_error_shape(client, server):
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model=NAME, messages="not a list", max_tokens=4)
    assert error.value.status_code == 400 and error.value.param == "messages"
    for body, param in [({"model": NAME, "messages": [{"role": "wizard", "content": "hi"}]}, "messages"),
                        ({"messages": ask("hi")}, "model"),
                        ({"model": NAME, "messages": ask("hi"), "temperature": "hot"}, "temperature")]:
        status, _, text = post(f"{server}/v1/chat/completions", body)
        assert status == 400
        assert json.loads(text)["error"].keys() == {"message", "type", "param", "code"}
        assert json.loads(text)["error"]["param"] == param
    status, _, text = post(f"{server}/v1/chat/completions", b"{not json")
    assert status == 400 and "not valid JSON" in json.loads(text)["error"]["message"]


TOOL = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}


@pytest.mark.parametrize("option, value", [("n", 2), ("logprobs", True), ("tools", [TOOL])])
def test_unsupported_options_are_refused_with_400_naming_the_field(client, option, value):
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model=NAME, messages=ask("hi"), max_tokens=4, **{option: value})
    assert error.value.param == option and f"`{option}` is not supported" in error.value.message


def test_a_developer_message_is_read_as_a_system_message(client, chat):
    asked = ask("What is two and two?")
    def answer(role):
        return client.chat.completions.create(
            model=NAME, messages=[{"role": role, "content": "You answer in one word."}, *asked],
            max_tokens=8, temperature=0, n=1)   # n = 1 is what the server does: accepted
    developer, system = answer("developer"), answer("system")
    assert developer.choices[0].message.content == system.choices[0].message.content
    with_system = chat.encode([{"role": "system", "content": "You answer in one word."}, *asked])
    assert developer.usage.prompt_tokens == len(with_system) > len(chat.encode(asked))


def test_a_prompt_longer_than_the_context_gets_400(client):
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model=NAME, messages=ask("many words " * 200), max_tokens=4)
    assert error.value.code == "context_length_exceeded" and "128 tokens" in error.value.message


def test_an_unknown_model_gets_404(client):
    with pytest.raises(openai.NotFoundError) as error:
        client.chat.completions.create(model="gpt-4o", messages=ask("hi"), max_tokens=4)
    assert error.value.code == "model_not_found"


def test_an_api_key_is_required_once_set(chat):
    with live_server(create_app(chat, api_key="sk-local-secret")) as url:
        with pytest.raises(openai.AuthenticationError) as error:
            openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0).models.list()
        assert error.value.status_code == 401 and error.value.code == "invalid_api_key"
        good = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-local-secret", max_retries=0)
        assert [m.id for m in good.models.list().data] == [NAME]


def test_xiulian_serve_runs_until_interrupted(checkpoint):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen([sys.executable, "-m", "corpus.cli", "serve", str(checkpoint), "--port",
                             str(port), "--device", "cpu"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0)
        for _ in range(300):
            assert proc.poll() is None, proc.stdout.read()
            try:
                models = client.models.list()
                break
            except openai.APIConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("xiulian serve did not answer within 30 s")
        assert [m.id for m in models.data] == [NAME]
        reply = client.chat.completions.create(model=NAME, messages=ask("Hi"), max_tokens=3)
        assert reply.usage.completion_tokens <= 3
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output
    assert f"serving '{NAME}'" in output and f"127.0.0.1:{port}/v1" in output


def test_a_missing_checkpoint_or_a_busy_port_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no checkpoint at"):
        ChatModel.load(str(tmp_path / "nothing"), "cpu")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    with pytest.raises(UserError, match="cannot listen on 127.0.0.1"):
        bind("127.0.0.1", taken.getsockname()[1])
    taken.close()
