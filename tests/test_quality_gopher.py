"""Gopher's quality and repetition rules: for each rule, a paragraph it keeps and one it
removes, in English and in Chinese."""
import pytest

from corpus.steps import build_step
from tests.quality_texts import EN_PROSE, ZH_PROSE, doc


def quality(text, language="en", **options):
    return build_step({"use": "gopher_quality", **options}).apply(doc(text, language))


def repetition(text, language="en", **options):
    return build_step({"use": "gopher_repetition", **options}).apply(doc(text, language))


@pytest.mark.parametrize("text, language", [(EN_PROSE, "en"), (ZH_PROSE, "zh")])
def test_ordinary_prose_passes_every_rule(text, language):
    assert quality(text, language) is None
    assert repetition(text, language) is None


# --- gopher_quality -------------------------------------------------------------------

def test_word_count_bounds():
    assert quality("Welcome to our shop. Sign in to see your basket.") == "too_few_words"
    assert quality("这是首页。请登录后查看购物车。") == "too_few_words"
    assert quality(EN_PROSE, max_words=100) == "too_many_words"


def test_mean_word_length_english():
    stuffed = " ".join(["a b c d e f g h i j to of the and"] * 10)
    assert quality(stuffed) == "mean_word_length"
    codes = " ".join(f"SKU-{n:06d}-ABCDEFGHIJKL" for n in range(60))
    assert quality(codes) == "mean_word_length"


def test_mean_word_length_chinese_has_its_own_range():
    # Chinese words are 1-2 characters: the English minimum of 3 would remove all of them.
    assert quality(ZH_PROSE, "zh") is None
    assert quality(ZH_PROSE, "zh", min_mean_word_length=3) == "mean_word_length"
    part_numbers = "产品型号：" + "，".join(f"XJ{n:05d}ABCDEFGHK" for n in range(60)) + "。的是在"
    assert quality(part_numbers, "zh") == "mean_word_length"


def test_hash_ratio():
    hashtags = EN_PROSE[:300] + " " + " ".join(f"#travel{n} #sea #boats" for n in range(20))
    assert quality(hashtags) == "hash_ratio"
    topics = ZH_PROSE[:150] + " ".join(f"#旅行{n}# #美食#" for n in range(30))
    assert quality(topics, "zh") == "hash_ratio"


def test_ellipsis_ratio():
    trailing = " ".join(f"The harbour {n}..." for n in range(40)) + " " + EN_PROSE
    assert quality(trailing) == "ellipsis_ratio"
    zh_trailing = "".join(f"码头{n}……" for n in range(80)) + ZH_PROSE
    assert quality(zh_trailing, "zh") == "ellipsis_ratio"


def test_bullet_lines():
    en_list = "\n".join(f"- Harbour walk number {n} with the old boats and the quay" for n in range(20))
    assert quality(en_list) == "bullet_lines"
    assert quality("Things to see:\n\n" + en_list) == "bullet_lines"
    zh_list = "\n".join(f"• 第{n}条路线：沿着老码头散步，看一看渔船和集市的样子" for n in range(20))
    assert quality(zh_list, "zh") == "bullet_lines"
    # A list under a heading and a blank line is not 90% bullets (blank lines count as lines),
    # and a line starting with "-5" or "-{" is not a bullet.
    assert quality("Tips:\n\n" + "\n".join(EN_PROSE.split(". "))) is None
    assert quality("-5 °C at night. " + EN_PROSE) is None


def test_ellipsis_lines():
    teasers = "\n".join(f"Story {n}: the harbour town and its quay were built with wool money and..."
                        for n in range(12)) + "\n" + EN_PROSE
    assert quality(teasers) == "ellipsis_lines"
    zh_teasers = "\n".join(f"第{n}篇：这座小城最早是一个渔港，商人们用贩卖丝绸的钱修建了码头……"
                           for n in range(12)) + "\n" + ZH_PROSE
    assert quality(zh_teasers, "zh") == "ellipsis_lines"


def test_a_clipped_last_line_is_not_an_ellipsis_page():
    assert quality(EN_PROSE.replace("\n", " ") + " and then...") is None
    assert quality(ZH_PROSE.replace("\n", "") + "然后……", "zh") is None


def test_alpha_words():
    table = EN_PROSE[:400] + "\n" + "\n".join(f"{n} 12.5 {n * 3} 2024 0.75 {n + 7}" for n in range(20))
    assert quality(table) == "alpha_words"
    zh_table = ZH_PROSE[:200] + "\n" + "\n".join(f"{n} 12.5 {n * 3} 2024 0.75 {n + 7}" for n in range(20))
    assert quality(zh_table, "zh") == "alpha_words"


