"""What to tell a user whose run failed to download its data.

Imported by the workflow only (its ``onerror`` handler), never by a job's
script: a change here reruns nothing.

A download that cannot reach its host already says so in its job's log
(the URL and the network's error). What it cannot say is the way round:
without internet access, a mirror of the sources (``data.mirror`` or
``$AEMAP_DATA_MIRROR``). After the run this module finds the downloads that
ran and failed (a log written during the run, no folder), without reading
any message's wording.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterable
from pathlib import Path

from aemap.data.stages import MIRROR_ENV


def failed_downloads(
    sources: Iterable[str],
    raw_dir: str | os.PathLike[str],
    log_dir: str | os.PathLike[str],
    since: float,
) -> list[str]:
    """The sources whose download job ran after ``since`` (a time.time(): its log
    was written then) and left no folder in ``raw_dir``."""
    failed = []
    for source in sources:
        log = Path(log_dir) / f"{source}.log"
        if log.is_file() and log.stat().st_mtime >= since and not (Path(raw_dir) / source).is_dir():
            failed.append(source)
    return failed


def no_mirror_hint(failed: list[str], log_dir: str | os.PathLike[str], mirror_dirs: dict[str, str]) -> str:
    """The advice for downloads that failed with no mirror set, wrapped for a terminal;
    ``mirror_dirs``: each failed source's folder in a mirror."""
    logs = ", ".join(str(Path(log_dir) / f"{s}.log") for s in failed)
    layout = ", ".join(f"{{mirror}}/{mirror_dirs[s]}/..." for s in failed)
    advice = (
        f"Could not download {', '.join(failed)} (why: {logs}), and no data mirror is set. "
        "Without internet access, or where an upstream host has moved, set data.mirror in your config "
        f"(or the environment variable {MIRROR_ENV}) to a folder or base URL laid out like the "
        f"upstream sources ({layout}) and run the same command again "
        "(README: 'Offline, or with a local copy of the data')."
    )
    return textwrap.fill(advice, width=88, break_long_words=False, break_on_hyphens=False)
