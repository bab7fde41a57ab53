"""Readers and writers of model-atmosphere files, behind one registry.

Each format module exposes ``identify(head, name)``, ``read(path)`` (a list of
:class:`Atmosphere`) and ``write(atmospheres, path)``; they are registered in
:data:`FORMATS`.  Identification is by content, because ATLAS9 and MARCS files
both use ``.mod``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from .errors import FormatError, InnterpolError, MissingQuantityError
from .model import LAYER_UNITS, PARAMETER_NAMES, Atmosphere

__all__ = [
    "FORMATS", "Atmosphere", "FormatError", "InnterpolError", "MissingQuantityError", "LAYER_UNITS",
    "PARAMETER_NAMES", "identify", "read", "write", "get_format",
]


@dataclass(frozen=True)
class FormatInfo:
    name: str
    module: str
    description: str

    def load(self):
        return importlib.import_module(f"formats.{self.module}")


#: The registry: every supported format, in identification order.
FORMATS: dict[str, FormatInfo] = {
    "atlas9": FormatInfo("atlas9", "atlas9", "ATLAS9 / Kurucz deck (single or concatenated)"),
    "marcs": FormatInfo("marcs", "marcs", "MARCS .mod / .mod.gz"),
    "phoenix": FormatInfo("phoenix", "phoenix", "PHOENIX-ACES .ATMOS.fits structure file"),
    "fits": FormatInfo("fits", "fitstable", "innterpol FITS table (one row per model)"),
}


def known_formats() -> str:
    return ", ".join(FORMATS)


def get_format(name: str):
    """The module of format ``name``, or FormatError listing the known ones."""
    info = FORMATS.get(name.lower())
    if info is None:
        raise FormatError(f"unknown format {name!r}; known formats: {known_formats()}")
    return info.load()


def identify_bytes(head: bytes, name: str = "") -> list[str]:
    """Names of every format whose identifier accepts ``head`` (identifiers never raise)."""
    matches = []
    for info in FORMATS.values():
        try:
            if info.load().identify(head, name):
                matches.append(info.name)
        except Exception:  # an identifier must never break detection
            continue
    return matches


def identify(path) -> str:
    """The one format of the file at ``path`` ("-" is stdin, which is then buffered)."""
    from .textio import read_bytes

    name = str(path)
    data = read_bytes(path)
    if not data.strip():
        raise FormatError("file is empty", name)
    matches = identify_bytes(data[:65536], name)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise FormatError(f"unknown format (content matches none of: {known_formats()})", name, 1)
    raise FormatError(f"ambiguous format: matches {', '.join(matches)}; pass the format explicitly", name)


def read(path, format: str | None = None) -> list[Atmosphere]:
    """All models in ``path``; the format is detected from content unless given."""
    if str(path) == "-":
        # stdin can be read once: buffer it, then dispatch on the buffer.
        import tempfile

        from .textio import read_bytes

        data = read_bytes("-")
        with tempfile.NamedTemporaryFile(suffix=".stdin", delete=False) as tmp:
            tmp.write(data)
        try:
            models = read(tmp.name, format or _identify_data(data, "<stdin>"))
            for m in models:
                m.source = "<stdin>"
            return models
        finally:
            Path(tmp.name).unlink(missing_ok=True)
    if not Path(path).exists():
        raise FormatError("no such file", str(path))
    fmt = format or identify(path)
    return get_format(fmt).read(path)


def _identify_data(data: bytes, name: str) -> str:
    matches = identify_bytes(data[:65536], name)
    if len(matches) != 1:
        raise FormatError(
            f"cannot tell the format ({'none' if not matches else ', '.join(matches)} of {known_formats()} match)", name
        )
    return matches[0]


def write(atmospheres, path, format: str) -> None:
    get_format(format).write(list(atmospheres), path)


def format_from_suffix(path) -> str | None:
    """A format guessed from a file name, for choosing an *output* format only."""
    name = str(path).lower()
    if name.endswith((".fits", ".fit", ".fits.gz")):
        return "phoenix" if ".atmos." in name else "fits"
    if name.endswith((".dat", ".krz", ".atm", ".kurucz")):
        return "atlas9"
    if name.endswith(".mod.gz"):
        return "marcs"
    return None
