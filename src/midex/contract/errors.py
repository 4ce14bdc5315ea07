"""The one exception type the CLI turns into a one-line message and exit status 1."""


class MidexError(Exception):
    """An operation failed for a reason the user can act on; the message says what to do."""


class UsageError(MidexError):
    """The command was called wrongly (exit status 2)."""


class BudgetExceeded(RuntimeError):
    """A stage went past its time or memory budget and was stopped (the submission ends failed:
    a retry may pass on a quieter machine or with a larger budget)."""
