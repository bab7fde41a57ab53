"""Readers and writers of model-atmosphere files, behind one registry.

Every format module declares what it can do in its ``FORMAT`` (a
:class:`~formats.registry.Format`: ``identify(head, name)``, ``read(path)`` (a list of
:class:`Atmosphere`), ``write(atmospheres, path)``, its file suffix, whether a file holds many
models, and for text formats ``format_model``, ``parse`` and ``field_overflows``); all of them are
registered in :data:`FORMATS`.  Identification is by content, because ATLAS9 and MARCS files both
use ``.mod``.
"""

from __future__ import annotations

from pathlib import Path

from . import atlas9, derive, fitstable, marcs, moog, phoenix
from . import directory as dirs
from .aswritten import AsWritten, model_of, text_of
from .errors import FormatError, InnterpolError, MissingQuantityError
from .model import LAYER_UNITS, PARAMETER_NAMES, Atmosphere
from .registry import Format, Registry, TextFormat

__all__ = [
    "FORMATS", "Atmosphere", "Format", "FormatError", "InnterpolError", "MissingQuantityError", "LAYER_UNITS",
    "PARAMETER_NAMES", "TextFormat", "AsWritten", "identify", "read", "write", "write_chunks", "get_format", "known_formats",
    "format_from_suffix", "is_multi_model", "model_filename", "model_filenames", "write_directory", "write_directory_chunks",
    "check_targets", "derived_quantities", "as_written", "OUTPUT_SUFFIX",
]

#: The registry: every supported format, in identification order.
FORMATS = Registry(atlas9.FORMAT, marcs.FORMAT, phoenix.FORMAT, fitstable.FORMAT, moog.FORMAT)

#: File-name endings used for directory output, by format.
OUTPUT_SUFFIX = {fmt.name: fmt.suffix for fmt in FORMATS.values()}


def known_formats() -> str:
    return FORMATS.known()


def get_format(name: str) -> Format:
    """The format ``name``, or FormatError listing the known ones."""
    return FORMATS.get_format(name)


def identify_bytes(head: bytes, name: str = "") -> list[str]:
    """Names of every format whose identifier accepts ``head`` (identifiers never raise)."""
    return FORMATS.identify(head, name)


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
    name = format or identify(path)
    fmt = get_format(name)
    try:
        return fmt.read(path)
    except (InnterpolError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a damaged file that a reader's own checks did not foresee (astropy's FITS cards, ...)
        text = " ".join(str(exc).split())[:160] or "unreadable"
        raise FormatError(f"not a readable {name} file ({text})", str(path)) from None


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


def write_chunks(chunks, path, format: str, **options) -> None:
    """Write every model of ``chunks`` (an iterable of lists of models, or of their
    :class:`AsWritten` views: then the text the check judged is written) into the one file ``path``
    ("-" is stdout) in ``format``, with one chunk in memory at a time, all or nothing: nothing
    reaches ``path`` before the last chunk is in, so that an exception from ``chunks`` (a model
    failing its check) or a kill leaves it as it was (:func:`formats.transaction.atomic_output`)."""
    fmt = get_format(format)
    if fmt.write_chunks is not None:
        fmt.write_chunks(([model_of(m) for m in models] for models in chunks), path, **options)
        return
    if not isinstance(fmt, TextFormat) or options or not fmt.multi_model:
        fmt.write([model_of(m) for models in chunks for m in models], path, **options)
        return
    from .transaction import atomic_output

    # As the text writers write many models: their decks one after the other.
    with atomic_output(path) as handle:
        for models in chunks:
            handle.write("".join(text_of(atm, fmt) for atm in models))


def is_multi_model(format: str) -> bool:
    """Whether one file of ``format`` can hold many models."""
    return get_format(format).multi_model


def format_from_suffix(path) -> str | None:
    """A format guessed from a file name, for choosing an *output* format only."""
    return FORMATS.implied_by_name(str(path))


