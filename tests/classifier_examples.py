"""Small hand-written labelled sentences for the classifier tests (English and Chinese).

`rows(...)` pairs sentences of one class into ~200 short documents, deterministically, so a
tiny fastText model trains in about a second and still has something to learn.
"""
from __future__ import annotations

import itertools

EN_TOXIC = [
    "you are a worthless idiot", "shut up you stupid moron", "nobody wants you here, loser",
    "what a pathetic clown you are", "go away you disgusting creep", "you dumb fool, get lost",
    "this idiot cannot even read", "you are the most stupid person alive",
    "get out of here you pathetic loser", "what a moronic and worthless comment",
    "only an idiot would say that", "you disgusting pig, shut your mouth",
]
EN_BENIGN = [
    "the weather is lovely this morning", "we planted tomatoes in the garden",
    "the library opens at nine on weekdays", "she baked bread for the neighbours",
    "the train to the coast was on time", "our team finished the report today",
    "the museum has a new exhibition on ships", "he is learning to play the violin",
    "the river is calm after the rain", "thank you for the helpful answer",
    "the recipe needs two cups of flour", "children played football in the park",
]
ZH_TOXIC = [
    "你这个蠢货赶紧滚", "脑残才会说这种话", "闭嘴吧你这个废物", "真是一群垃圾人渣",
    "你就是个白痴", "滚出去别在这里丢人", "这种傻逼言论真恶心", "一群没脑子的蠢猪",
    "你算什么东西也配说话", "废物一个还好意思说",
]
ZH_BENIGN = [
    "今天天气很好我们去公园散步", "图书馆周末早上九点开门", "妈妈做了一锅红烧肉",
    "这本书讲的是宋代的历史", "我们下午一起去看电影吧", "火车准时到达了上海站",
    "学生们在操场上踢足球", "谢谢你耐心的解答", "他正在学习弹钢琴", "雨后的西湖特别安静",
]


def rows(positive: list[str], negative: list[str], n: int = 200) -> list[tuple[str, int]]:
    """n (text, label) rows, half each class; each text joins two sentences of its class."""
    out = []
    for label, sentences in ((1, positive), (0, negative)):
        pairs = itertools.cycle(itertools.permutations(sentences, 2))
        out += [(f"{a}. {b}!", label) for a, b in itertools.islice(pairs, n // 2)]
    return out
