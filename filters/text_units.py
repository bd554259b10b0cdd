"""Words, lines and sentence ends for the quality rules, in any script, without spaCy.

Peers split words with spaCy, which is most of their run time and English-centric. Here:

- Spaced scripts (Latin, Cyrillic, Greek, Arabic, Hangul, Devanagari, ...): one regex. A word
  is a run of letters, digits and combining marks, kept whole across an inner apostrophe,
  hyphen, period or comma ("don't", "well-known", "U.S", "3.14", "1,000"); punctuation and
  symbols are not words.
- Chinese (zh, and lid.176's wuu / yue): jieba's dictionary and algorithm, through rjieba
  (jieba-rs, its Rust port), loaded on the first Chinese document, with its tokens that hold
  no letter or digit (punctuation, spaces) dropped. Without HMM, rjieba cuts as jieba does:
  the same tokens on 4.3 M characters of Chinese Wikipedia, classics and every shared web
  page, loaded in ~0.1 s instead of ~0.6 s per process and cutting ~14x faster.
- Japanese and the other unspaced scripts (th, lo, km, my, bo): no segmenter is installed,
  so each run of one script counts as a word (kanji, hiragana, katakana, or letters of
  another script). Particles and okurigana make hiragana runs, so a Japanese "word" is
  roughly a morpheme cluster of 1-4 characters: good enough for counts and repetition,
  not for linguistics.

The last (text, language) -> words result is cached, so the rule steps that run one after
another on the same document split it once.
"""
from __future__ import annotations

import re
import unicodedata

#: Languages segmented with jieba.
JIEBA_LANGUAGES = frozenset({"zh", "wuu", "yue"})
#: Languages written without spaces between words (CJK rules apply: counts in characters).
UNSPACED_LANGUAGES = JIEBA_LANGUAGES | {"ja", "th", "lo", "km", "my", "bo"}


def _mark_class() -> str:
    """Combining marks of the BMP (Hindi viramas, Thai vowels ...): part of a word, though
    Python's `\\w` does not match them."""
    ranges, start, prev = [], None, None
    for cp in range(0x10000):
        if unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me"):
            if start is None:
                start = cp
            elif cp != prev + 1:
                ranges.append((start, prev))
                start = cp
            prev = cp
    ranges.append((start, prev))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


_LETTER = rf"(?:[^\W_]|[{_mark_class()}])"
_WORD = rf"{_LETTER}+(?:['’\-.,]{_LETTER}+)*"
SPACED_WORD = re.compile(_WORD)
# Kanji (with 々〆ヵヶ), katakana (with ー), hiragana, then any other word.
_SCRIPT_RUN = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヵヶ]+|[\u30a0-\u30ff\u31f0-\u31ffー]+"
    rf"|[\u3040-\u309f]+|{_WORD}")
_HAS_WORD_CHAR = re.compile(rf"{_LETTER}").search

_jieba = None


def _jieba_cut():
    global _jieba
    if _jieba is None:
        import rjieba
        _jieba = rjieba
    return _jieba.cut


def _jieba_lines(text: str) -> list[list[str]]:
    """jieba's words, line by line. HMM off: unknown names split into characters (a third of
    jieba's time saved). A number jieba cuts at its point or comma ("0", ".", "32") is joined
    again, so that "上涨0.32个百分点" has a number as one word, as "rose 0.32 points" does;
    otherwise every figure in a statistics report makes repeated word n-grams."""
    lines: list[list[str]] = [[]]
    glue = ""  # the last token: "." or "," right after a number
    for token in _jieba_cut()(text, False):
        words = lines[-1]
        if "\n" in token:  # "\n", or "\r\n" which jieba keeps as one token
            lines.append([])
            glue = ""
        elif _HAS_WORD_CHAR(token):
            if glue and token[0].isdigit():
                words[-1] += glue + token
            else:
                words.append(token)
            glue = ""
        else:
            glue = token if token in ".," and words and words[-1][-1].isdigit() else ""
    return lines


