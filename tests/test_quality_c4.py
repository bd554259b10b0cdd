"""C4's rules: lines that go (the document stays, with less text) and documents that go."""
from corpus.steps import build_step
from tests.quality_texts import EN_PROSE, ZH_PROSE, doc


def c4(document, **options):
    """(reason, text afterwards)."""
    reason = build_step({"use": "c4", **options}).apply(document)
    return reason, document.text


def test_ordinary_prose_is_kept_unchanged():
    assert c4(doc(EN_PROSE)) == (None, EN_PROSE)
    assert c4(doc(ZH_PROSE, "zh")) == (None, ZH_PROSE)


def test_javascript_and_policy_lines_go():
    page = "\n".join(["Please enable JavaScript to view the comments.", EN_PROSE,
                      "By using this site you agree to our Terms of Use and Privacy Policy.",
                      "This website uses cookies to improve your experience."])
    assert c4(doc(page)) == (None, EN_PROSE)
    zh_page = "\n".join([ZH_PROSE, "继续浏览即表示您同意我们的隐私政策和用户协议。"])
    assert c4(doc(zh_page, "zh")) == (None, ZH_PROSE)


def test_text_about_javascript_stays():
    """C4's rule was for "enable JavaScript" warnings; an answer about the language stays."""
    about = "In JavaScript every function can be called as a constructor with the new keyword."
    assert c4(doc(EN_PROSE + "\n" + about)) == (None, EN_PROSE + "\n" + about)


def test_lines_of_fewer_than_three_words_go():
    page = "Home\nOur history\n" + EN_PROSE + "\nShare this"
    assert c4(doc(page)) == (None, EN_PROSE)
    # Chinese lines are counted in jieba words, not space-separated chunks.
    zh_page = "首页\n关于我们\n" + ZH_PROSE + "\n分享"
    assert c4(doc(zh_page, "zh")) == (None, ZH_PROSE)


def test_terminal_punctuation_rule_when_turned_on():
    page = "Harbour Museum Opening Hours And Prices\n" + EN_PROSE
    assert c4(doc(page)) == (None, page)  # off by default, as FineWeb runs C4
    assert c4(doc(page), terminal_punct=True) == (None, EN_PROSE)
    # Chinese sentences also end in 」 after a mark, and in an ellipsis.
    zh_page = "海港博物馆开放时间与票价\n他说：「码头是用丝绸的钱修的。」\n" + ZH_PROSE + "\n后来的事情呢……"
    reason, text = c4(doc(zh_page, "zh"), terminal_punct=True)
    assert reason is None
    assert text.split("\n") == ["他说：「码头是用丝绸的钱修的。」", *ZH_PROSE.split("\n"), "后来的事情呢……"]


def test_english_ellipsis_does_not_end_a_sentence():
    reason, text = c4(doc(EN_PROSE + "\nRead the full story of the harbour..."), terminal_punct=True)
    assert (reason, text) == (None, EN_PROSE)


def test_wikipedia_citations_are_deleted():
    reason, text = c4(doc(EN_PROSE.replace("wool trade.", "wool trade.[3]").replace("noon.", "noon.[citation needed]")))
    assert reason is None and text == EN_PROSE


def test_lorem_ipsum_removes_the_document():
    assert c4(doc(EN_PROSE + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit."))[0] == "lorem_ipsum"
    assert c4(doc(ZH_PROSE + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", "zh"))[0] == "lorem_ipsum"


def test_curly_bracket_rule_is_off_unless_asked():
    """After extraction a "{" is code in an answer, LaTeX or -{zh-hans:...}- Wikipedia markup."""
    code = EN_PROSE + "\nfunction show() { return boats.map(b => b.name); }"
    assert c4(doc(code)) == (None, code)
    assert c4(doc(code), curly_bracket=True)[0] == "curly_bracket"  # C4 as published
    wiki = ZH_PROSE.replace("小城", "-{zh-hans:小城;zh-hant:小城}-", 1)
    assert c4(doc(wiki, "zh")) == (None, wiki)


def test_too_few_sentences():
    """Three sentences, not C4's five: C4's own release holds 3- and 4-sentence documents."""
    assert c4(doc("The quay was built in 1720. It still stands today."))[0] == "too_few_sentences"
    assert c4(doc("The quay was built in 1720. It still stands today. Boats moor there."))[0] is None
    assert c4(doc("码头建于明代，至今仍在使用。渔船每天清晨靠岸。", "zh"))[0] == "too_few_sentences"
    assert c4(doc("码头建于明代，至今仍在使用。渔船每天清晨靠岸。集市在中午前散去。", "zh"))[0] is None


def test_abbreviations_do_not_end_sentences():
    two = "Mrs. Smith and Dr. Jones met at the U.S. embassy. They talked."
    assert c4(doc(two))[0] == "too_few_sentences"
    assert c4(doc(two + " They left."))[0] is None


def test_paragraph_breaks_survive_line_removal():
    first, second = EN_PROSE.split("\n")
    page = f"{first}\nShare this\n\n\n{second}\nEnable JavaScript to comment here."
    assert c4(doc(page)) == (None, f"{first}\n\n{second}")


def test_fenced_code_is_kept_as_written_and_not_judged_as_prose():
    """A code sample's short lines are not menu lines: c4 keeps them byte for byte, and they
    count as statements, not as the prose's sentences; text_units.prose leaves them out."""
    from filters.text_units import prose
    code = "```python\nimport os\n\nx = {'a': 1}\nprint(x)\n```"
    answer = EN_PROSE + "\n\n" + code + "\nThe ``` in `a ``` b` is inline."
    assert c4(doc(answer)) == (None, answer)
    assert prose(answer) == EN_PROSE + "\n\nThe ``` in `a ``` b` is inline."
    assert prose("```x = 1\ny = 2\n```\nDone.") == "Done."            # code on the fence line
    assert prose("```f()``` returns one.") == "```f()``` returns one."  # inline, not a block
    copy = "".join(["```f()``` returns", " one."])  # an equal text in another object, just after
    assert prose(copy) is copy  # no code cut: the text itself, so it is judged as prose
    assert c4(doc("Short intro here.\n" + code)) == ("too_few_sentences", "Short intro here.\n" + code)
