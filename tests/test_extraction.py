"""The extract step on real Chinese pages: the density pass prunes link lists and comment
threads that trafilatura keeps, backs it up when it finds the wrong part or nothing, names the
extractor of every text, and leaves pages in other scripts exactly as trafilatura gives them."""
import gzip
from collections import Counter

import pytest

from corpus.charset import decode
from corpus.document import HTML, Document
from corpus.errors import UserError
from corpus.extract import Extract, _trafilatura, normalise
from corpus.extraction import choose, density
from corpus.steps import build_step


def page(shared_data, folder: str, name: str) -> str:
    raw = gzip.decompress((shared_data / "web" / "html" / folder / f"{name}.html.gz").read_bytes())
    return decode(raw)[0]


def extract(html: str, **options) -> Document:
    doc = Document(id="p", text=html, media_type=HTML)
    assert Extract(**options).apply(doc) is None
    return doc


def token_scores(text: str, gold: str) -> tuple[float, float]:
    """(precision, recall) over letters and digits, as the acceptance check counts them."""
    pred, want = (Counter(c for c in t if c.isalnum()) for t in (text, gold))
    common = sum((pred & want).values())
    return common / max(1, sum(pred.values())), common / max(1, sum(want.values()))


def test_xinhua_pages_lose_their_link_lists_not_their_text(shared_data):
    """xinhuanet is the hardest site of xmu_zh_finance_news for trafilatura (precision 0.60):
    related news with summaries, hot lists and a second "hot words" column follow each article."""
    gold_dir = shared_data / "web" / "labels" / "xmu_zh_finance_news"
    names = sorted(p.stem for p in gold_dir.glob("xinhua__*.txt"))[:12]
    ours, plain, recall = [], [], []
    for name in names:
        html, gold = page(shared_data, "xmu_zh_finance_news", name), (gold_dir / f"{name}.txt").read_text()
        doc = extract(html)
        assert doc.metadata["extractor"] in ("trafilatura", "trafilatura+density", "density")
        p, r = token_scores(doc.text, gold)
        ours.append(p)
        recall.append(r)
        plain.append(token_scores(normalise(_trafilatura(html, None, True)), gold)[0])
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert mean(plain) < 0.75 < 0.9 < mean(ours), (mean(plain), mean(ours))
    assert mean(recall) > 0.97


def test_a_comment_thread_is_pruned(shared_data):
    """163.com: trafilatura keeps the readers' comments ("跟贴") and the ranked hot list."""
    doc = extract(page(shared_data, "gne_zh", "163__1"))
    assert doc.metadata["extractor"] == "trafilatura+density"
    assert "网友评论仅供其表达个人看法" not in doc.text and "热点新闻" not in doc.text
    assert "龙湖" in doc.text and len(doc.text) > 2000


def test_fallback_when_trafilatura_finds_only_the_page_furniture(shared_data):
    """A WeChat article: trafilatura reading the whole page returns the account's blurb and
    buttons (100 characters), and the density text replaces it; the step itself gives
    trafilatura only the density container of this Chinese page, where it finds the article."""
    html = page(shared_data, "gne_zh", "wechat__1")
    whole_page = normalise(_trafilatura(html, None, True))
    assert len(whole_page) < 150
    text, extractor = choose.choose(html, whole_page, "trafilatura")
    assert extractor == "density" and "三星" in text and len(text) > 1500
    doc = extract(html)
    assert doc.metadata["extractor"] == "trafilatura+density"
    assert "三星" in doc.text and len(doc.text) > 1500
    container = choose.container_html(density.analyse(html))
    assert container is not None and len(container) < len(html) / 10


def test_a_chinese_page_is_never_swapped_for_its_english_footer(shared_data):
    """Spam pages of the Common Crawl sample (GBK, link lists of lottery headlines): the densest
    container is the footer "Copyright ... All Rights Reserved", which is no article; the page
    keeps trafilatura's Chinese text (the word lists and classifiers then judge it)."""
    from corpus.inputs import discover  # noqa: PLC0415
    from corpus.readers import ReadOptions, read_warc  # noqa: PLC0415
    files, _, _ = discover([str(shared_data / "web/warc/CC-MAIN-2020-34_sample.warc.gz")])
    pages = [d for d in read_warc(files[0], ReadOptions())
             if d.url and any(host in d.url for host in ("0755krk.com", "077678u.info"))]
    assert len(pages) == 2
    for doc in pages:
        assert Extract().apply(doc) is None
        assert doc.metadata["extractor"] == "trafilatura" and not doc.text.startswith("Copyright")
        assert sum("\u4e00" <= ch <= "\u9fff" for ch in doc.text) > 300


def test_fallback_can_be_turned_off(shared_data):
    html = page(shared_data, "gne_zh", "wechat__1")
    doc = extract(html, density="none", fallback_chars=0)
    assert doc.metadata["extractor"] == "trafilatura"
    assert doc.text == normalise(_trafilatura(html, None, True))


def test_european_pages_are_left_to_trafilatura(shared_data):
    folder = shared_data / "web" / "html" / "trafilatura_eval"
    for path in sorted(folder.glob("*.html.gz"))[:8]:
        html = decode(gzip.decompress(path.read_bytes()))[0]
        doc = extract(html)
        text = normalise(_trafilatura(html, None, True))
        if len(text) >= 200:  # long enough that no fallback is considered
            assert (doc.metadata["extractor"], doc.text) == ("trafilatura", text), path.name


def test_density_backend_alone(shared_data):
    doc = extract(page(shared_data, "xmu_zh_finance_news", "cjw__7"), backend="density")
    assert doc.metadata["extractor"] == "density"
    assert doc.text.startswith("国务院任免国家工作人员。")


def test_prune_matches_short_lines_in_document_order():
    """A short line ("评论") is looked for after the previous match, so the one in the
    comment box is judged, not a copy inside the article."""
    html = ("<html><body><div class='article'><p>记者来到现场。评论认为，这次调整影响深远，值得关注。</p>"
            "<p>专家表示，后续还将出台更多措施，市场反应积极。</p></div>"
            "<div class='comment-box'><p>评论</p><p>我觉得说得对</p></div></body></html>")
    page = density.analyse(html)
    text, share = choose.prune("记者来到现场。评论认为，这次调整影响深远，值得关注。\n"
                               "专家表示，后续还将出台更多措施，市场反应积极。\n评论\n我觉得说得对", page)
    assert text.splitlines()[-1] == "专家表示，后续还将出台更多措施，市场反应积极。"
    assert share > 0.8


def test_pages_without_text_give_none():
    for html in ("", "<html></html>", "<html><body><script>var a = 1;</script></body></html>"):
        assert density.analyse(html).text == ""


@pytest.mark.parametrize("options, message", [({"density": "some"}, "density must be one of"),
                                               ({"fallback_chars": -1}, "fallback_chars")])
def test_bad_options_are_one_line(options, message):
    with pytest.raises(UserError, match=message):
        build_step({"use": "extract", **options})
