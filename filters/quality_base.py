"""What every heuristic quality step shares: which languages it judges, and thresholds that
may differ by language.

Published heuristics (Gopher, C4, FineWeb) were tuned on English. Chinese and Japanese have no
spaces, shorter words and other punctuation, so a threshold option takes either one value for
every language or a table by language code with a "*" entry for the rest:

    min_mean_word_length = 3                      # every language
    min_mean_word_length = {"*" = 3, zh = 1}      # Chinese words are 1-2 characters

The step's signature holds the full default tables, so the resolved config in the manifest
shows exactly which value ran for which language.

A step judges only documents whose `doc.language` (set by the `language` step, which must run
first) is in its `languages` option ("*" = all); every other document passes untouched.
"""
from __future__ import annotations

import sys
from types import SimpleNamespace

from corpus.document import Document
from corpus.steps import Step, require


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# Kinds of threshold: (what the user is told, the check).
FRACTION = ("a number between 0 and 1", lambda v: _number(v) and 0 <= v <= 1)
COUNT = ("an integer >= 0", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0)
NUMBER = ("a number >= 0", lambda v: _number(v) and v >= 0)
FLAG = ("true or false", lambda v: isinstance(v, bool))
ALL = "*"


class LanguageRules(Step):
    """Base class: subclasses list their thresholds in OPTION_KINDS and call `configure`."""

    OPTION_KINDS: dict[str, tuple] = {}

    def configure(self, languages, options: dict) -> None:
        require(isinstance(languages, (list, tuple)) and languages
                and all(isinstance(code, str) and code for code in languages),
                'languages must be a non-empty list of language codes, or ["*"] for all')
        self.languages = frozenset(languages)
        self._tables: dict[str, dict] = {}
        for name, (kind, check) in self.OPTION_KINDS.items():
            value = options[name]
            table = value if isinstance(value, dict) else {ALL: value}
            require(ALL in table, f'{name}: a table by language needs a "*" entry (other languages)')
            for code, v in table.items():
                require(check(v), f"{name} must be {kind}, not {v!r}"
                        + ("" if code == ALL else f" (for {code})"))
            self._tables[name] = dict(table)
        self._rules: dict[str | None, SimpleNamespace] = {}
        self._warned_no_language = False

    def rules_for(self, doc: Document) -> SimpleNamespace | None:
        """The thresholds for this document's language, or None if the step skips it."""
        language = doc.language
        if language is None and not self._warned_no_language:
            self._warned_no_language = True
            print(f"warning: step {self.name!r} sees documents without a language; put the "
                  "`language` step before it (they are judged only if languages = [\"*\"])",
                  file=sys.stderr)
        if ALL not in self.languages and language not in self.languages:
            return None
        rules = self._rules.get(language)
        if rules is None:
            rules = SimpleNamespace(**{name: table.get(language, table[ALL])
                                       for name, table in self._tables.items()})
            self._rules[language] = rules
        return rules
