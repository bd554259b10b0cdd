"""`xiulian arena`: a person (here, headless chromium driven by Playwright) judges answers on the
page, the judgements land in the preference files, and a restart skips what was judged."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.live_server import live_server, tiny_checkpoint
from train.serve.arena import Arena, create_arena_app
from train.serve.arena_data import PreferenceLog, load_prompts
from train.serve.chat_model import ChatModel

PROMPTS = ["Name a colour.", "Say hello.", "Count to three.", "What is tea?", "写一首诗。"]


def chromium() -> str:
    """The system chromium; installed from Debian's packages if missing and we may, else skip."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path) and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], capture_output=True, timeout=900)
        path = shutil.which("chromium") or path
    if not os.path.exists(path):
        pytest.skip("browser test: no /usr/bin/chromium and it cannot be installed here "
                    "(as root: apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def chat(tokenizer_dir, tmp_path_factory):
    checkpoint = tiny_checkpoint(tokenizer_dir, tmp_path_factory.mktemp("arena") / "tiny-chat")
    chat = ChatModel.load(str(checkpoint), "cpu", max_batch=2)
    yield chat
    chat.close()


@contextmanager
def arena_page(browser, chat, prompts_file: Path, prefs: Path):
    prompts, _ = load_prompts(prompts_file)
    arena = Arena([chat], prompts, PreferenceLog(prefs), max_tokens=16, seed=1)
    try:
        with live_server(create_arena_app(arena)) as url:
            page = browser.new_page()
            page.goto(url)
            yield page
            page.close()
    finally:
        arena.close()


def shown(page, previous_id: str | None = None) -> dict:
    """The comparison on screen, once a new one has replaced `previous_id`."""
    page.wait_for_function("([old]) => { const m = document.getElementById('comparison');"
                           " return !m.hidden && m.dataset.id && m.dataset.id !== old; }",
                           arg=[previous_id], timeout=30_000)
    return {"id": page.get_attribute("#comparison", "data-id"),
            "prompt": page.text_content("#prompt .turn").removeprefix("user"),
            "A": page.text_content("#answer-A"), "B": page.text_content("#answer-B")}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def test_judging_in_a_browser_writes_pairs_and_a_restart_skips_what_was_judged(chat, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium()
    prompts_file = tmp_path / "prompts.jsonl"
    prompts_file.write_text("".join(json.dumps({"prompt": p}, ensure_ascii=False) + "\n" for p in PROMPTS),
                            encoding="utf-8")
    prefs = tmp_path / "prefs.jsonl"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        with arena_page(browser, chat, prompts_file, prefs) as page:
            first = shown(page)
            page.keyboard.press("1")                     # A is better
            second = shown(page, first["id"])
            page.click("text=B is better")
            third = shown(page, second["id"])
            page.keyboard.press("3")                     # a tie
            shown(page, third["id"])
        with arena_page(browser, chat, prompts_file, prefs) as page:  # a restart
            fourth = shown(page)
            page.keyboard.press("s")                     # skipped: not saved
            fifth = shown(page, fourth["id"])
            page.keyboard.press("4")                     # both bad
            page.wait_for_selector("text=Every prompt is judged")
        browser.close()

    assert [first["prompt"], second["prompt"], third["prompt"]] == PROMPTS[:3]
    assert [fourth["prompt"], fifth["prompt"]] == PROMPTS[3:]  # the judged three are not shown again
    pairs, ties = lines(prefs), lines(tmp_path / "prefs.ties.jsonl")
    assert [(p["prompt"], p["chosen"], p["rejected"], p["judgement"]) for p in pairs] == [
        (PROMPTS[0], first["A"], first["B"], "A"), (PROMPTS[1], second["B"], second["A"], "B")]
    assert all(p["chosen_model"] == p["rejected_model"] == "tiny-chat" and p["time"] for p in pairs)
    assert [(t["prompt"], t["answers"], t["judgement"]) for t in ties] == [
        (PROMPTS[2], [third["A"], third["B"]], "tie"), (PROMPTS[4], [fifth["A"], fifth["B"]], "both_bad")]
    assert all("chosen" not in t and "rejected" not in t for t in ties)
    # The skipped prompt is the only one a third session would show.
    again, _ = load_prompts(prompts_file)
    assert [p.prompt for p in again if p.key not in PreferenceLog(prefs).judged] == [PROMPTS[3]]


def test_prompts_come_from_txt_json_and_jsonl_in_the_common_shapes(tmp_path):
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("\n".join([
        json.dumps({"prompt": "Hi there"}),
        json.dumps({"instruction": "Translate to French.", "input": "Good morning"}),
        json.dumps({"messages": [{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": "Why is the sky blue?"},
                                 {"role": "assistant", "content": "Rayleigh scattering."}]}),
        json.dumps({"messages": [{"role": "user", "content": "Only me"},
                                 {"role": "assistant", "content": "a reference answer"}]}),
        json.dumps({"prompt": "Hi there"}),           # a repeat: shown once
        "{not json", json.dumps({"text": "no prompt field"}), ""]), encoding="utf-8")
    prompts, unusable = load_prompts(jsonl)
    assert [p.prompt for p in prompts] == [
        "Hi there", "Translate to French.\nGood morning",
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why is the sky blue?"}],
        "Only me"]
    assert prompts[3].messages == [{"role": "user", "content": "Only me"}] and unusable == 2
    (tmp_path / "p.txt").write_text("first prompt\n\n第二个提示\n", encoding="utf-8")
    assert [p.prompt for p in load_prompts(tmp_path / "p.txt")[0]] == ["first prompt", "第二个提示"]
    (tmp_path / "p.json").write_text(json.dumps([{"instruction": "Add 2 and 3.", "output": "5"}]))
    assert [p.prompt for p in load_prompts(tmp_path / "p.json")[0]] == ["Add 2 and 3."]


def test_a_half_written_last_judgement_is_dropped_and_the_file_stays_appendable(tmp_path):
    prefs = tmp_path / "prefs.jsonl"
    whole = json.dumps({"prompt": "a", "chosen": "x", "rejected": "y"})
    prefs.write_text(whole + "\n" + '{"prompt": "b", "cho', encoding="utf-8")  # killed mid-write
    log = PreferenceLog(prefs)
    assert log.judged == {json.dumps("a")}
    log.write({"prompt": "c", "chosen": "x", "rejected": "y"})
    log.write({"prompt": "d", "answers": ["x", "y"], "judgement": "tie"})
    assert [r["prompt"] for r in lines(prefs)] == ["a", "c"]
    assert [r["prompt"] for r in lines(tmp_path / "prefs.ties.jsonl")] == ["d"]
