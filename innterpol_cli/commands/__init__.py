"""Each command lives in its own module; importing this package registers them all on ``app.app``."""

from . import check, convert, evaluate, predict, train  # noqa: F401
