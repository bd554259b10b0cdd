"""A plugin step that crashes its worker process on a marked document, as a buggy extension
would (a segfault, not an exception): the poisoned input of the cluster fault tests."""
import ctypes

from corpus.steps import Step


class CrashOn(Step):
    name = "crash_on"

    def __init__(self, *, marker: str = "POISON"):
        self.marker = marker

    def apply(self, doc):
        if self.marker in doc.text:
            ctypes.string_at(0)  # reads address 0: SIGSEGV
        return None
