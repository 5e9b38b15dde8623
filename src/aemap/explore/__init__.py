"""The explorer (``aemap explore``): a Shiny app over a results folder; ``data``
reads the documented result files safely, ``app`` draws them."""

from aemap.explore.data import CorruptFile, Explorer, ResultsFolder, UnsafePath

__all__ = ["CorruptFile", "Explorer", "ResultsFolder", "UnsafePath"]
