"""The consent step: honour machine-readable opt-outs and record declared licences.

Runs on the raw page (place it before `extract`), because the signals live in markup and HTTP
headers that extraction throws away:

- a text-and-data-mining reservation (W3C TDMRep, the TDM Reservation Protocol community
  report): `<meta name="tdm-reservation" content="1">` or the `tdm-reservation: 1` header;
- a robots `noai` / `noimageai` directive, in `<meta name="robots">` or `X-Robots-Tag`;
- the site's domain on an opt-out list;
- a declared licence: `rel="license"` on `<link>`/`<a>`, `<meta name="license">`, an HTTP
  `Link: <...>; rel="license"` header, or a Creative Commons badge or a Creative Commons link
  whose surrounding text speaks of the whole site ("all content on this site ...").

Prose is never read: an ordinary "All rights reserved" / "版权所有" footer asserts copyright,
it does not reserve text and data mining, so such pages stay. (A reservation written only in
prose, e.g. in terms of service, is out of this step's reach; the EU DSM Directive, art. 4(3),
asks for "machine-readable means" for content online.)
"""
from __future__ import annotations

import os
import re
from urllib.parse import urljoin

from corpus.document import HTML, Document
from corpus.steps import Step, require

from ._domains import DomainList

_TAG = re.compile(r"<(meta|link|a|img)\b([^>]*)>", re.I)
_ATTR = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_TOKENS = re.compile(r"[\s,;:]+")
_LINK_HEADER = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,<]*)*)")
_REL_PARAM = re.compile(r"""\brel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))""", re.I)
_CC_URL = re.compile(r"creativecommons\.org/(licenses|publicdomain)/([a-z+-]+)/(\d+\.\d+)"
                     r"(?:/([a-z]{2}(?:-[a-z]{2})?|igo|scotland)(?=/|$|[?#]))?", re.I)
# A licence named in words: "CC BY-SA 4.0", "CC-BY-4.0", "CC0 1.0".
_CC_NAME = re.compile(r"^cc[\s-]*((?:by(?:[\s-]*(?:nc|nd|sa))*)|0)[\s-]*(\d\.\d)?$", re.I)
_CC_BADGE = re.compile(r"(?:i\.creativecommons\.org|licensebuttons\.net)/(l|p)/([a-z+-]+)/"
                       r"(\d+\.\d+)(?:/([a-z]{2}(?:-[a-z]{2})?))?/", re.I)
# Words that make a nearby Creative Commons link the page's own licence rather than the
# credit line of one photo, map or script: they speak of the whole site or work.
_PAGE_LICENCE_WORDS = re.compile(
    r"this (?:work|site|website|page|article|post|blog|content)|all (?:content|contents|text|"
    r"texts|articles|posts|photos|material)|content on this|(?:except|unless) (?:where )?otherwise"
    r"|soweit nicht anders|sofern nicht anders|alle inhalte|sauf mention contraire"
    r"|本站|本网站|本網站|本文|本作品|除非另有|除另有", re.I)
_STRIPPED_TAGS = re.compile(r"<[^>]*>")
LICENSE_META_NAMES = ("license", "dcterms.license", "dc.license")
NEARBY_CHARS = 250


def _attributes(raw: str) -> dict[str, str]:
    attrs = {}
    for m in _ATTR.finditer(raw):
        attrs.setdefault(m.group(1).lower(), m.group(2) or m.group(3) or m.group(4) or "")
    return attrs


def normalise_license(url: str, base: str | None = None) -> str | None:
    """Creative Commons URLs in one canonical form
    (https://creativecommons.org/licenses/by-sa/4.0/, jurisdiction ports kept, deed and
    legalcode pages folded); CC licences named in words ("CC BY-SA 4.0") as their URL;
    other licence URLs made absolute (None when a relative link has no page URL to resolve
    against: "impressum.html" says nothing on its own); other text kept as it is."""
    url = url.strip()
    named = _CC_NAME.match(url)
    if named:
        kind = named.group(1).lower()
        if kind == "0":
            return "https://creativecommons.org/publicdomain/zero/1.0/"
        if named.group(2):
            elements = "-".join(re.findall("by|nc|nd|sa", kind))
            return f"https://creativecommons.org/licenses/{elements}/{named.group(2)}/"
        return url
    for pattern, kinds in ((_CC_URL, None), (_CC_BADGE, {"l": "licenses", "p": "publicdomain"})):
        m = pattern.search(url)
        if m:
            kind = kinds[m.group(1).lower()] if kinds else m.group(1).lower()
            port = f"{m.group(4).lower()}/" if m.group(4) else ""
            return f"https://creativecommons.org/{kind}/{m.group(2).lower()}/{m.group(3)}/{port}"
    relative = url.startswith(("/", "./", "../")) or (
        "/" in url and not any(c.isspace() for c in url) and "://" not in url)
    if relative:
        return urljoin(base, url) if base else None
    return url


def license_from_link_header(value: str) -> str | None:
    for m in _LINK_HEADER.finditer(value):
        rel = _REL_PARAM.search(m.group(2))
        if rel and "license" in (rel.group(1) or rel.group(2) or "").lower().split():
            return m.group(1).strip()
    return None


