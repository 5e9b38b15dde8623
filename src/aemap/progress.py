"""Progress bars that suit where they are shown.

In a terminal (or a notebook) a step shows tqdm's live bar. A workflow job
writes its standard error to a log file, where a live bar is a stream of
carriage returns and redrawn bars run together with the log lines around
them. There the same bar writes plain lines instead, at most one every
``log_interval_s`` seconds and one when it closes, through logging when
logging writes to that stream (so they carry the log's timestamps), else
straight to the stream:

    2026-11-30 13:30:34,320 INFO aemap.progress: train arumugam_cnn: 3/10 epoch (30%) [02:39<06:07, 52.57s/epoch]

Both are tqdm objects, so callers use one API (``update``, ``set_postfix``,
iteration, ``close``) and pass either to code that expects tqdm.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterable
from typing import IO, Any

from tqdm.auto import tqdm as live_tqdm
from tqdm.contrib.logging import logging_redirect_tqdm
from tqdm.std import tqdm

log = logging.getLogger(__name__)

LINE_FORMAT = "{n_fmt}/{total_fmt} {unit} ({percentage:.0f}%) [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
LINE_FORMAT_NO_TOTAL = "{n_fmt} {unit} [{elapsed}, {rate_fmt}{postfix}]"


class LineProgress(tqdm):
    """A tqdm that writes whole lines (no carriage returns, no bar glyphs):
    one per refresh, at most every ``mininterval`` seconds, and a last one
    on ``close`` unless nothing moved since the previous line."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs["leave"] = False  # close() writes the last line itself, without tqdm's bare newline
        self._logged_n = kwargs.get("initial", 0)  # set first: tqdm's __init__ already displays
        self._stream = kwargs.get("file") or sys.stderr
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg is not None or self.n == self._logged_n:
            return False  # tqdm clearing its line, or nothing new to say (the opening 0)
        fmt = LINE_FORMAT if self.total else LINE_FORMAT_NO_TOTAL
        line = self.format_meter(**{**self.format_dict, "bar_format": ("{desc}: " if self.desc else "") + fmt})
        self._logged_n = self.n
        if _logging_writes_to(self._stream):
            log.info("%s", line)
        else:
            self._stream.write(line + "\n")
            self._stream.flush()
        return True

    def clear(self, nolock: bool = False) -> None:
        """Nothing to clear: lines stay (tqdm.write calls this before writing)."""

    def close(self) -> None:
        if not self.disable:
            self.display()
        super().close()


def _logging_writes_to(stream: IO[str]) -> bool:
    """Whether an INFO record of this module's logger reaches a handler
    writing to ``stream`` (a job's log: then a line goes through logging)."""
    if not log.isEnabledFor(logging.INFO):
        return False
    logger: logging.Logger | None = log
    while logger is not None:
        if any(isinstance(h, logging.StreamHandler) and h.stream is stream for h in logger.handlers):
            return True
        logger = logger.parent if logger.propagate else None
    return False


def _is_live(stream: IO[str]) -> bool:
    """A terminal, or a Jupyter kernel (whose stderr is no terminal but shows tqdm's widget)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) or "ipykernel" in sys.modules


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: float | None = None,
    desc: str | None = None,
    unit: str = "it",
    disable: bool = False,
    stream: IO[str] | None = None,
    live_interval_s: float = 1.0,
    log_interval_s: float = 30.0,
    **kwargs: Any,
) -> tqdm:
    """A tqdm bar on ``stream`` (default: the current ``sys.stderr``): live
    in a terminal or notebook, plain lines every ``log_interval_s`` seconds
    in a file (a job's log)."""
    stream = sys.stderr if stream is None else stream
    common = dict(iterable=iterable, total=total, desc=desc, unit=unit, disable=disable, file=stream, **kwargs)
    if _is_live(stream):
        return live_tqdm(mininterval=live_interval_s, **common)
    # miniters=1 and maxinterval: a line is due only by time (tqdm's adaptive
    # miniters could hold it back; its monitor thread would add one every 10 s).
    return LineProgress(mininterval=log_interval_s, maxinterval=max(log_interval_s, 10.0), miniters=1, **common)


def logging_beside(bar: tqdm) -> contextlib.AbstractContextManager[None]:
    """Log lines written while ``bar`` is up: above a live bar (tqdm's
    redirect), as they are beside a line bar (whose lines are log lines)."""
    if isinstance(bar, LineProgress):
        return contextlib.nullcontext()
    return logging_redirect_tqdm(tqdm_class=type(bar))
