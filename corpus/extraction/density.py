"""Main content by text and link density: the CETD / GNE family, as one maximum-sum subtree.

Chinese news and portal pages wrap a flat run of <p> paragraphs in one container and surround
it with link lists (navigation, "相关新闻", "热点推荐", rankings) and comment threads. Methods
built on that shape (CETD, Sun et al. 2011, "Content Extraction via Text Density"; GNE, after
Hong et al., "基于文本及符号密度的网页正文提取方法") score each element by how much non-link
text it holds per tag and per punctuation mark, and pick the best. Here every text block gets
a weight and the container is the element whose blocks weigh most:

    weight = non-link characters - link characters - BLOCK_COST (unless the block is prose)

Prose (ends in a sentence mark, mostly not links) adds all its text; a link list subtracts
its anchor text; every short non-prose line (dates, bylines, "分享到", "加载更多") costs
BLOCK_COST characters. The container therefore grows over the article's paragraphs and stops
where the surroundings cost more than they add, without a density threshold to tune. Inside
it, blocks that are mostly link text, or sit in an element named like boilerplate (class/id
"related", "comment", "share", "footer", "hot" ...; the hint readability and trafilatura use),
are left out.

Alone (backend "density") it scores token F1 0.947 on the 300 pages of xmu_zh_finance_news
(trafilatura 0.916) but snippet F1 0.839 on trafilatura's mostly European evaluation pages
(trafilatura 0.918), where headings, lists and tables sit outside any one container.
So it prunes and backs up trafilatura on Chinese pages rather than replacing it, and there tells
trafilatura which part of the page to read (choose.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from corpus.scripts import ends_with_terminal_mark

from .blocks import Block, parse, text_blocks

#: What a short line that is not prose costs, in characters (about two English words, or a
#: short Chinese phrase): enough that a run of dates and menu items weighs less than nothing.
BLOCK_COST = 10
#: A block with at least this share of its characters inside links is navigation.
MAX_LINK_SHARE = 0.5
# class/id words of boilerplate containers, at the start of a class token ("relate-news",
# "hotList", "comment_box"), so that "photo" is not "hot" and "shared" is still "share".
BOILERPLATE_NAME = re.compile(
    r"(?:^|[\s_-])(?:relat|recommend|comment|reply|share|footer|nav|sidebar|breadcrumb|crumb"
    r"|copyright|advert|ads?(?:$|[\s_-])|banner|social|popular|rank|hot(?:$|[\s_-]|news|list)"
    r"|tags?(?:$|[\s_-]))", re.I)


def is_prose(block: Block) -> bool:
    return block.link_chars * 2 < block.chars and ends_with_terminal_mark(block.text)


def weight(block: Block) -> int:
    non_link = block.chars - block.link_chars
    return non_link - block.link_chars - (0 if is_prose(block) else BLOCK_COST)


def main_container(blocks: list[Block]):
    """The element whose blocks weigh most (None if nothing weighs more than zero)."""
    score: dict = {}
    for block in blocks:
        w = weight(block)
        element = block.owner
        while element is not None:
            score[element] = score.get(element, 0) + w
            element = element.getparent()
    if not score:
        return None
    best = max(score, key=score.__getitem__)
    return best if score[best] > 0 else None


def _named_boilerplate(element, container) -> bool:
    """Is `element`, or an ancestor below the container, named like boilerplate?"""
    while element is not None and element is not container:
        name = f"{element.get('class') or ''} {element.get('id') or ''}"
        if name.strip() and BOILERPLATE_NAME.search(name):
            return True
        element = element.getparent()
    return False


def _inside(element, container) -> bool:
    while element is not None:
        if element is container:
            return True
        element = element.getparent()
    return False


@dataclass
class Page:
    """A page's text blocks and which of them are main content."""

    blocks: list[Block]
    main: list[bool]
    container: object = None           # the lxml element that holds the main content, if any

    @property
    def text(self) -> str:
        return "\n".join(b.text for b, keep in zip(self.blocks, self.main) if keep)


def analyse(html: str) -> Page:
    blocks = text_blocks(parse(html))
    container = main_container(blocks)
    main = [container is not None and _inside(b.owner, container)
            and b.link_chars < MAX_LINK_SHARE * b.chars
            and not _named_boilerplate(b.owner, container) for b in blocks]
    return Page(blocks, main, container)


def prose_share(lines: list[str]) -> float:
    """The share of characters in lines that end like a sentence."""
    total = sum(map(len, lines))
    return sum(len(line) for line in lines if ends_with_terminal_mark(line)) / total if total else 0.0
