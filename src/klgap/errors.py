"""The project's error type for bad input."""


class UserError(Exception):
    """A problem with the user's input or environment; the message names the problem and the fix.

    The command line prints the message without a traceback and exits with status 2.
    """
