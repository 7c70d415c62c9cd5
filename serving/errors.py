"""The one error type of the serving package, carrying TF Serving's status code."""

# TF Serving's canonical codes and the HTTP status its REST front end answers them with.
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 413,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
}


class ServingError(Exception):
    """A request the server refuses or cannot answer.

    Args:
        code: str. A TF Serving / gRPC canonical code name (`INVALID_ARGUMENT`, `NOT_FOUND`, ...).
        message: str. What was wrong and what was expected; sent to the client as `{"error": message}`.
    """

    def __init__(self, code, message):
        if code not in HTTP_STATUS:
            raise ValueError(f"code must be one of {sorted(HTTP_STATUS)}. Received: {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self):
        return HTTP_STATUS[self.code]
