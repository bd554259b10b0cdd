"""consent: machine-readable TDM reservations and AI opt-outs drop a page; licences are recorded."""
import gzip

import pytest

from corpus.document import HTML, PLAIN, Document
from corpus.errors import UserError
from corpus.steps import build_step
from filters.consent import Consent, normalise_license
from tests.conftest import DEMO_WARC, manifest, rows, run_cli, write_config

ARTICLE = "<p>茶起源于中国西南地区，已有数千年的饮用历史。Tea has been drunk for millennia.</p>"


def page(head="", body="", footer="<footer>© 2025 茶文化网 版权所有 All rights reserved.</footer>"):
    return f"<html><head><meta charset='utf-8'>{head}</head><body>{ARTICLE}{body}{footer}</body></html>"


def run(html, url="https://tea.example.com/a/b.html", http=None, step=None, media_type=HTML):
    doc = Document("d", html, url=url, media_type=media_type,
                   metadata={"http": http} if http else {})
    return (step or Consent()).apply(doc), doc


def test_tdmrep_reservation_in_meta_or_header_removes_the_page():
    assert run(page('<meta name="tdm-reservation" content="1">'))[0] == "tdm_reserved"
    assert run(page("<META NAME=tdm-reservation CONTENT=1>"))[0] == "tdm_reserved"
    assert run(page(), http={"tdm-reservation": "1"})[0] == "tdm_reserved"
    assert run(page('<meta name="tdm-reservation" content="0">'))[0] is None  # explicitly not reserved


def test_robots_noai_in_meta_or_x_robots_tag_removes_the_page():
    assert run(page('<meta name="robots" content="index, follow, noai">'))[0] == "noai"
    assert run(page(), http={"x-robots-tag": "noimageai"})[0] == "noai"
    assert run(page('<meta name="robots" content="noindex, nofollow">'))[0] is None
    only_noai = Consent(noai_tokens=["noai"])
    assert run(page(), http={"x-robots-tag": "noimageai"}, step=only_noai)[0] is None


def test_an_all_rights_reserved_footer_is_not_a_reservation():
    verdict, doc = run(page(body="<p>未经许可，不得转载。Reproduction prohibited.</p>"))
    assert verdict is None and doc.license is None and "consent" not in doc.metadata


def test_reserved_pages_can_be_kept_with_the_signal_recorded():
    keep = Consent(drop_tdm_reserved=False)
    verdict, doc = run(page('<meta name="tdm-reservation" content="1">'
                            '<meta name="tdm-policy" content="https://tea.example.com/policy.json">'
                            '<meta name="robots" content="noai">'), step=keep)
    assert verdict is None
    assert doc.metadata["consent"] == {"tdm_reserved": True, "noai": ["noai"],
                                       "tdm_policy": "https://tea.example.com/policy.json"}


def test_plain_text_is_not_parsed_as_markup():
    text = 'To reserve TDM rights, add <meta name="tdm-reservation" content="1"> to your pages.'
    assert run(text, media_type=PLAIN)[0] is None
    assert run(text, media_type=PLAIN, http={"tdm-reservation": "1"})[0] == "tdm_reserved"


CC_BY_SA_4 = "https://creativecommons.org/licenses/by-sa/4.0/"


@pytest.mark.parametrize("html, http, expected, source", [
    (page('<link rel="license" href="https://creativecommons.org/licenses/by-sa/4.0/deed.zh">'),
     None, CC_BY_SA_4, "rel"),
    (page(footer='<a href="/about/license" rel="license noopener">License</a>'),
     None, "https://tea.example.com/about/license", "rel"),
    (page('<meta name="license" content="CC BY-SA 4.0">'), None, CC_BY_SA_4, "meta"),
    (page(), {"link": '<https://tea.example.com/wp-json/>; rel="https://api.w.org/", '
                      '<http://creativecommons.org/licenses/by-sa/4.0/>; rel="license"'},
     CC_BY_SA_4, "http_link"),
    (page(footer='<a href="https://creativecommons.org/licenses/by-sa/4.0/">'
                 '<img src="https://i.creativecommons.org/l/by-sa/4.0/88x31.png"></a>'),
     None, CC_BY_SA_4, "cc_link"),
    (page(footer="<footer>Except where otherwise noted, content on this site is licensed under a "
                 '<a href="https://creativecommons.org/licenses/by-sa/4.0/">CC BY-SA 4.0</a> '
                 "license.</footer>"), None, CC_BY_SA_4, "cc_link"),
    (page(footer='<footer>本站内容采用<a href="https://creativecommons.org/licenses/by-nc-sa/3.0/cn/">'
                 "知识共享署名-非商业性使用-相同方式共享 3.0 中国大陆许可协议</a>。</footer>"),
     None, "https://creativecommons.org/licenses/by-nc-sa/3.0/cn/", "cc_link"),
])
def test_declared_licences_are_recorded_as_urls(html, http, expected, source):
    verdict, doc = run(html, http=http)
    assert verdict is None
    assert (doc.license, doc.metadata["license_from"]) == (expected, source)


