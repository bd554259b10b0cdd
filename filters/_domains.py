"""Domain lists and the host matching shared by url_blocklist and consent.

A listed domain blocks itself and every subdomain: "casino.com" matches "casino.com" and
"www.casino.com", never "notcasino.com". Matching looks up each suffix of the host, label by
label, in one dict, so it costs a handful of lookups whatever the size of the lists (UT1's
adult category alone has millions of domains).
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit


def normalise_host(host: str) -> str:
    """Lower-case, no trailing dot, no port, no leading "www.", IDNs in their ASCII form."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") or host.count(":") > 1:  # an IPv6 literal
        return host.strip("[]")
    host = host.split(":", 1)[0]
    if host.startswith("www.") and host.count(".") >= 2:
        host = host[4:]
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return host


def host_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return normalise_host(host) if host else None


def read_domains(path: str | Path) -> list[str]:
    """One domain a line; `#` comments; a URL or `*.` / `.` prefix is reduced to its host."""
    domains = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if "/" in line:
                line = host_of(line if "://" in line else f"http://{line}") or ""
            line = line.lstrip("*.")
            if line:
                domains.append(normalise_host(line))
    return domains


def read_sections(path: str | Path, default: str) -> dict[str, list[str]]:
    """A built-in list: `[category]` headers, then one domain a line."""
    sections: dict[str, list[str]] = {}
    category = default
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line.startswith("[") and line.endswith("]"):
                category = line[1:-1].strip()
            elif line:
                sections.setdefault(category, []).append(normalise_host(line))
    return sections


class DomainList:
    """domain -> category; `match(url)` gives the category of the longest listed suffix."""

    def __init__(self) -> None:
        self.domains: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.domains)

    def add(self, domains, category: str) -> None:
        for domain in domains:
            self.domains.setdefault(domain, category)

    def add_path(self, path: str, categories: list[str] | None = None) -> None:
        """A file (its stem is the category), or a folder in UT1 layout: `<category>/domains`."""
        if os.path.isdir(path):
            for entry in sorted(os.listdir(path)):
                listed = os.path.join(path, entry, "domains")
                if os.path.isfile(listed) and (categories is None or entry in categories):
                    self.add(read_domains(listed), entry)
        else:
            self.add(read_domains(path), Path(path).stem)

    def match(self, url: str | None) -> str | None:
        host = host_of(url)
        if not host or not self.domains:
            return None
        labels = host.split(".")
        for i in range(len(labels)):
            category = self.domains.get(".".join(labels[i:]))
            if category is not None:
                return category
        return None


def ut1_categories(path: str) -> list[str]:
    """The categories a UT1-layout folder offers (for error messages)."""
    return sorted(e for e in os.listdir(path) if os.path.isfile(os.path.join(path, e, "domains")))