class PageSignals:
    """What one HTML page declares in its markup."""

    def __init__(self, html: str):
        self.tdm_reservation: str | None = None
        self.tdm_policy: str | None = None
        self.robots: set[str] = set()
        self.rel_license: str | None = None
        self.meta_license: str | None = None
        cc_licenses: set[str] = set()  # CC licences the page declares as its own
        for m in _TAG.finditer(html):
            tag, raw = m.group(1).lower(), m.group(2)
            lowered = raw.lower()
            if tag == "meta":
                if "name" not in lowered:
                    continue
                attrs = _attributes(raw)
                name, content = attrs.get("name", "").strip().lower(), attrs.get("content", "")
                if name == "tdm-reservation" and self.tdm_reservation is None:
                    self.tdm_reservation = content.strip()
                elif name == "tdm-policy" and self.tdm_policy is None:
                    self.tdm_policy = content.strip()
                elif name == "robots":
                    self.robots.update(t for t in _TOKENS.split(content.lower()) if t)
                elif name in LICENSE_META_NAMES and content.strip() and self.meta_license is None:
                    self.meta_license = content.strip()
            elif "license" in lowered or "creativecommons" in lowered or "licensebuttons" in lowered:
                attrs = _attributes(raw)
                target = attrs.get("src" if tag == "img" else "href", "").strip()
                if not target:
                    continue
                if tag != "img" and "license" in attrs.get("rel", "").lower().split():
                    self.rel_license = self.rel_license or target
                elif tag == "img" and _CC_BADGE.search(target):
                    cc_licenses.add(normalise_license(target))
                elif tag == "a" and _CC_URL.search(target) and _declares_page_licence(html, m):
                    cc_licenses.add(normalise_license(target))
        # A page that declares several different CC licences this way is talking about
        # licences (or crediting many works), not declaring its own.
        self.cc_license = next(iter(cc_licenses)) if len(cc_licenses) == 1 else None


def _declares_page_licence(html: str, link: re.Match) -> bool:
    """A Creative Commons link is the page's licence when it is a badge (an image inside the
    link) or its surrounding text speaks of the whole site ("all content", "this work",
    "except where otherwise noted", "本站"); a photo credit or a script's licence is not."""
    inside = html[link.end(): link.end() + 500].split("</a", 1)[0]
    if "<img" in inside.lower():
        return True
    nearby = html[max(0, link.start() - NEARBY_CHARS): link.end() + NEARBY_CHARS]
    return bool(_PAGE_LICENCE_WORDS.search(_STRIPPED_TAGS.sub(" ", nearby)))


class Consent(Step):
    """Drop pages that reserve text and data mining (TDMRep, noai); record declared licences.

    The licence goes to `license`, normalised to its URL; a licence already set is kept.

    drop_tdm_reserved: remove pages with a TDMRep reservation (reason `tdm_reserved`) or a
        robots `noai`/`noimageai` directive (reason `noai`). When false they are kept and the
        signal is recorded in metadata["consent"].
    optout_files: domain lists (one domain a line, or UT1-layout folders) of sites that opted
        out; their pages and their subdomains' pages are removed (reason `optout`).
    noai_tokens: the robots directives that count as an AI opt-out.

    Plain-text documents have no markup: only their HTTP headers and URL are checked.
    """

    name = "consent"
    # It reads every tag of the page and removes few pages (none of the 823 shared web pages):
    # the language screen, which removes most of them, goes first (corpus/pipeline.py).
    after_screens = True

    def __init__(self, *, drop_tdm_reserved: bool = True, optout_files: list[str] | tuple = (),
                 noai_tokens: list[str] | tuple = ("noai", "noimageai")):
        require(isinstance(drop_tdm_reserved, bool), "drop_tdm_reserved must be true or false")
        require(isinstance(optout_files, (list, tuple))
                and all(isinstance(f, str) for f in optout_files), "optout_files must be a list of paths")
        for path in optout_files:
            require(os.path.exists(path), f"opt-out list not found: {path}")
        require(isinstance(noai_tokens, (list, tuple)) and all(isinstance(t, str) for t in noai_tokens),
                "noai_tokens must be a list of robots directives")
        self.drop_tdm_reserved = drop_tdm_reserved
        self.optout_files = list(optout_files)
        self.noai_tokens = {t.lower() for t in noai_tokens}
        self._optout: DomainList | None = None

    def setup(self) -> None:
        self._optout = DomainList()
        for path in self.optout_files:
            self._optout.add_path(path)

    def apply(self, doc: Document) -> str | None:
        if self._optout is None:
            self.setup()
        if self._optout.match(doc.url):
            return "optout"
        http = {k.lower(): str(v) for k, v in (doc.metadata.get("http") or {}).items()}
        page = PageSignals(doc.text) if doc.media_type == HTML else None
        signals = {}
        reservation = http.get("tdm-reservation") or (page.tdm_reservation if page else None)
        if reservation is not None and reservation.strip() == "1":
            signals["tdm_reserved"] = True
            policy = http.get("tdm-policy") or (page.tdm_policy if page else None)
            if policy:
                signals["tdm_policy"] = policy
        robots = set(_TOKENS.split(http.get("x-robots-tag", "").lower()))
        robots |= page.robots if page else set()
        noai = sorted(robots & self.noai_tokens)
        if noai:
            signals["noai"] = noai
        if signals:
            if self.drop_tdm_reserved:
                return "tdm_reserved" if "tdm_reserved" in signals else "noai"
            doc.metadata["consent"] = signals
        if doc.license is None:
            self._record_license(doc, page, http)
        return None

    @staticmethod
    def _record_license(doc: Document, page: PageSignals | None, http: dict[str, str]) -> None:
        found = [("rel", page.rel_license if page else None),
                 ("meta", page.meta_license if page else None),
                 ("http_link", license_from_link_header(http.get("link", ""))),
                 ("cc_link", page.cc_license if page else None)]
        for source, value in found:
            license = normalise_license(value, doc.url) if value else None
            if license:
                doc.license = license
                doc.metadata["license_from"] = source
                return
