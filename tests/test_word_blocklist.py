"""word_blocklist: spam crowded with gambling/adult terms goes; prose that mentions one stays."""
import csv
import json
from collections import Counter

import pytest

from corpus.document import HTML, Document
from corpus.errors import UserError
from corpus.steps import build_step
from filters._wordlists import count_words
from filters.word_blocklist import WordBlocklist
from tests.conftest import DEMO_WARC, manifest, rows, run_cli, write_config

CASINO_SPAM = (
    "Claim the best casino bonus today! Our online casino gives 300 free spins and a no deposit "
    "bonus to every new player. Bet now on sports betting, live roulette and online slots. "
    "Bonus code WIN500, wagering requirements apply.")
ZH_GAMBLING_SPAM = (
    "澳门赌场官方网站，亚洲最大的在线博彩平台，真人娱乐、百家乐、时时彩、六合彩一站式服务，"
    "注册送彩金，首存翻倍，信誉平台，提款三分钟到账。")
ZH_ADULT_SPAM = "在线观看成人视频，偷拍自拍，制服丝袜，人妻熟女，每日更新。"
ZH_LOTTERY_FORUM = "管家婆心水论坛：今期特马，三肖中特，六肖必中，开奖结果第084期，白小姐跑狗图。"
EN_ENCYCLOPEDIA = (
    "The Monte Carlo Casino opened in 1863 and rescued the finances of Monaco. Its gaming "
    "rooms offered roulette and trente-et-quarante; the online casino industry that appeared "
    "in the 1990s is regulated separately, and most countries restrict advertising for it. "
    "Historians note that the casino employed a large share of the principality's workers.")
ZH_ENCYCLOPEDIA = (
    "澳门是世界著名的旅游城市，博彩业是其经济支柱之一。澳门赌场的税收占政府财政收入的大部分，"
    "但近年来特区政府积极推动经济适度多元发展，会展、中医药和文化旅游等产业逐步成长。"
    "历史城区于2005年列入世界遗产名录。")


def verdict(step, text, language=None, media_type="text/plain"):
    return step.apply(Document("d", text, language=language, media_type=media_type))


@pytest.fixture(scope="module")
def builtin():
    return WordBlocklist()


def test_spam_is_removed_with_its_category(builtin):
    assert verdict(builtin, CASINO_SPAM) == "gambling"
    assert verdict(builtin, ZH_GAMBLING_SPAM) == "gambling"
    assert verdict(builtin, ZH_LOTTERY_FORUM) == "gambling"
    assert verdict(builtin, ZH_ADULT_SPAM) == "adult"


def test_prose_that_mentions_a_listed_term_is_kept(builtin):
    assert builtin.matches(EN_ENCYCLOPEDIA).distinct == 1      # "online casino", once
    assert verdict(builtin, EN_ENCYCLOPEDIA) is None
    assert builtin.matches(ZH_ENCYCLOPEDIA).distinct == 2      # 博彩, 澳门赌场
    assert verdict(builtin, ZH_ENCYCLOPEDIA) is None


def test_one_term_repeated_is_a_topic_not_spam(builtin):
    text = "香港赛马会简称马会。马会成立于1884年，马会的慈善信托基金每年捐款逾数十亿港元，马会亦经营足球博彩。"
    assert builtin.matches(text).counts["马会"] == 5              # 赛马会 counts too
    assert verdict(builtin, text) is None


def test_short_pages_fall_to_the_density_rule(builtin):
    menu = "首页\n百家乐\n时时彩\n六合彩\n联系我们"          # 3 terms, 3 items, 10 words
    assert builtin.matches(menu).spread(menu) == 3
    assert verdict(builtin, menu) == "gambling"
    assert verdict(WordBlocklist(max_density=1000.0), menu) is None


def test_terms_listed_in_one_sentence_count_once(builtin):
    # A report on a crackdown names five listed terms in one sentence: one place, not five.
    report = "警方表示，将严厉打击网络赌博、六合彩、百家乐、时时彩和老虎机等违法犯罪活动。"
    found = builtin.matches(report)
    assert (found.distinct, found.spread(report)) == (5, 1)
    assert verdict(builtin, report) is None
    # The same five terms as the items of a menu (block tags are line breaks) are spam.
    menu = "".join(f"<li>{t}</li>" for t in ("网络赌博", "六合彩", "百家乐", "时时彩", "老虎机"))
    assert verdict(builtin, f"<ul>{menu}</ul>", media_type=HTML) == "gambling"
    # Each term pairs with a clause of its own: 博彩 with the first, 赌场 with the second.
    text = "在线博彩和赌场。博彩"
    assert builtin.matches(text).spread(text) == 2


