"""pii: e-mail and public IP addresses become stand-ins (as FineWeb); nothing else changes."""
import gzip

from corpus.document import HTML, Document
from corpus.extract import Extract
from filters.pii import DATATROVE_EMAILS, DATATROVE_IPS, Pii


def scrub(text, step=None):
    doc = Document("d", text)
    assert (step or Pii()).apply(doc) is None  # never removes a document
    return doc.text, doc.metadata.get("pii")


def test_emails_are_replaced_in_english_and_chinese_text():
    text, counts = scrub("Write to jane.doe+tea@mail.co.uk or 联系邮箱abc_123@qq.com，谢谢。")
    assert text == f"Write to {DATATROVE_EMAILS[0]} or 联系邮箱{DATATROVE_EMAILS[1]}，谢谢。"
    assert counts == {"email": 2}


def test_example_addresses_and_image_names_are_left_alone():
    text = "See user@example.com, admin@site.test and the logo@2x.png icon."
    assert scrub(text) == (text, None)


def test_public_ipv4_addresses_are_replaced_private_ones_and_versions_kept():
    text, counts = scrub("服务器 8.8.8.8 与网关 192.168.1.1；版本 v1.2.3.4；OID 1.3.6.1.4.1；"
                         "loopback 127.0.0.1; resolver 1.1.1.1.")
    assert text == (f"服务器 {DATATROVE_IPS[0]} 与网关 192.168.1.1；版本 v1.2.3.4；OID 1.3.6.1.4.1；"
                    f"loopback 127.0.0.1; resolver {DATATROVE_IPS[1]}.")
    assert counts == {"ip": 2}


def test_ipv6_global_addresses_are_replaced_but_times_and_code_are_not():
    text, counts = scrub("DNS 2606:4700:4700::1111, docs 2001:db8::1, link fe80::1, at 12:30:45, "
                         "std::vector, a[1::2], MAC 00:1a:2b:3c:4d:5e.")
    assert text == (f"DNS {DATATROVE_IPS[0]}, docs 2001:db8::1, link fe80::1, at 12:30:45, "
                    "std::vector, a[1::2], MAC 00:1a:2b:3c:4d:5e.")
    assert counts == {"ip": 1}


def test_a_second_run_changes_nothing_and_replacements_restart_each_document():
    step = Pii()
    once, _ = scrub("a@mail.com b@mail.com 9.9.9.9", step)
    assert scrub(once, step) == (once, None)
    assert scrub("c@mail.com", step)[0] == DATATROVE_EMAILS[0]  # not the second: no carried state


def test_options_choose_what_is_replaced_and_with_what():
    step = Pii(ips=False, email_replacements=["[email]"])
    assert scrub("x@mail.com on 8.8.8.8", step) == ("[email] on 8.8.8.8", {"email": 1})
    everything = Pii(public_ips_only=False, ip_replacements=["0.0.0.0"])
    assert scrub("gateway 192.168.1.1", everything) == ("gateway 0.0.0.0", {"ip": 1})


def test_real_page_after_extraction(shared_data):
    html = gzip.open(shared_data / "web/html/trafilatura_eval/axios.com.future.html.gz").read()
    doc = Document("d", html.decode("utf-8"), media_type=HTML)
    Extract().apply(doc)
    assert "@axios.com" in doc.text
    Pii().apply(doc)
    assert "@axios.com" not in doc.text and doc.metadata["pii"] == {"email": 3}
