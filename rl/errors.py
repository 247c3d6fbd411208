"""One exception type for every mistake a user can make; the CLI turns it into one line and exit code 2."""


class RlvrError(Exception):
    """A problem with the user's input (config, paths, data, flags), reported as one line without a traceback."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type's name when the message is empty): what a one-line
    `rlvr: error:` quotes of a library's error."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
