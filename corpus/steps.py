"""Pipeline steps: small classes with one job, registered by name for TOML configs.

A step looks at one document and returns None to keep it (it may have changed its text or
added a score) or a short reason to remove it. The pipeline, not the step, keeps the books:
it counts, times and writes the removed ledger, so steps stay a few lines long.
"""
from __future__ import annotations

import inspect
from collections import Counter
from typing import ClassVar

from . import scripts
from .document import Document
from .errors import UserError

REGISTRY: dict[str, type[Step]] = {}


class Step:
    """Base class. Subclasses set `name` and implement `apply`."""

    name: ClassVar[str] = ""
    #: Parquet columns (float32) this step fills in `doc.scores`, e.g. ("score_quality",).
    score_columns: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name:
            REGISTRY[cls.name] = cls

    def setup(self) -> None:
        """Load heavy resources (models, word lists) once per worker, after the step is shipped."""

    def apply(self, doc: Document) -> str | None:
        raise NotImplementedError

    #: True when `screen` can judge an HTML page before extraction (see Pipeline).
    screens: bool = False
    #: True for a step that removes few pages for its cost (it reads the whole page): standing
    #: right before the costly step, it lets the screens judge a page first (see Pipeline).
    after_screens: bool = False

    def screen(self, doc: Document, view: str) -> str | None:
        """A verdict on an HTML page from `view`, its cheap text (html_view.py): a reason to
        remove it before an expensive extractor runs, or None to let it go on. The pipeline
        calls it for steps with `screens` set, right before a `costly` step."""
        return None

    # Counters a step keeps for its report (e.g. decontam: documents hit per benchmark). The
    # pipeline collects them per task, the run sums them into manifest["step_counts"], and
    # `write_report` may turn the sum into a file of the step's own.
    def count(self, key: str, n: int = 1) -> None:
        self.__dict__.setdefault("_counts", Counter())[key] += n

    def take_counts(self) -> dict[str, int]:
        counts = self.__dict__.pop("_counts", Counter())
        return dict(sorted(counts.items()))

    def write_report(self, out: str, counts: dict[str, int]) -> None:
        """Write OUT/<something> from the run's summed counts; called once, after the run."""


def options_of(cls: type[Step]) -> list[str]:
    params = inspect.signature(cls.__init__).parameters
    return [p for p in params if p != "self" and params[p].kind == params[p].KEYWORD_ONLY]


def build_step(spec: dict) -> Step:
    """Instantiate one `[[steps]]` table; every mistake in it becomes a one-line UserError."""
    spec = dict(spec)
    name = spec.pop("use", None)
    if not name:
        raise UserError("config: every [[steps]] entry needs `use = \"<step name>\"`")
    cls = REGISTRY.get(name)
    if cls is None:
        raise UserError(f"config: unknown step {name!r} (known: {', '.join(sorted(REGISTRY))})")
    known = options_of(cls)
    for key in spec:
        if key not in known:
            raise UserError(f"config: step {name!r} has no option {key!r} "
                            f"(options: {', '.join(known) or 'none'})")
    try:
        return cls(**spec)
    except (TypeError, ValueError) as exc:
        raise UserError(f"config: step {name!r}: {exc}") from None


def require(condition: bool, message: str) -> None:
    """Validate a step option in __init__; the message reaches the user as one line."""
    if not condition:
        raise ValueError(message)


class Length(Step):
    """Remove documents whose text is too short or too long to be useful.

    Length is counted in characters weighted by script: a CJK character counts `cjk_weight`
    (3: it carries about what a short English word does, as FineWeb's short-line rule assumes
    for zh/ja), so 200 is about 35 English words or 67 Chinese characters (two sentences), not
    a tweet in one language and a paragraph in the other.
    Defaults: 200 follows C4/RefinedWeb practice of dropping pages that are mostly a title and
    a menu; no upper bound unless asked.
    """

    name = "length"

    def __init__(self, *, min_chars: int = 200, max_chars: int | None = None,
                 cjk_weight: int = scripts.CJK_CHAR_WEIGHT):
        require(isinstance(min_chars, int) and min_chars >= 0, "min_chars must be an integer >= 0")
        require(max_chars is None or (isinstance(max_chars, int) and max_chars >= min_chars),
                "max_chars must be an integer >= min_chars")
        require(isinstance(cjk_weight, int) and not isinstance(cjk_weight, bool) and cjk_weight >= 1,
                "cjk_weight must be an integer >= 1 (1 counts every character the same)")
        self.min_chars, self.max_chars, self.cjk_weight = min_chars, max_chars, cjk_weight

    def apply(self, doc: Document) -> str | None:
        n = len(doc.text)
        # Weighing only raises the count: a text this long passes whatever its script.
        if n < self.min_chars * self.cjk_weight or self.max_chars is not None:
            n = scripts.weighted_length(doc.text, self.cjk_weight)
        if n < self.min_chars:
            return "too_short"
        if self.max_chars is not None and n > self.max_chars:
            return "too_long"
        return None
