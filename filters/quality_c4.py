"""C4's clean-up rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a
Unified Text-to-Text Transformer", section 2.2; TFDS c4_utils.clean_page for the details).

C4 works on lines: it removes lines, which changes the text, and removes a document only for
lorem ipsum, a curly bracket or too few sentences in what is left. Defaults are C4's, except
the terminal-punctuation line rule, which is off as in FineWeb, and the sentence minimum, 3 (see
too_few_sentences below). Chinese and Japanese terminal punctuation includes 。！？…」』.
"""
from __future__ import annotations

import re

from corpus.document import Document
from filters import text_units
from filters.quality_base import COUNT, FLAG, LanguageRules

CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
# "Many of the scraped pages contained warnings stating that Javascript should be enabled so we
# removed any line with the word Javascript" (C4). After main-content extraction such warnings
# are rare and the word mostly appears in text about JavaScript, so only the warnings go.
JAVASCRIPT_WARNING = re.compile(
    r"(?:enabl|activat|turn(?:ed)? on|allow|support|requir|need)\w*\s+(?:\w+\s+){0,3}javascript"
    r"|javascript\s+(?:\w+\s+){0,3}(?:disabled|enabled|turned off|off|required|needed|must)"
    r"|(?:启用|开启|打开|允许|支持|禁用|禁止)\s*javascript|javascript\s*(?:已被|被)?(?:禁用|关闭)")
# C4's policy lines (TFDS c4_utils), plus their Chinese equivalents.
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies",
                  "use of cookies", "use cookies",
                  "隐私政策", "隐私条款", "隐私权政策", "使用条款", "服务条款", "用户协议",
                  "使用cookie", "cookie政策")


class C4(LanguageRules):
    """Drop lines that are not sentences, then documents with too little left (C4).

    Line rules (the line goes, the document stays):
      - a word longer than max_word_length (1000) characters;
      - no terminal punctuation (terminal_punct): off by default, as FineWeb runs C4, because
        it removed ~30% of the tokens for little gain (Penedo et al. 2024, section 3.3);
        true is C4 as published;
      - fewer than min_words_per_line (3) words (C4 splits on spaces; Chinese lines are
        counted in jieba's words);
      - a JavaScript warning ("please enable JavaScript", "JavaScript is disabled": what C4's
        rule was for; C4 dropped every line with the word, which after main-content extraction
        mostly hits text about JavaScript) (javascript); a policy or cookie phrase (policy).
      Wikipedia citation marks [1], [edit] are deleted from lines first (remove_citations).
    Document rules, each a removal reason:
      - lorem_ipsum: "lorem ipsum" in a kept line;
      - curly_bracket: a "{" in a kept line (C4's code filter, against the JavaScript left in
        Common Crawl's WET text). Off by default: after main-content extraction scripts are gone,
        and a "{" is code in a tutorial or answer, LaTeX, or Wikipedia's -{zh-hans:...}- variant
        markup (4% of Chinese Wikipedia paragraphs): it removed 61 of LIMA's 1,029 answers.
        true is C4 as published;
      - too_few_sentences: fewer than min_sentences (3) in the kept lines; a line of fenced
        code counts as one (a statement). C4 asked for 5, counted by NLTK's punkt, yet 21 of
        300 documents of C4's own release have 3 or 4 by this regex count: 3 removes none of
        them (docs/filters.md, "Clean prose"). Chinese and Japanese used 3 already.
    Blank lines between kept lines are kept, so paragraphs survive (C4 itself joined kept
    lines with one newline).
    languages: which languages are judged (default en, zh; ja has values too).
    """

    name = "c4"
    OPTION_KINDS = {
        "terminal_punct": FLAG, "min_words_per_line": COUNT, "max_word_length": COUNT,
        "min_sentences": COUNT, "javascript": FLAG, "policy": FLAG, "lorem_ipsum": FLAG,
        "curly_bracket": FLAG, "remove_citations": FLAG,
    }

    def __init__(self, *, languages: list[str] = ("en", "zh"),
                 terminal_punct=False, min_words_per_line=3, max_word_length=1000,
                 min_sentences=3,
                 javascript=True, policy=True, lorem_ipsum=True,
                 curly_bracket=False,
                 remove_citations=True):
        self.configure(languages, locals())

    def apply(self, doc: Document) -> str | None:
        rules = self.rules_for(doc)
        if rules is None:
            return None
        language = doc.language
        raw_lines = doc.text.split("\n")
        # C4 counts words by splitting on spaces; an unspaced line needs jieba's (or script-run)
        # words instead, computed once for the whole text.
        unspaced = text_units.is_unspaced(language)
        segmented = text_units.line_words(doc.text, language) if unspaced else raw_lines
        # Fenced code is kept as written and judged by none of the line rules (text_units.prose).
        in_code = text_units.code_lines(raw_lines) if doc.text != text_units.prose(doc.text) \
            else [False] * len(raw_lines)
        kept: list[str] = []
        kept_words: list[list[str]] = []
        sentences = 0
        blank_before = False
        for raw, line_words, code in zip(raw_lines, segmented, in_code):
            line = raw.strip()
            if not line and not code:
                blank_before = True
                continue
            words = line_words if unspaced else line.split()
            if code:
                # C4 counted every kept line as a sentence at least; a line of code is a statement.
                sentences += len(words) >= rules.min_words_per_line
                blank_before = self._keep(kept, kept_words, raw.rstrip(), words, blank_before)
                continue
            if any(len(word) > rules.max_word_length for word in words):
                continue
            if rules.remove_citations and "[" in line and CITATION.search(line):
                line, raw = CITATION.sub("", line).strip(), CITATION.sub("", raw)
                if unspaced:
                    words = text_units.split_words(line, language)
            if rules.terminal_punct and not text_units.ends_sentence(line, language):
                continue
            if len(words) < rules.min_words_per_line:
                continue
            lower = line.lower()
            if rules.lorem_ipsum and "lorem ipsum" in lower:
                return "lorem_ipsum"
            if rules.javascript and "javascript" in lower and JAVASCRIPT_WARNING.search(lower):
                continue
            if rules.curly_bracket and "{" in line:
                return "curly_bracket"
            if rules.policy and any(phrase in lower for phrase in POLICY_PHRASES):
                continue
            sentences += text_units.count_sentences(line, language)
            blank_before = self._keep(kept, kept_words, raw.rstrip(), words, blank_before)
        if sentences < rules.min_sentences:
            return "too_few_sentences"
        text = "\n".join(kept)
        if not text:
            return "no_text"
        if text != doc.text:
            doc.text = text
            if unspaced:
                text_units.remember(text, language, kept_words)
        return None

    @staticmethod
    def _keep(kept: list[str], kept_words: list[list[str]], line: str, words: list[str],
              blank_before: bool) -> bool:
        """Append a kept line, after one blank line if blank lines stood before it."""
        if blank_before and kept:
            kept.append("")
            kept_words.append([])
        kept.append(line)
        kept_words.append(words)
        return False