def test_punctuation_is_not_a_word():
    # datatrove counts spaCy's punctuation tokens as non-alphabetic words and removes this.
    punctuated = ("Yes, (really): the quay - built, rebuilt, and (again) rebuilt - still stands; "
                  "the boats, the nets, the market, the hall... ") * 6
    assert quality(punctuated) is None


def test_stop_words():
    keywords = " ".join(["cheap flights", "hotel deals", "harbour tours", "boat hire",
                         "sea view rooms", "last minute offers"] * 10)
    assert quality(keywords) == "stop_words"
    zh_keywords = " ".join(["特价机票", "酒店预订", "海港旅游", "游船租赁", "海景房间", "最后优惠"] * 15)
    assert quality(zh_keywords, "zh") == "stop_words"


def test_english_stop_words_are_not_asked_of_russian():
    russian = ("Старый портовый город вырос вокруг каменной пристани, построенной на деньги "
               "от торговли шерстью. ") * 8
    assert quality(russian, "ru", languages=["*"]) is None


# --- gopher_repetition ----------------------------------------------------------------

def test_duplicate_paragraphs():
    advert = "Book a sunset paddle today and get ten percent off with the code HARBOUR."
    doubled = "\n\n".join([EN_PROSE, advert, advert, advert, "Thanks."])
    assert repetition(doubled) == "dup_para_frac"
    zh_advert = "今天预订日落划船，使用优惠码海港即可享受九折优惠。"
    assert repetition("\n\n".join([ZH_PROSE, zh_advert, zh_advert, zh_advert, "谢谢。"]), "zh") == "dup_para_frac"


def test_duplicate_paragraph_characters():
    # One repeated paragraph in five (under 30%), but it holds half of the characters.
    assert repetition("\n\n".join([EN_PROSE, EN_PROSE, "Tides.", "Boats.", "Nets."])) == "dup_para_char_frac"
    zh = "\n\n".join([ZH_PROSE, ZH_PROSE, "潮汐。", "渔船。", "渔网。"])
    assert repetition(zh, "zh") == "dup_para_char_frac"


def test_duplicate_lines():
    menu = "\n".join(["Home", "News", "Contact"] * 5) + "\n" + EN_PROSE
    assert repetition(menu, dup_para_frac=1, dup_para_char_frac=1) == "dup_line_frac"
    zh_menu = "\n".join(["首页", "新闻", "联系我们"] * 5) + "\n" + ZH_PROSE
    assert repetition(zh_menu, "zh", dup_para_frac=1, dup_para_char_frac=1) == "dup_line_frac"


def test_duplicate_line_characters():
    # Two repeats among a dozen lines (under 30%), but long ones.
    line = ("Book a sunset paddle today and get ten percent off with the code HARBOUR; boats "
            "leave from the old quay every evening at seven, weather permitting, all summer.")
    text = "\n".join(EN_PROSE.replace(". ", ".\n").split("\n") + [line] * 3)
    assert repetition(text, dup_para_frac=1, dup_para_char_frac=1) == "dup_line_char_frac"
    zh_line = "今天预订日落划船，使用优惠码海港即可享受九折优惠，名额有限，先到先得，欢迎来电咨询，每晚七点从老码头出发。"
    zh_text = "\n".join(ZH_PROSE.replace("。", "。\n").split("\n") + [zh_line] * 3)
    assert repetition(zh_text, "zh", dup_para_frac=1, dup_para_char_frac=1) == "dup_line_char_frac"


def test_top_ngram():
    stuffed = EN_PROSE + " " + "cheap shoes " * 40
    assert repetition(stuffed) == "top_2gram"
    zh_stuffed = ZH_PROSE + "便宜球鞋" * 40
    assert repetition(zh_stuffed, "zh") == "top_2gram"


def test_duplicate_ngrams():
    sentence = "we walked along the quay to see the boats come in with the morning catch "
    story = EN_PROSE + " Then " + " and later ".join([sentence] * 5)
    assert repetition(story) == "dup_5gram"
    zh_sentence = "我们沿着码头走过去看渔船带着清晨的渔获靠岸，"
    zh_story = ZH_PROSE + "后来" + "再后来".join([zh_sentence] * 5)
    assert repetition(zh_story, "zh") == "dup_5gram"


def test_a_rule_set_to_one_is_off():
    assert repetition(EN_PROSE + " " + "cheap shoes " * 40, top_2gram=1, top_3gram=1, top_4gram=1,
                      dup_5gram=1, dup_6gram=1, dup_7gram=1, dup_8gram=1, dup_9gram=1,
                      dup_10gram=1) is None
