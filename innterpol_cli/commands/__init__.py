"""Each command lives in its own module; importing this package registers them all on ``cli.app``."""

from . import convert, evaluate, train  # noqa: F401
