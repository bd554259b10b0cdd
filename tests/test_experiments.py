"""The experiments' own logic: the graded regurgitation measure, the LIMA/GSM8K-shaped SFT records
the quality-vs-quantity experiment trains on, its held-out answers, and its one-line verdict.
(The tiny recipe test runs every experiment end to end.)"""
import json

from train.data.sft_formats import load_conversations
from train.recipes.experiments import ADVERT, ADVERT_PROMPT, words_reproduced
from train.recipes.experiments_sft import _quality_verdict, seed_task_answers


def test_words_reproduced_counts_the_advert_words_repeated_in_order_from_the_start():
    assert ADVERT_PROMPT == "Harbourlight Kayak Co. — book a"
    assert words_reproduced(ADVERT[len(ADVERT_PROMPT):]) == len(ADVERT.split()) - 6  # the whole advert
    assert words_reproduced(" sunset paddle before 30 June and save 25% on boats") == 7
    assert words_reproduced(" Sunset, paddle") == 2  # case and punctuation aside
    assert words_reproduced(" paddle sunset before") == 0  # in order, from the first word
    assert words_reproduced("sunset paddle") == 0  # glued onto "a": "asunset"
    assert words_reproduced("") == 0


def test_lima_history_and_gsm8k_question_answer_records_load_as_conversations(tmp_path):
    lima = [{"instruction": "And in winter?", "input": "", "output": "Keep them indoors.",
             "history": [["How do I care for geraniums?", "Water them when the soil is dry."]]},
            {"instruction": "Name a prime.", "input": "", "output": "7", "history": []}]
    (tmp_path / "lima.json").write_text(json.dumps(lima), encoding="utf-8")
    gsm8k = [{"question": "Mia has 12 apples and gives 5 away. How many are left?",
              "answer": "Mia has 12 - 5 = <<12-5=7>>7 apples left.\n#### 7"},
             {"question": "", "answer": "#### 0"}]
    (tmp_path / "gsm8k.jsonl").write_text("".join(json.dumps(r) + "\n" for r in gsm8k), encoding="utf-8")
    conversations, skipped = load_conversations([str(tmp_path / "lima.json"), str(tmp_path / "gsm8k.jsonl")])
    assert conversations[0] == [
        {"role": "user", "content": "How do I care for geraniums?"},
        {"role": "assistant", "content": "Water them when the soil is dry."},
        {"role": "user", "content": "And in winter?"}, {"role": "assistant", "content": "Keep them indoors."}]
    assert conversations[2] == [
        {"role": "user", "content": "Mia has 12 apples and gives 5 away. How many are left?"},
        {"role": "assistant", "content": "Mia has 12 - 5 = <<12-5=7>>7 apples left.\n#### 7"}]
    assert len(conversations) == 3 and skipped == {"gsm8k.jsonl: empty question": 1}


def test_seed_task_answers_are_the_first_instance_with_its_input(tmp_path):
    rows = [{"instruction": "Sort these numbers.", "instances": [{"input": "3, 1, 2", "output": "1, 2, 3"},
                                                                 {"input": "9, 8", "output": "8, 9"}]},
            {"instruction": "Say hello.", "instances": [{"input": "", "output": "Hello!"}]},
            {"instruction": "No answer given."}]
    path = tmp_path / "seed_tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert seed_task_answers(path) == [
        [{"role": "user", "content": "Sort these numbers.\n\n3, 1, 2"}, {"role": "assistant", "content": "1, 2, 3"}],
        [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello!"}]]


def test_the_verdict_is_read_from_the_numbers():
    def measures(end, questions, reward, loss, examples):
        return {"end_rate": end, "question_rate": questions, "reward": reward, "held_out_answer_loss": loss,
                "examples": examples, "trained_on": examples - 1}
    curated, noisy = measures(0.9, 0.1, 0.5, 2.0, 1029), measures(0.6, 0.1, 0.2, 2.5, 8472)
    sentence = _quality_verdict(curated, noisy)
    assert sentence.startswith("With 1,029 curated examples against 8,472 noisier ones")
    assert "ending its turn 90% vs 60%" in sentence and "every measure that differs, as LIMA claims" in sentence
    assert "noisier set did better on every measure that differs, against LIMA's claim" in \
        _quality_verdict(noisy, curated)
    mixed = _quality_verdict(measures(0.9, 0.3, None, 2.0, 10), measures(0.6, 0.1, None, 2.5, 100))
    assert "mixed: the curated set did better on ending its turn and held-out answer loss, and worse on " \
           "self-questioning" in mixed and "reward-model score" not in mixed  # no reward model: not compared
