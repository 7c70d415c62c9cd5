"""The error raised for bad input data."""


class DataError(ValueError):
    """Raised when a data set is missing, corrupt or outside what tfvae expects.

    The message names the file or split, says what was expected, and ends with `Received: ...`.
    """
