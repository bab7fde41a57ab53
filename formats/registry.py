"""The registry of file formats: each format declares, in one :class:`Format`, what it can do.

A format module ends with its ``FORMAT``; :mod:`formats` registers them all, in identification
order, in one :class:`Registry`.  Capabilities are declared, never discovered: a text format is a
:class:`TextFormat` (it formats one model as text, parses text back, and can say which values
would not fit its fixed-width fields); only the formats whose file holds many models say so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from .errors import FormatError


@dataclass(frozen=True, kw_only=True)
class Format:
    """A file format: its name, how to identify, read and write it, and how its files are named."""

    name: str
    description: str
    #: ``identify(head, name) -> bool``: whether the first bytes of a file are this format's; never raises.
    identify: Callable[[bytes, str], bool]
    #: ``read(path) -> list[Atmosphere]``.
    read: Callable
    #: ``write(atmospheres, path, **options)``, all or nothing ("-" is stdout).
    write: Callable
    #: The ending of one model's file in a directory of files (``t05750_g+4.50_....dat``).
    suffix: str
    #: File-name endings (lower case) that choose this format for an output file, and a text the
    #: name must also contain (PHOENIX's ``.atmos.``), if any.
    implied_by: tuple[str, ...] = ()
    implied_only_with: str | None = None
    #: Whether one file holds many models.
    multi_model: bool = False
    #: ``write_chunks(chunks, path, **options)``: one file from an iterable of lists of models,
    #: one chunk in memory at a time; None: :func:`formats.write_chunks` gathers the models first.
    write_chunks: Callable | None = None

    def implied(self, name: str) -> bool:
        """Whether an output file called ``name`` is of this format, by its name alone."""
        name = name.lower()
        return name.endswith(self.implied_by) and (self.implied_only_with is None or self.implied_only_with in name)


@dataclass(frozen=True, kw_only=True)
class TextFormat(Format):
    """A format whose files are text, written one model after the other."""

    #: ``format_model(atm, layers=None) -> str``: one model's text; ``layers``, the model's layers
    #: completed for this format (:func:`formats.derive.complete`), when the caller has them already.
    format_model: Callable[..., str]
    #: ``parse(text, name) -> list[Atmosphere]``: the models of a file's text (``name`` for errors).
    parse: Callable
    #: ``field_overflows(atm, layers=None)``: every quantity with a value that the file could not
    #: carry, as (quantity, depth (1-based) or None, value, field width; 0 for a value the format's
    #: readers would misread), the first such value of each.
    field_overflows: Callable


class Registry(Mapping):
    """Formats by name, in the order they are tried when a file's format is identified."""

    def __init__(self, *formats: Format):
        self._formats: dict[str, Format] = {}
        for fmt in formats:
            self.register(fmt)

    def register(self, fmt: Format) -> Format:
        if fmt.name in self._formats:
            raise ValueError(f"format {fmt.name!r} is registered already")
        self._formats[fmt.name] = fmt
        return fmt

    def __getitem__(self, name: str) -> Format:
        return self._formats[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._formats)

    def __len__(self) -> int:
        return len(self._formats)

    def known(self) -> str:
        """The names of every format, for error messages."""
        return ", ".join(self._formats)

    def get_format(self, name: str) -> Format:
        """The format ``name`` (any case), or FormatError listing the known ones."""
        fmt = self._formats.get(name.lower())
        if fmt is None:
            raise FormatError(f"unknown format {name!r}; known formats: {self.known()}")
        return fmt

    def identify(self, head: bytes, name: str = "") -> list[str]:
        """Names of every format whose identifier accepts ``head``."""
        matches = []
        for fmt in self._formats.values():
            try:
                if fmt.identify(head, name):
                    matches.append(fmt.name)
            except Exception:  # an identifier must never break detection
                continue
        return matches

    def implied_by_name(self, name: str) -> str | None:
        """The first format that an output file called ``name`` implies by its name, or None."""
        return next((fmt.name for fmt in self._formats.values() if fmt.implied(name)), None)
