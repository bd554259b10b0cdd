"""url_blocklist: a listed domain removes itself and its subdomains, and nothing else."""
import pytest

from corpus.document import Document
from corpus.errors import UserError
from corpus.steps import build_step
from filters.url_blocklist import UrlBlocklist
from tests.conftest import DEMO_WARC, manifest, run_cli, write_config


def verdict(step, url):
    return step.apply(Document("d", "text", url=url))


def test_builtin_list_blocks_known_sites_and_their_subdomains_only():
    step = UrlBlocklist()
    assert verdict(step, "https://www.pornhub.com/view_video.php?x=1") == "adult"
    assert verdict(step, "https://de.xhamster.com/") == "adult"
    assert verdict(step, "https://sports.bet365.com/en") == "gambling"
    assert verdict(step, "http://anything.xxx/page") == "adult"         # the .xxx top-level domain
    assert verdict(step, "https://notpornhub.com/") is None
    assert verdict(step, "https://en.wikipedia.org/wiki/Casino") is None
    assert verdict(step, "https://xxx.example.org/") is None              # a label, not the TLD
    assert verdict(step, None) is None                                    # JSONL text without a URL


def test_a_domain_file_matches_on_label_boundaries(tmp_path):
    listed = tmp_path / "spam.txt"
    listed.write_text("# found by hand\ncasino.com\n\n*.lotto.example.net  # wildcard form\n"
                      "https://www.badsite.org/some/page\n例子.中国\n", encoding="utf-8")
    step = UrlBlocklist(builtin=False, files=[str(listed)])
    assert verdict(step, "http://casino.com/") == "spam"                  # the file's stem
    assert verdict(step, "http://WWW.Casino.COM.:8080/x") == "spam"       # case, trailing dot, port
    assert verdict(step, "http://a.b.casino.com/") == "spam"
    assert verdict(step, "http://notcasino.com/") is None
    assert verdict(step, "http://casino.com.evil.org/") is None
    assert verdict(step, "http://lotto.example.net/") == "spam"
    assert verdict(step, "http://badsite.org/other") == "spam"            # a URL line lists its host
    assert verdict(step, "http://例子.中国/页面") == "spam"                  # IDN, written in Unicode
    assert verdict(step, "http://www.xn--fsqu00a.xn--fiqs8s/") == "spam"  # ... or in punycode


def test_ut1_folder_with_chosen_categories(tmp_path):
    for category, domains in {"adult": "smut.example\n", "gambling": "dice.example\n",
                              "press": "news.example\n"}.items():
        (tmp_path / category).mkdir()
        (tmp_path / category / "domains").write_text(domains)
    step = UrlBlocklist(builtin=False, files=[str(tmp_path)], categories=["adult", "gambling"])
    assert verdict(step, "https://www.smut.example/") == "adult"
    assert verdict(step, "https://dice.example/") == "gambling"
    assert verdict(step, "https://news.example/") is None


def test_bad_options_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        build_step({"use": "url_blocklist", "files": [str(tmp_path / "missing.txt")]})
    with pytest.raises(UserError, match="categories phishing"):
        build_step({"use": "url_blocklist", "categories": ["phishing"]})
    with pytest.raises(UserError, match="no blocklists"):
        build_step({"use": "url_blocklist", "builtin": False})


def test_in_a_clean_run_blocked_pages_are_removed_before_extraction(tmp_path):
    (tmp_path / "gambling.txt").write_text("bet.example.cn\ncasino-bonus.example.net\n")
    config = write_config(tmp_path / "c.toml", f"""
[[steps]]
use = "url_blocklist"
files = ["{tmp_path / 'gambling.txt'}"]
[[steps]]
use = "extract"
""")
    run_cli("clean", DEMO_WARC, "-o", tmp_path / "out", "--config", config)
    assert manifest(tmp_path / "out")["removed_by"]["url_blocklist:gambling"] == 2