def test_one_topic_term_does_not_make_a_page_dense(builtin):
    # 18 of 20 matches are the article's topic; the other two alone are 1 per 1000 words.
    text = "澳门博彩业的龙头公司公布业绩，" * 18 + "旗下赌场的收入，博彩公司的利润" + "。营收增长" * 300
    found = builtin.matches(text)
    assert (found.counts["博彩"], found.distinct, found.spread(text)) == (18, 3, 3)
    assert 1000 * found.total / count_words(text) > builtin.max_density
    assert verdict(builtin, text) is None


def test_spaced_terms_match_whole_words_and_cjk_terms_match_inside_words(builtin):
    assert not builtin.matches("Pornography laws differ by country; xxxholic is a manga.").counts
    assert builtin.matches("中文porn视频").counts == {"porn": 1}
    assert builtin.matches("ONLINE\n  CASINO").counts == {"online casino": 1}
    assert builtin.matches("最大的在线博彩平台").counts == {"在线博彩": 1}


def test_lists_dir_adds_the_list_of_the_documents_language(shared_data):
    step = WordBlocklist(lists_dir=str(shared_data / "toxicity/badwords_ldnoobw"))
    text = "Fuck this. Bullshit! What a bitch of a day; motherfucker.\nShit happens, asshole."
    assert verdict(step, text) is None                          # no language: built-in lists only
    assert verdict(step, text, language="en") == "badwords_ldnoobw"
    assert verdict(step, text, language="xx") is None            # no list for that language
    # Single Chinese characters (乳 in 乳业, 性 in 性能) are ignored: they are parts of words.
    assert verdict(step, "伊利乳业发布新品，性能稳定，奶源可靠，深受消费者欢迎。", language="zh") is None


def test_list_files_with_categories(tmp_path):
    (tmp_path / "pharma.txt").write_text("cheap viagra\ncialis\n[scam]\nwire transfer fee\n")
    step = WordBlocklist(builtin=False, files=[str(tmp_path / "pharma.txt")], min_terms=2)
    assert verdict(step, "Buy cheap viagra. Cialis online.") == "pharma"
    assert verdict(step, "Pay the wire transfer fee. Then get cialis free.") == "scam"


def test_before_extraction_it_reads_titles_and_menus_but_not_scripts(builtin):
    page = ("<html><head><title>欧美色图_偷拍自拍_人妻熟女</title>"
            "<script>var tags = '百家乐 时时彩 六合彩 真人娱乐 老虎机';</script></head>"
            "<body><ul><li>制服丝袜</li><li>强奸乱伦</li></ul><p>每日更新</p></body></html>")
    assert verdict(builtin, page, media_type=HTML) == "adult"
    assert builtin.matches(page).categories["gambling"] == 5     # the script, were it read


def test_bad_options_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="no word lists"):
        build_step({"use": "word_blocklist", "builtin": False})
    with pytest.raises(UserError, match="lists_dir not found"):
        build_step({"use": "word_blocklist", "lists_dir": str(tmp_path / "nowhere")})
    with pytest.raises(UserError, match="min_terms"):
        build_step({"use": "word_blocklist", "min_terms": 0})


SPAM_HOSTS = {"035.psb556.com": "gambling", "041696.com": "gambling", "044545.com": "gambling",
              "0513mt.com": "adult", "05925.net": "adult", "0755krk.com": "gambling",
              "077678u.info": "gambling", "096355.com": "adult"}   # CC-MAIN-2020-34 sample


