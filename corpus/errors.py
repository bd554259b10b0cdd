"""User-facing errors: the CLI prints these as one line and exits non-zero, never a traceback."""


class UserError(Exception):
    """A mistake the user can fix: a missing path, an unknown step, a bad config value."""
