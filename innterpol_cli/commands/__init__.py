"""Each command lives in its own module; importing this package registers them all on ``cli.app``."""

from . import convert, evaluate, predict, train  # noqa: F401
