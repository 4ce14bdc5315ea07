"""The one exception type the CLI turns into a one-line message and exit status 1."""


class MidexError(Exception):
    """An operation failed for a reason the user can act on; the message says what to do."""


class UsageError(MidexError):
    """The command was called wrongly (exit status 2)."""
