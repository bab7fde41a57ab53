"""The error every part of an evaluation raises."""

from __future__ import annotations

from formats.errors import InnterpolError


class EvaluateError(InnterpolError):
    """An evaluation that cannot be run as asked (wrong truth models, missing extra, bad method)."""
