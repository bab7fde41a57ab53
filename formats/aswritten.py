"""A model as a format would write it, for the checks that judge a file before it is written:
its layers completed once (:func:`formats.derive.complete`) and shared by everything asked of it."""

from __future__ import annotations

import numpy as np

from .derive import complete
from .model import Atmosphere
from .registry import Format, TextFormat


class AsWritten:
    """``atm`` as ``fmt`` would write it.  MissingQuantityError, naming the quantity, when the
    format needs one that cannot be derived."""

    def __init__(self, atm: Atmosphere, fmt: Format):
        self.atmosphere, self.format = atm, fmt
        #: Every layer the file would hold: the model's own and those the writer derives.
        self.layers = complete(atm, fmt.name)
        self._text: str | None = None

    @property
    def derived(self) -> dict[str, np.ndarray]:
        """The layers the writer derives or fills, absent from the model."""
        return {name: values for name, values in self.layers.items() if name not in self.atmosphere.layers}

    @property
    def has_fields(self) -> bool:
        """Whether the format writes fixed-width fields (a text format), which :meth:`field_overflows` checks."""
        return isinstance(self.format, TextFormat)

    def text(self) -> str:
        """The file's text (text formats only); FieldOverflowError where a value would not fit."""
        if self._text is None:
            self._text = self.format.format_model(self.atmosphere, self.layers)
        return self._text

    def read_back(self) -> dict[str, np.ndarray]:
        """The depth quantities as the file reads back (rounded to the printed digits, re-derived as
        its reader derives them); nothing for a binary format."""
        if not self.has_fields:
            return {}
        written = self.format.parse(self.text(), self.atmosphere.describe())[0]
        return {name: values for name, values in written.layers.items() if len(values) == self.atmosphere.ndepth}

    def field_overflows(self) -> list[tuple[str, int | None, float, int]] | None:
        """The values the file could not carry (see :class:`formats.registry.TextFormat`); None for a
        binary format, which has no fields."""
        if not self.has_fields:
            return None
        return self.format.field_overflows(self.atmosphere, self.layers)


def model_of(item) -> Atmosphere:
    """The atmosphere of a model or of its :class:`AsWritten` view (what the writers take)."""
    return item.atmosphere if isinstance(item, AsWritten) else item


def text_of(item, fmt: TextFormat) -> str:
    """One model's text in ``fmt``: the text its check judged, when it comes as an
    :class:`AsWritten` view of that format (formatted once), else formatted now."""
    if isinstance(item, AsWritten) and item.format is fmt:
        return item.text()
    return fmt.format_model(model_of(item))
