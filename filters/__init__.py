"""Document filters and taggers: language, quality heuristics, harmful content, consent, PII,
fastText classifiers. Importing the package registers every step it defines by name.

Modules load their models and word lists lazily (in `Step.setup`), so importing is cheap.
"""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
