"""Hand-written example texts shared by the quality-rule tests (tests/test_quality_*.py).

EN_PROSE and ZH_PROSE are ordinary paragraphs that every rule keeps with its defaults; each
test changes one thing about them, or writes the kind of page the rule exists to remove.
"""
import filters  # noqa: F401  (registers the steps by name)
from corpus.document import Document

EN_PROSE = (
    "The old harbour town grew up around a single stone quay that was built with money from the "
    "wool trade. For two hundred years the fishing boats came in at dawn, and the market that "
    "formed on the quay sold the catch to traders who had to be on the road before noon. When the "
    "railway arrived, the town changed quickly: hotels were built along the front, and visitors "
    "came from the cities to walk on the beach and to look at the boats.\n"
    "Today only a few boats still fish from the harbour. The market hall has become a museum of "
    "local history, with photographs of the quay as it was and a model of the first lifeboat. "
    "Volunteers run it through the summer, and on winter weekends they open the doors for school "
    "groups that want to learn how the town earned its living."
)

ZH_PROSE = (
    "这座小城最早是一个渔港，明代的时候，商人们用贩卖丝绸的钱修建了一条石砌的码头。此后两百年间，"
    "渔船每天清晨靠岸，码头上渐渐形成了一个集市，鱼贩们必须在中午之前把鱼运走。铁路通车以后，"
    "小城的面貌很快就变了：海边盖起了旅馆，城里的游客也来这里散步、看船。\n"
    "如今只有少数渔船还从这里出海。原来的鱼市大厅改成了地方历史博物馆，里面陈列着老码头的照片，"
    "还有第一艘救生艇的模型。夏天由志愿者管理，到了冬天的周末，他们也会为前来参观的学生开门，"
    "讲述这座小城过去是怎样谋生的。"
)


def doc(text: str, language: str | None = "en") -> Document:
    return Document(id="example", text=text, language=language)
