import gzip

import pytest

from corpus.charset import Undecodable, codec_for, decode

ESSAY = "长城是中国古代的军事防御工程，绵延万里。〇" * 20


def test_gbk_without_any_declaration_is_detected():
    text, codec = decode(ESSAY.encode("gbk"))
    assert codec == "gb18030" and text == ESSAY


def test_gb2312_label_means_gbk_as_browsers_do():
    # 〇 exists in GBK but not in GB2312: a strict gb2312 decode would fail.
    raw = b'<meta charset="gb2312">' + ESSAY.encode("gbk")
    assert decode(raw)[0].endswith(ESSAY)
    assert codec_for("GB2312") == "gb18030" and codec_for("iso-8859-1") == "cp1252"


def test_valid_utf8_wins_over_a_lying_declaration():
    raw = b'<meta charset="gb2312">' + ESSAY.encode("utf-8")
    assert decode(raw, declared="gb2312") == (raw.decode("utf-8"), "utf-8")


def test_utf8_page_with_one_cut_character_stays_utf8():
    raw = ("<meta charset='utf-8'>" + "Fundację Lux Veritatis " * 50).encode() + b"papieros\xc3..."
    text, codec = decode(raw)
    assert codec == "utf-8" and "Fundację" in text and text.count("\ufffd") == 1


def test_cyrillic_from_http_header():
    words = "Компания предлагает услуги по ремонту квартир в Санкт-Петербурге. " * 10
    text, codec = decode(words.encode("cp1251"), declared="windows-1251")
    assert codec == "cp1251" and text == words


def test_binary_junk_is_refused():
    with pytest.raises(Undecodable, match="binary"):
        decode(bytes(range(256)) * 100)


def test_real_gne_pages_that_declare_gb2312_but_are_utf8(shared_data):
    lying = []
    for path in sorted((shared_data / "web/html/gne_zh").glob("*.html.gz")):
        raw = gzip.decompress(path.read_bytes())
        if b"gb2312" in raw[:4096].lower():
            text, codec = decode(raw)
            assert codec == "utf-8" and "\ufffd" not in text
            lying.append(path.name)
    assert len(lying) >= 3