def split_words(text: str, language: str | None) -> list[str]:
    """The words of `text` (punctuation and spaces dropped), split the way `language` needs."""
    if language in JIEBA_LANGUAGES:
        return [word for line in _jieba_lines(text) for word in line]
    if language in UNSPACED_LANGUAGES:
        return _SCRIPT_RUN.findall(text)
    return SPACED_WORD.findall(text)


def split_line_words(text: str, language: str | None) -> list[list[str]]:
    """The words of each line of `text` (lines split on "\n")."""
    if language in JIEBA_LANGUAGES:
        lines = _jieba_lines(text)
        if len(lines) == text.count("\n") + 1:
            return lines
        return [split_words(line, language) for line in text.split("\n")]  # safety net
    pattern = _SCRIPT_RUN if language in UNSPACED_LANGUAGES else SPACED_WORD
    return [pattern.findall(line) for line in text.split("\n")]


class _Last:
    """The last text split, so that rule steps running back to back split it once."""
    text: str = ""
    language: str | None = None
    words: list[str] | None = None
    line_words: list[list[str]] | None = None

    def hit(self, text: str, language: str | None) -> bool:
        if language == self.language and (text is self.text or text == self.text):
            return True
        self.text, self.language, self.words, self.line_words = text, language, None, None
        return False


_last = _Last()


def words(text: str, language: str | None) -> list[str]:
    """`split_words`, remembered for the next step."""
    if language in JIEBA_LANGUAGES:  # one jieba pass serves both views
        if not _last.hit(text, language) or _last.words is None:
            _last.words = [word for line in line_words(text, language) for word in line]
    elif not _last.hit(text, language) or _last.words is None:
        _last.words = split_words(text, language)
    return _last.words


def line_words(text: str, language: str | None) -> list[list[str]]:
    """`split_line_words`, remembered for the next step."""
    if not _last.hit(text, language) or _last.line_words is None:
        _last.line_words = split_line_words(text, language)
    return _last.line_words


def remember(text: str, language: str | None, words_of_lines: list[list[str]]) -> None:
    """A step that rewrote the text and knows its words per line saves the next step a split
    (jieba is the slowest part of the Chinese rules)."""
    _last.hit(text, language)
    _last.line_words = words_of_lines


# A Markdown code fence: ``` or ~~~ (3 or more) at the start of a line, up to 3 spaces in.
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


def code_lines(lines: list[str]) -> list[bool]:
    """Which lines belong to a fenced code block, fences included.

    As CommonMark, a block ends at a fence of the same character at least as long, or at the
    end of the text. Unlike CommonMark, code may follow the opening fence on its line
    ("```x = 1", as StackExchange answers write it); a line that closes its own run
    ("```foo()``` returns ...") is inline code, not a block.
    """
    flags, fence = [], None
    for line in lines:
        if fence is None:
            opening = _FENCE.match(line)
            if opening and opening.group(1) not in line[opening.end():]:
                fence = opening.group(1)
            flags.append(fence is not None)
        else:
            flags.append(True)
            closing = _FENCE.match(line)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence) \
                    and not line[closing.end():].strip():
                fence = None
    return flags


_last_prose: list = [None, None]


def prose(text: str) -> str:
    """The text without its fenced code blocks: what the prose rules judge.

    Code is not prose: a code sample has no sentences, few stop words, short and repeated
    lines, and fastText reads it as no language, so every prose rule would remove an answer or
    tutorial for its code. Markdown fences say where code is (SFT answers, forum and
    StackExchange dumps, Markdown documents); text extracted from HTML has none, so web pages
    are judged exactly as before. The text itself is not changed. Remembered for the next step.
    """
    if "```" not in text and "~~~" not in text:
        return text
    if _last_prose[0] is text or _last_prose[0] == text:
        # the same text in another object (a document's copy): still `text` itself when no
        # code was cut, as callers tell "has fenced code" by `prose(text) is not text`
        return text if _last_prose[1] is _last_prose[0] else _last_prose[1]
    lines = text.split("\n")
    kept = [line for line, code in zip(lines, code_lines(lines)) if not code]
    _last_prose[:] = [text, "\n".join(kept) if len(kept) < len(lines) else text]
    return _last_prose[1]


