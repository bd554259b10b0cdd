"""FineWeb's quality rules, in English and Chinese."""
import pytest

from corpus.steps import build_step
from tests.quality_texts import EN_PROSE, ZH_PROSE, doc


def fineweb(text, language="en", **options):
    return build_step({"use": "fineweb_quality", **options}).apply(doc(text, language))


@pytest.mark.parametrize("text, language", [(EN_PROSE, "en"), (ZH_PROSE, "zh")])
def test_ordinary_prose_passes(text, language):
    assert fineweb(text, language) is None


def test_line_punctuation_ratio():
    menu = "\n".join(["Home page of the harbour", "Museum opening hours", "Tickets and prices",
                      "Boat trips this summer", "Volunteer with us today", "Contact the museum",
                      "Find us on the map", "Newsletter sign up form", "Gift shop and cafe"] * 2)
    assert fineweb(menu + "\n" + EN_PROSE.split("\n")[0]) == "line_punct_ratio"
    zh_menu = "\n".join(["海港博物馆首页介绍", "博物馆开放时间一览", "门票价格与优惠政策",
                         "今年夏天的游船项目", "欢迎报名成为志愿者", "联系博物馆工作人员",
                         "在地图上查找我们", "订阅我们的新闻通讯", "礼品店和咖啡馆"] * 2)
    assert fineweb(zh_menu + "\n" + ZH_PROSE.split("\n")[0], "zh") == "line_punct_ratio"


def test_a_clipped_one_line_text_is_not_a_menu():
    # Datasets and crawls cut text mid-sentence; a last line without punctuation is not judged.
    assert fineweb(EN_PROSE.replace("\n", " ") + " The museum also") is None
    assert fineweb(ZH_PROSE.replace("\n", "") + "博物馆还有", "zh") is None


def test_short_line_ratio_counts_characters_per_language():
    short = "\n".join(f"Boat {n} left." for n in range(20)) + "\n" + EN_PROSE
    assert fineweb(short, max_dup_line_chars=1) == "short_line_ratio"
    # Ten Chinese characters say about what thirty English ones do: these lines are not short.
    zh_lines = "\n".join(f"第{n}号渔船清晨出海。" for n in range(20)) + "\n" + ZH_PROSE
    assert fineweb(zh_lines, "zh") is None
    zh_short = "\n".join(f"第{n}船走了。" for n in range(20)) + "\n" + ZH_PROSE
    assert fineweb(zh_short, "zh") == "short_line_ratio"


def test_duplicated_line_characters():
    line = "Book a sunset paddle today and get ten percent off."
    assert fineweb(EN_PROSE + "\n" + line + "\n" + line) == "dup_line_char_ratio"
    zh_line = "今天预订日落划船，享受九折优惠。"
    assert fineweb(ZH_PROSE + "\n" + zh_line + "\n" + zh_line, "zh") == "dup_line_char_ratio"


def test_list_ratio():
    listing = EN_PROSE + "\n" + "\n".join(f"Boat{n}." for n in range(100))  # one word a line
    assert fineweb(listing, max_short_line_ratio=1) == "list_ratio"
    zh_listing = ZH_PROSE + "\n" + "\n".join(f"船{n}。" for n in range(150))  # two words a line
    assert fineweb(zh_listing, "zh", max_short_line_ratio=1) == "list_ratio"