def test_after_extraction_spam_goes_and_news_and_the_shared_warcs_stay(shared_data, tmp_path):
    """Pages the lists were not written from: 362 Chinese news pages, 38 other WARC pages."""
    # trafilatura's text, menus and all: the density pass (on by default for Chinese pages)
    # drops the link lists where three of these pages carry their spam words.
    config = write_config(tmp_path / "c.toml", '[[steps]]\nuse = "extract"\ndensity = "none"\n'
                                               '[[steps]]\nuse = "word_blocklist"\n')
    web = shared_data / "web"
    kept_sources = {"gne_zh": 62, "xmu_zh_finance_news": 300, "dolma_sample-0000": 22,
                    "dolma_sample-0001": 15, "whirlwind": 1}
    run_cli("clean", web / "warc/CC-MAIN-2020-34_sample.warc.gz", DEMO_WARC,
            web / "html/gne_zh", web / "html/xmu_zh_finance_news",
            *(web / f"warc/{name}.warc.gz" for name in kept_sources if "_zh" not in name),
            "-o", tmp_path / "out", "--config", config)
    removed = {r["url"].split("/")[2]: r["reason"] for r in rows(tmp_path / "out", "removed")
               if r["step"] == "word_blocklist"}
    # 05925.net's main text is its disclaimer alone, with no listed word: it goes before
    # extraction (next test), where its menus are read.
    spam_hosts = {h: c for h, c in SPAM_HOSTS.items() if h != "05925.net"}
    assert removed == {**spam_hosts, "casino-bonus.example.net": "gambling",
                       "www.bet.example.cn": "gambling"}
    kept = Counter(r["source"] for r in rows(tmp_path / "out"))
    assert {name: kept[name] for name in kept_sources} == kept_sources
    assert kept["demo"] == 12    # the rest of the demo corpus is clean prose


def test_before_extraction_menus_give_spam_away(shared_data, tmp_path):
    config = write_config(tmp_path / "c.toml", '[[steps]]\nuse = "word_blocklist"\n')
    web = shared_data / "web"
    run_cli("clean", web / "warc/CC-MAIN-2020-34_sample.warc.gz", web / "html/gne_zh",
            web / "html/xmu_zh_finance_news", "-o", tmp_path / "out", "--config", config)
    removed = {(r["url"].split("/")[2] if r["url"] else r["source"]): r["reason"]
               for r in rows(tmp_path / "out", "removed")}
    # Besides the CC spam, one news page whose sidebar is a keyword cloud of adult terms.
    assert removed == {**SPAM_HOSTS, "gne_zh": "adult"}


def test_clean_prose_survives(shared_data, builtin):
    zh_wiki = [json.loads(line)["text"] for line in
               (shared_data / "text/zh_wikipedia_cmrc2018_contexts.jsonl").open(encoding="utf-8")]
    lima = [item["output"] for item in json.loads((shared_data / "sft/lima.json").read_text())
            if len(item["output"]) >= 800 and "```" not in item["output"]]
    for texts in (zh_wiki, lima):
        removed = sum(verdict(builtin, t) is not None for t in texts)
        assert removed <= 0.01 * len(texts), f"{removed} of {len(texts)} removed"


def threads(posts: list[str], size: int = 20) -> list[str]:
    """Posts in file order, `size` to a page: what a forum thread page shows."""
    return ["\n".join(posts[i:i + size]) for i in range(0, len(posts) - size + 1, size)]


def test_labelled_toxic_threads(shared_data, builtin):
    """Threads of posts labelled hate speech, full of slurs, go; threads labelled clean stay.
    Chinese offensive posts rarely use a listed slur: that is the toxicity classifier's work
    (docs/filters.md)."""
    tox = shared_data / "toxicity"
    davidson = list(csv.DictReader(open(tox / "davidson_labeled_data.shared80.csv",
                                        encoding="utf-8")))
    cold = list(csv.DictReader(open(tox / "cold_dev.csv", encoding="utf-8-sig")))
    toxicn = json.loads((tox / "toxicn_test.json").read_text(encoding="utf-8"))
    sets = {"davidson hate speech": [r["tweet"] for r in davidson if r["class"] == "0"],
            "davidson neither": [r["tweet"] for r in davidson if r["class"] == "2"],
            "cold_dev offensive": [r["TEXT"] for r in cold if r["label"] == "1"],
            "cold_dev safe": [r["TEXT"] for r in cold if r["label"] == "0"],
            "toxicn toxic": [r["content"] for r in toxicn if r["toxic"] == 1],
            "toxicn non-toxic": [r["content"] for r in toxicn if r["toxic"] == 0]}
    removed = {}
    for name, posts in sets.items():
        pages = threads(posts)
        removed[name] = (sum(verdict(builtin, p) is not None for p in pages), len(pages))
        print(f"{name}: {removed[name][0]} of {removed[name][1]} threads of 20 posts removed")
    hate, pages = removed["davidson hate speech"]
    assert hate >= 0.85 * pages
    assert all(removed[name][0] == 0
               for name in ("davidson neither", "cold_dev safe", "toxicn non-toxic"))
