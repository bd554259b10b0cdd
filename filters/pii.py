"""The pii step: replace e-mail and IP addresses with harmless stand-ins, as FineWeb did.

Patterns, replacements and the public-IP rule follow datatrove's PIIFormatter
(datatrove/pipeline/formatters/pii.py), with three changes:
- the address must not be glued to more address characters: datatrove's `\\b` never matches
  between a Chinese character and a letter (both are word characters), so it missed
  "邮箱abc@qq.com", and its IP pattern had no bounds at all ("v1.2.3.4", "10.1.2.3.4" matched);
- replacements cycle per document, not per worker, so the output does not depend on which
  documents a worker saw before (datatrove's counter is worker state);
- reserved example addresses (example.com, .test, .invalid, ...), image names such as
  "logo@2x.png" and the replacements themselves are left alone, so a second run changes
  nothing.
IPv6 addresses are replaced only when they are global unicast (2000::/3): times such as
12:30:45 and strings such as "1::2" or "dead::beef" never are.
"""
from __future__ import annotations

import ipaddress
import re

from corpus.document import Document
from corpus.steps import Step, require

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9!#$%&'*+/=?^_`{|}~.-])"
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?![A-Za-z0-9-]|\.[A-Za-z0-9])")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
_IPV4 = re.compile(rf"(?<![A-Za-z0-9_.]){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9]|\.[0-9])")
_IPV6 = re.compile(r"(?<![A-Za-z0-9_:.])(?:[0-9A-Fa-f]{1,4}:){1,7}(?::|(?::[0-9A-Fa-f]{1,4}){1,7}"
                   r"|[0-9A-Fa-f]{1,4})(?![A-Za-z0-9_:])")
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
# RFC 2606 / RFC 6761 names reserved for examples and tests: not anyone's address.
_RESERVED_DOMAINS = ("example.com", "example.org", "example.net", "example.edu")
_RESERVED_TLDS = ("example", "test", "invalid", "localhost", "local")
# "logo@2x.png" is a retina image name, not an address.
_FILE_EXTENSIONS = ("png", "jpg", "jpeg", "gif", "webp", "svg", "css", "js")

DATATROVE_EMAILS = ("email@example.com", "firstname.lastname@example.org")
# datatrove's list: random addresses that did not answer pings when it was made.
DATATROVE_IPS = ("22.214.171.124", "126.96.36.199", "188.8.131.52", "184.108.40.206",
                 "220.127.116.11", "18.104.22.168")


def is_personal_email(address: str) -> bool:
    """False for example and test domains, and for image names that look like addresses."""
    domain = address.rsplit("@", 1)[1].lower()
    tld = domain.rsplit(".", 1)[-1]
    return not (tld in _RESERVED_TLDS or tld in _FILE_EXTENSIONS
                or any(domain == d or domain.endswith("." + d) for d in _RESERVED_DOMAINS))


def is_public_ip(text: str) -> bool:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if ip.version == 6 and ip not in _GLOBAL_UNICAST:
        return False
    return ip.is_global


class _Replacer:
    """Swaps the matches that `should_replace` accepts for the replacements, in turn."""

    def __init__(self, replacements: tuple[str, ...], should_replace):
        self.replacements, self.should_replace = replacements, should_replace
        self.count = 0

    def __call__(self, match: re.Match) -> str:
        found = match.group()
        if found in self.replacements or not self.should_replace(found):
            return found
        replacement = self.replacements[self.count % len(self.replacements)]
        self.count += 1
        return replacement


class Pii(Step):
    """Replace e-mail addresses and public IP addresses; never removes a document.

    Counts go to metadata["pii"] = {"email": n, "ip": n} (only the kinds found).
    emails, ips: replace that kind (default true).
    public_ips_only: leave private, loopback and reserved IPs alone (default true, as datatrove).
    email_replacements, ip_replacements: used in turn within a document; the defaults are
        datatrove's (example addresses, and IPs that did not answer pings).
    """

    name = "pii"

    def __init__(self, *, emails: bool = True, ips: bool = True, public_ips_only: bool = True,
                 email_replacements: list[str] | tuple = DATATROVE_EMAILS,
                 ip_replacements: list[str] | tuple = DATATROVE_IPS):
        for option, value in (("emails", emails), ("ips", ips), ("public_ips_only", public_ips_only)):
            require(isinstance(value, bool), f"{option} must be true or false")
        for option, value in (("email_replacements", email_replacements),
                              ("ip_replacements", ip_replacements)):
            require(isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value),
                    f"{option} must be a non-empty list of strings")
        self.emails, self.ips, self.public_ips_only = emails, ips, public_ips_only
        self.email_replacements = tuple(email_replacements)
        self.ip_replacements = tuple(ip_replacements)

    def _ip_to_replace(self, text: str) -> bool:
        if self.public_ips_only:
            return is_public_ip(text)
        try:
            ipaddress.ip_address(text)
        except ValueError:
            return False
        return True

    def apply(self, doc: Document) -> str | None:
        text, counts = doc.text, {}
        if self.emails and "@" in text:
            emails = _Replacer(self.email_replacements, is_personal_email)
            text = _EMAIL.sub(emails, text)
            counts["email"] = emails.count
        if self.ips and ("." in text or ":" in text):
            ips = _Replacer(self.ip_replacements, self._ip_to_replace)
            text = _IPV4.sub(ips, text)
            if ":" in text:
                text = _IPV6.sub(ips, text)
            counts["ip"] = ips.count
        counts = {kind: n for kind, n in counts.items() if n}
        if counts:
            doc.text = text
            doc.metadata["pii"] = counts
        return None
