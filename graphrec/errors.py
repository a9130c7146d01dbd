"""User-facing errors: the CLI prints them as one line and exits non-zero, without a traceback."""


class GraphrecError(Exception):
    """An error caused by the user's input (a path, a file, a config value), not by a bug."""


class DataError(GraphrecError):
    """A dataset file or field is missing, malformed or inconsistent."""


class ConfigError(GraphrecError):
    """A configuration value is unknown or invalid."""
