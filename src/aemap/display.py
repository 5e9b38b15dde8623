"""How a dataset's images are to be drawn: its ``display`` and orientation.

A dataset's ``display`` says what pixel value 1 looks like: ``ink`` draws it
dark on white, as the papers print MNIST and its kin (which store strokes
bright on black); ``natural`` draws the images as stored (1 white), as
photographs and scans look anywhere else. ``image_origin`` says where row 0
is: ``upper`` for pictures, ``lower`` for spectrograms (frequency upward).
The colour maps these give are the figures' business (aemap.plots.style);
which display a dataset has, the registry's (aemap.data.registry: its
schema lists the same names; ``natural`` is the default of ``image_folder``).
"""

from __future__ import annotations

DISPLAYS = ("ink", "natural")
ORIGINS = ("upper", "lower")


def image_style(dataset: str, origin: str, display: str) -> dict[str, str]:
    """How one experiment's images are drawn, as ``image_style.json`` records it
    for the explorer (which reads results only); a bad value fails here."""
    if origin not in ORIGINS:
        raise ValueError(f"image_origin: {origin!r} is neither 'upper' nor 'lower'")
    if display not in DISPLAYS:
        raise ValueError(f"display: unknown {display!r}; known: {', '.join(DISPLAYS)}")
    return {"dataset": dataset, "image_origin": origin, "display": display}
