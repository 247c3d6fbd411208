"""One exception type for every mistake a user can make; the CLI turns it into one line and exit code 2."""


class RlvrError(Exception):
    """A problem with the user's input (config, paths, data, flags), reported as one line without a traceback."""