def _suffix(format: str) -> str:
    return OUTPUT_SUFFIX.get(format, "." + format)


def model_filename(atm: Atmosphere, format: str) -> str:
    """A file name for one model, from its parameters: ``t05750_g+4.50_z-0.50_a+0.40.dat``.

    [C/M], microturbulence and geometry appear only when they would otherwise be ambiguous
    (see :func:`model_filenames`).
    """
    return dirs.model_filename(atm, _suffix(format))


def model_filenames(atmospheres, format: str) -> list[str]:
    """Distinct file names for ``atmospheres``: :func:`model_filename`, plus the microturbulence
    where that tells clashing models apart, plus a counter for true duplicates (``_2``)."""
    return dirs.model_filenames(atmospheres, _suffix(format))


check_targets = dirs.check_targets


def write_directory(atmospheres, directory, format: str, force: bool = False, names: list[str] | None = None,
                    progress=None, warn=None, **options) -> list[Path]:
    """Write each model to its own file in ``directory`` (created if missing); all or nothing, even
    if the process is killed at any moment.

    Existing files are an error unless ``force``.  ``names`` default to :func:`model_filenames`;
    ``progress`` is called with the number of files written so far; ``warn`` gets one message per
    leftover of a killed run that is finished or removed first.  The directory's lock is held
    throughout (another run on it is an error: :func:`formats.transaction.output_lock`).

    How the batch commits (a write-ahead journal, as in a database; see :mod:`formats.commit`):

    1. every file is written into a staging folder ``DIRECTORY/.innterpol-XXXX/new/``;
    2. ``journal.json`` is written (atomically) listing the names and which targets existed:
       from this moment the batch is committed;
    3. each target that exists is moved into ``old/``, and the new file moved onto it.

    A run that dies before (2) leaves only its staging folder, which the next run on the directory
    removes: the old state.  A run that dies after (2) is finished by the next run (step 3 again
    for the files not yet moved): the complete new state.  A failure during (3) in a live run
    (a file system error, Ctrl-C) moves the backups in ``old/`` back and removes the new files,
    after marking the journal as rolling back, so that a crash during the roll-back is rolled
    back too.  Where the file system can swap two folders in one step, the batch commits by that
    swap instead.  :func:`write_directory_chunks` does the same for a batch that arrives in chunks.
    """
    atmospheres = list(atmospheres)
    names = list(names) if names is not None else model_filenames(atmospheres, format)
    written = write_directory_chunks([(atmospheres, names)], directory, format, force, progress, warn, **options)
    return [Path(directory) / name for name in written]


def write_directory_chunks(chunks, directory, format: str, force: bool = False, progress=None, warn=None,
                           **options) -> list[str]:
    """:func:`write_directory` for a batch that arrives in chunks, with one chunk in memory at a time.

    ``chunks`` yields ``(models, names)``: the file names of the chunk's models, or None in every
    chunk, for names from the parameters (:func:`model_filenames` over the whole batch, given once
    the last chunk is in; until then the files are staged under their numbers).  Each chunk's
    files are staged as it comes; the directory changes only once the last one is in, as in
    :func:`write_directory`, so that an exception from ``chunks`` (a model failing its check)
    leaves it as it was.  Returns the names of the files written.
    """
    return dirs.write_directory_chunks(chunks, directory, get_format(format), force, progress, warn, **options)



def derived_quantities(atm: Atmosphere, format: str) -> dict:
    """Layer quantities (name: values) that writing ``atm`` as ``format`` derives or fills, absent from the source.

    Raises MissingQuantityError, naming the quantity, when the format needs one that cannot be derived
    (:mod:`formats.derive` has every derivation).
    """
    return derive.derived(atm, get_format(format).name)


def as_written(atm: Atmosphere, format: str) -> AsWritten:
    """``atm`` as ``format`` would write it, its layers completed once: what the writer derives, the
    file's text, the layers as the file reads back, the values its fields could not carry."""
    return AsWritten(atm, get_format(format))
