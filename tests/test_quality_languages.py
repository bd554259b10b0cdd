"""What the quality steps share: word splitting by script, which languages a step judges, and
thresholds by language."""
import pytest

from corpus.errors import UserError
from corpus.steps import build_step
from filters import text_units
from tests.quality_texts import EN_PROSE, ZH_PROSE, doc

QUALITY_STEPS = ["gopher_quality", "gopher_repetition", "c4", "fineweb_quality"]


def test_spaced_words_keep_inner_apostrophes_hyphens_and_numbers_whole():
    assert text_units.split_words("Don't panic: the U.S. spent $1,000 on well-known #tags...", "en") == [
        "Don't", "panic", "the", "U.S", "spent", "1,000", "on", "well-known", "tags"]


def test_hindi_words_keep_their_vowel_signs():
    assert text_units.split_words("हिन्दी भाषा", "hi") == ["हिन्दी", "भाषा"]


def test_chinese_words_come_from_jieba_without_punctuation():
    assert text_units.split_words("我们在北京大学学习。Hello world！", "zh") == [
        "我们", "在", "北京大学", "学习", "Hello", "world"]


def test_japanese_words_are_runs_of_one_script():
    assert text_units.split_words("日本の首都は東京です。カタカナも使います。", "ja") == [
        "日本", "の", "首都", "は", "東京", "です", "カタカナ", "も", "使", "います"]


def test_sentence_ends_by_script():
    assert text_units.ends_sentence("He said “yes.”", "en")
    assert not text_units.ends_sentence("Read more...", "en")
    assert text_units.ends_sentence("他说：「好。」", "zh")
    assert text_units.ends_sentence("后来呢……", "zh")
    assert not text_units.ends_sentence("首页", "zh")
    assert text_units.count_sentences("码头建于明代。渔船清晨靠岸！集市中午散去", "zh") == 3


def test_cached_words_follow_a_rewritten_text():
    # c4 rewrites Chinese text and hands its words on; the next step must see the new words.
    page = "首页\n" + ZH_PROSE
    document = doc(page, "zh")
    assert text_units.words(page, "zh")[0] == "首页"
    assert build_step({"use": "c4"}).apply(document) is None
    assert document.text == ZH_PROSE
    assert text_units.words(document.text, "zh") == text_units.split_words(ZH_PROSE, "zh")


@pytest.mark.parametrize("step", QUALITY_STEPS)
def test_documents_in_other_languages_pass_untouched(step):
    junk = "\n".join(["Home", "Home", "Home", "Cart", "Cart"] * 5)
    document = doc(junk, "ru")
    assert build_step({"use": step, "languages": ["en"]}).apply(document) is None
    assert document.text == junk
    assert build_step({"use": step, "languages": ["*"]}).apply(doc(junk, "ru")) is not None


def test_documents_without_a_language_pass_with_one_warning(capsys):
    step = build_step({"use": "gopher_quality"})
    assert step.apply(doc("Home Cart", None)) is None
    assert step.apply(doc("Home Cart", None)) is None
    assert capsys.readouterr().err.count("put the `language` step before it") == 1


def test_a_threshold_can_differ_by_language():
    step = build_step({"use": "gopher_quality", "min_words": {"*": 50, "zh": 500}})
    assert step.apply(doc(EN_PROSE, "en")) is None
    assert step.apply(doc(ZH_PROSE, "zh")) == "too_few_words"


@pytest.mark.parametrize("options, message", [
    ({"use": "gopher_quality", "min_words": -1}, "min_words must be an integer >= 0"),
    ({"use": "gopher_quality", "min_alpha_words": {"zh": 0.5}}, 'needs a "\\*" entry'),
    ({"use": "gopher_repetition", "top_2gram": {"*": 0.2, "zh": 2}}, r"top_2gram must be a number between 0 and 1, not 2 \(for zh\)"),
    ({"use": "c4", "curly_bracket": "yes"}, "curly_bracket must be true or false"),
    ({"use": "fineweb_quality", "languages": []}, "languages must be a non-empty list"),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(UserError, match=message):
        build_step(options)


JA_PROSE = (
    "この町は古い港を中心に発展しました。江戸時代には、羊毛の取引で得たお金で石の岸壁が作られました。"
    "それから二百年の間、漁船は毎朝早く港に戻り、岸壁にできた市場では昼までに魚が売られていました。"
    "鉄道が通ると、町の様子はすぐに変わりました。海沿いにはホテルが建ち、都会からの観光客が浜辺を"
    "散歩したり、船を眺めたりするようになりました。\n"
    "今では、この港から漁に出る船はわずかです。市場の建物は郷土史の博物館になり、昔の岸壁の写真や"
    "最初の救命ボートの模型が展示されています。夏はボランティアが運営し、冬の週末には見学に来る"
    "学校のために扉を開けています。"
)


@pytest.mark.parametrize("step", QUALITY_STEPS)
def test_japanese_prose_passes_when_japanese_is_judged(step):
    assert build_step({"use": step, "languages": ["ja"]}).apply(doc(JA_PROSE, "ja")) is None
    menu = "\n".join(["ホーム", "ニュース", "会社概要"] * 5)
    assert build_step({"use": step, "languages": ["ja"]}).apply(doc(menu, "ja")) is not None