#: Fewer words of prose than this beside fenced code: the prose ratios have too little to go on.
MIN_PROSE_WORDS = 50


def judged_prose(text: str, language: str | None) -> str | None:
    """The prose the ratio and repetition rules judge, or None for a document that is mostly
    code (fenced code and fewer than MIN_PROSE_WORDS words around it: "Here is the fix:" gives
    no share of stop words, punctuated lines or repeated n-grams worth reading)."""
    view = prose(text)
    if view is not text and len(words(view, language)) < MIN_PROSE_WORDS:
        return None
    return view


def is_unspaced(language: str | None) -> bool:
    return language in UNSPACED_LANGUAGES


# Sentence-final marks. Latin ".!?" as C4; CJK full-width and half-width forms; Devanagari
# danda, Arabic/Urdu, Armenian, Ethiopic, Myanmar, Khmer, Tibetan and the interrobangs.
SENTENCE_END_CHARS = ".!?。！？｡．‼⁇⁈⁉‽।॥؟۔։።፧၊။។៕༎"
# Quotes and brackets that may close a sentence after its mark: 。」 or ." both end one.
CLOSING_CHARS = "\"'”’」』）)]》〉»›"
ELLIPSES = ("...", "…")
_TERMINAL_MARKS = (*SENTENCE_END_CHARS, "…")


def ends_sentence(line: str, language: str | None) -> bool:
    """Does this (right-stripped) line end like a sentence?

    Spaced languages follow C4: a line ending in . ! ? or a quote mark, but not in an
    ellipsis. Unspaced (CJK) text also ends sentences with 」』”） after a mark, and with an
    ellipsis (……), which is ordinary sentence-final punctuation in Chinese narrative.
    """
    if not line:
        return False
    if is_unspaced(language):
        return line.rstrip(CLOSING_CHARS).endswith(_TERMINAL_MARKS)
    if line.endswith(ELLIPSES):
        return False
    return line[-1] in SENTENCE_END_CHARS or line[-1] in "\"'”’"


def ends_with_terminal_mark(line: str) -> bool:
    """FineWeb's line test: ends in a sentence mark (any script, ellipsis included), closing
    quotes and brackets after it allowed. Language-independent."""
    return line.rstrip().rstrip(CLOSING_CHARS).endswith(_TERMINAL_MARKS)


_SENTENCE_BREAK_SPACED = re.compile(
    rf"(?:\.{{3}}|…|[{re.escape(SENTENCE_END_CHARS)}])+[{re.escape(CLOSING_CHARS)}]*(?=\s+\S)")
_SENTENCE_BREAK_UNSPACED = re.compile(
    rf"(?:[{re.escape(SENTENCE_END_CHARS)}]|…+)+[{re.escape(CLOSING_CHARS)}]*(?=\S)")


# Periods that end an abbreviation, not a sentence: initials (J. Smith), dotted acronyms
# (U.S., e.g.), titles and months. Latin script only; spaCy's tokenizer knows these too.
_ABBREVIATION = re.compile(
    r"(?<![\w.])(?:[A-Z]|(?:[A-Za-z]\.)+[A-Za-z]|Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|No|Nos|vs|cf|al"
    r"|Fig|Figs|Inc|Ltd|Co|Corp|Dept|Gen|Gov|Sen|Rep|Rev|Capt|Col|Lt|Sgt|approx|ca"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.(?=\s+\S)")


def count_sentences(line: str, language: str | None) -> int:
    """Sentences in one line: breaks after sentence-final marks, plus the line itself.

    A regex stand-in for spaCy's sentencizer: in spaced scripts a break needs a space after
    the mark ("3.14" inside a word does not split) and abbreviations (Mrs., U.S., e.g.) do
    not split; in CJK no space is needed.
    """
    if not line.strip():
        return 0
    if is_unspaced(language):
        return 1 + len(_SENTENCE_BREAK_UNSPACED.findall(line))
    breaks = len(_SENTENCE_BREAK_SPACED.findall(line))
    if breaks and "." in line:
        breaks -= len(_ABBREVIATION.findall(line))
    return 1 + max(breaks, 0)