def test_a_photo_credit_is_not_the_pages_licence():
    credits = page(body='<figure><img src="kettle.jpg"><figcaption>Photo: A. Lee, licensed under '
                        '<a href="https://creativecommons.org/licenses/by/2.0/">CC BY 2.0</a>'
                        "</figcaption></figure>")
    assert run(credits)[1].license is None


def test_a_licence_already_known_is_kept():
    doc = Document("d", page('<link rel="license" href="https://example.org/other">'),
                   media_type=HTML, license="https://creativecommons.org/publicdomain/zero/1.0/")
    Consent().apply(doc)
    assert doc.license == "https://creativecommons.org/publicdomain/zero/1.0/"


def test_licence_urls_are_normalised():
    assert normalise_license("//creativecommons.org/licenses/by/4.0/legalcode") == \
        "https://creativecommons.org/licenses/by/4.0/"
    assert normalise_license("CC0") == "https://creativecommons.org/publicdomain/zero/1.0/"
    assert normalise_license("https://opensource.org/license/mit") == "https://opensource.org/license/mit"
    assert normalise_license("All rights reserved") == "All rights reserved"


def test_opted_out_domains_are_removed_with_their_subdomains(tmp_path):
    (tmp_path / "optout.txt").write_text("# publishers that asked\nnews.example.org\n")
    step = Consent(optout_files=[str(tmp_path / "optout.txt")])
    assert run(page(), url="https://news.example.org/2025/story", step=step)[0] == "optout"
    assert run(page(), url="https://m.news.example.org/story", step=step)[0] == "optout"
    assert run(page(), url="https://goodnews.example.org/story", step=step)[0] is None
    with pytest.raises(UserError, match="opt-out list not found"):
        build_step({"use": "consent", "optout_files": [str(tmp_path / "missing.txt")]})


def test_demo_corpus_tdm_page_goes_and_cc_licence_is_recorded(tmp_path):
    config = write_config(tmp_path / "c.toml", '[[steps]]\nuse = "consent"\n'
                                               '[[steps]]\nuse = "extract"\n')
    run_cli("clean", DEMO_WARC, "-o", tmp_path / "out", "--config", config)
    assert manifest(tmp_path / "out")["removed_by"] == {"consent:tdm_reserved": 1,
                                                        "read:non_html:image/png": 1}
    removed = [r["url"] for r in rows(tmp_path / "out", "removed") if r["step"] == "consent"]
    assert removed == ["https://ci.example.cn/lishi/jingdezhen.html"]
    licensed = {r["url"]: r["license"] for r in rows(tmp_path / "out") if r["license"]}
    assert licensed == {"https://science.example.org/physics/why-is-the-sky-blue":
                        "https://creativecommons.org/licenses/by/4.0/"}


def test_real_pages_site_licence_found_and_photo_credits_ignored(shared_data):
    def licence_of(name):
        html = gzip.open(shared_data / "web/html/trafilatura_cache" / name).read().decode("utf-8")
        doc = Document("d", html, media_type=HTML)
        Consent().apply(doc)
        return doc.license
    # A footer: "Except where otherwise noted, the content of this site is licensed under a
    # Creative Commons Attribution-ShareAlike 3.0 Unported license" - after photo credits
    # that link other CC licences.
    assert licence_of("wikimediafoundation.org.turkey.html.gz") == \
        "https://creativecommons.org/licenses/by-sa/3.0/"
    # Only an image credit: "Credit: Tomas Munita/CIFOR (CC BY-NC-ND 2.0)".
    assert licence_of("theplanetarypress.com.forestlands.html.gz") is None


def test_relative_license_link_without_page_url_is_not_a_license():
    from filters.consent import normalise_license
    assert normalise_license("DE/serviceseiten/impressum/impressum_node.html") is None
    assert normalise_license("/license.html", "https://a.example/x/") == "https://a.example/license.html"
