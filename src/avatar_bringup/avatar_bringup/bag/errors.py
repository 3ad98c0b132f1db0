"""The one error type of the bag modules: its message is the one line a CLI prints."""


class BagError(Exception):
    """A bag (or its input) that cannot be used, with a reason a user can act on."""
