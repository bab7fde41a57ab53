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
    "PARAMETER_NAMES", "identify", "read", "write", "get_format", "format_from_suffix", "is_multi_model",
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


def write(atmospheres, path, format: str, **options) -> None:
    """Write ``atmospheres`` to ``path`` ("-" is stdout) in ``format``; ``options`` go to the writer
    (``provenance=`` for "fits")."""
    get_format(format).write(list(atmospheres), path, **options)


def is_multi_model(format: str) -> bool:
    """Whether one file of ``format`` can hold many models."""
    return bool(getattr(get_format(format), "MULTI_MODEL", False))


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


#: File-name endings used for directory output, by format.
OUTPUT_SUFFIX = {"atlas9": ".dat", "marcs": ".mod", "phoenix": ".ATMOS.fits", "fits": ".fits"}


def model_filename(atm: Atmosphere, format: str) -> str:
    """A file name for one model, from its parameters: ``t05750_g+4.50_z-0.50_a+0.40.dat``.

    [C/M], microturbulence and geometry appear only when they would otherwise be ambiguous
    (see :func:`model_filenames`).
    """
    name = f"t{atm.teff:05.0f}_g{atm.logg:+.2f}_z{atm.mh:+.2f}_a{atm.am:+.2f}"
    if atm.cm:
        name += f"_c{atm.cm:+.2f}"
    return name + OUTPUT_SUFFIX.get(format, "." + format)


def model_filenames(atmospheres, format: str) -> list[str]:
    """Distinct file names for ``atmospheres``: :func:`model_filename`, plus the microturbulence
    where that tells clashing models apart, plus a counter for true duplicates (``_2``)."""
    from collections import Counter

    atmospheres = list(atmospheres)
    suffix = OUTPUT_SUFFIX.get(format, "." + format)
    names = [model_filename(atm, format) for atm in atmospheres]
    vmics: dict[str, set] = {}
    for name, atm in zip(names, atmospheres):
        vmics.setdefault(name, set()).add(round(atm.vmic, 1))
    names = [
        name[: -len(suffix)] + f"_v{atm.vmic:.1f}" + suffix if len(vmics[name]) > 1 else name
        for name, atm in zip(names, atmospheres)
    ]
    seen: Counter = Counter()
    unique = []
    for name in names:
        seen[name] += 1
        unique.append(name if seen[name] == 1 else name[: -len(suffix)] + f"_{seen[name]}" + suffix)
    return unique


def write_directory(atmospheres, directory, format: str, force: bool = False, names: list[str] | None = None,
                    progress=None, **options) -> list[Path]:
    """Write each model to its own file in ``directory`` (created if missing); all or nothing.

    Every file is written into a temporary folder inside ``directory`` first and moved into
    place only when all of them succeeded.  Existing files are an error unless ``force``.
    ``names`` default to :func:`model_filenames`; ``progress`` is called with the number of
    files written so far.
    """
    import os
    import shutil
    import tempfile

    atmospheres = list(atmospheres)
    directory = Path(directory)
    names = list(names) if names is not None else model_filenames(atmospheres, format)
    targets = [directory / name for name in names]
    if not force:
        existing = [t for t in targets if t.exists()]
        if existing:
            more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
            raise FormatError(f"{existing[0]} exists{more}: pass --force to overwrite")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".innterpol-", dir=directory))
    except OSError as exc:
        raise FormatError(f"cannot write: {exc.strerror or exc}", str(directory)) from None
    try:
        module = get_format(format)
        text_writer = getattr(module, "format_model", None)
        for i, (atm, name) in enumerate(zip(atmospheres, names)):
            if text_writer is not None and not options and not name.endswith(".gz"):
                # Text formats: the staging folder already makes the batch atomic, so skip the
                # per-file temporary that module.write would add (half the syscalls).
                with open(staging / name, "w", encoding="ascii", newline="\n") as handle:
                    handle.write(text_writer(atm))
            else:
                module.write([atm], staging / name, **options)
            if progress is not None:
                progress(i + 1)
        for name, target in zip(names, targets):
            os.replace(staging / name, target)
    except OSError as exc:
        raise FormatError(f"cannot write: {exc.strerror or exc}", str(directory)) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return targets


def derived_quantities(atm: Atmosphere, format: str) -> dict:
    """Layer quantities (name: values) that writing ``atm`` as ``format`` derives or fills, absent from the source.

    Raises MissingQuantityError, naming the quantity, when the format needs one that cannot be derived.
    """
    complete = getattr(get_format(format), "_complete_layers", None)
    if complete is None:
        return {}
    return {name: values for name, values in complete(atm).items() if name not in atm.layers}
