"""The url_blocklist step: remove pages whose host is on a domain blocklist.

Cheap (a few dict lookups a page) and it needs only the URL, so it belongs before `extract`:
a blocked page never costs an extraction. RefinedWeb and FineWeb start the same way, with the
UT1 blacklists (Université Toulouse 1: https://dsi.ut-capitole.fr/blacklists/).
"""
from __future__ import annotations

import os
from pathlib import Path

from corpus.document import Document
from corpus.steps import Step, require

from ._domains import DomainList, read_sections, ut1_categories

BUILTIN_LIST = Path(__file__).parent / "lists" / "domains.txt"


class UrlBlocklist(Step):
    """Remove pages whose host (or a domain it belongs to) is on a domain blocklist.

    The reason is the list's category: `adult`, `gambling`, a UT1 category, a file's stem.

    builtin: use the small list in filters/lists/domains.txt (well-known adult and gambling
        sites and the .xxx/.porn/.sex/.adult/.casino/.bet/.poker top-level domains).
    files: more lists, each a file (one domain a line, `#` comments; the file's stem is the
        category) or a folder in UT1 layout (`<category>/domains`).
    categories: take only these categories from UT1 folders and the built-in list (default:
        all), e.g. ["adult", "gambling", "phishing"].

    Pages without a URL pass. "casino.com" blocks "www.casino.com" and "a.b.casino.com",
    never "notcasino.com".
    """

    name = "url_blocklist"

    def __init__(self, *, builtin: bool = True, files: list[str] | tuple = (),
                 categories: list[str] | None = None):
        require(isinstance(builtin, bool), "builtin must be true or false")
        require(isinstance(files, (list, tuple)) and all(isinstance(f, str) for f in files),
                "files must be a list of paths")
        for path in files:
            require(os.path.exists(path), f"blocklist not found: {path}")
        require(builtin or files, "no blocklists: set builtin = true or give files")
        require(categories is None or (isinstance(categories, list)
                                       and all(isinstance(c, str) for c in categories)),
                "categories must be a list of names")
        if categories is not None:
            offered = set(read_sections(BUILTIN_LIST, "builtin")) if builtin else set()
            for path in files:
                if os.path.isdir(path):
                    offered.update(ut1_categories(path))
            missing = sorted(set(categories) - offered)
            require(not missing, f"no list offers the categories {', '.join(missing)} "
                                 f"(offered: {', '.join(sorted(offered)) or 'none'})")
        self.builtin, self.files, self.categories = builtin, list(files), categories
        self._blocked: DomainList | None = None

    def setup(self) -> None:
        blocked = DomainList()
        for path in self.files:  # the user's lists first: their category names win
            blocked.add_path(path, self.categories if os.path.isdir(path) else None)
        if self.builtin:
            for category, domains in read_sections(BUILTIN_LIST, "builtin").items():
                if self.categories is None or category in self.categories:
                    blocked.add(domains, category)
        self._blocked = blocked

    def apply(self, doc: Document) -> str | None:
        if self._blocked is None:
            self.setup()
        return self._blocked.match(doc.url)
