"""Progress bars: live in a terminal, whole lines in a log file."""

import io
import logging
import sys

from aemap.progress import LineProgress, logging_beside, progress_bar
from aemap.provenance import setup_logging


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_file_gets_whole_lines_at_the_interval_and_one_at_close(monkeypatch):
    clock = iter(float(t) for t in range(1000))
    monkeypatch.setattr("tqdm.std.time", lambda: next(clock))  # tqdm's clock: one second per call
    log = io.StringIO()
    bar = progress_bar(total=100, desc="train cnn", unit="epoch", stream=log, log_interval_s=30)
    assert isinstance(bar, LineProgress)
    for i in range(100):
        bar.set_postfix(loss=i / 100, refresh=False)
        bar.update()
    bar.close()
    text = log.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert lines[-1].startswith("train cnn: 100/100 epoch (100%) [")
    assert lines[-1].endswith("loss=0.99]")
    # One line per 30 s of tqdm's clock (it reads the clock about twice per update), not one per update.
    assert 2 <= len(lines) <= 5, lines
    assert all(line.startswith("train cnn: ") and "epoch (" in line for line in lines)


def test_close_adds_no_line_when_nothing_moved():
    log = io.StringIO()
    bar = progress_bar(total=3, desc="files", unit="file", stream=log, log_interval_s=0)
    bar.update(3)
    bar.close()
    bar.close()
    assert log.getvalue().startswith("files: 3/3 file (100%) [")
    assert log.getvalue().count("\n") == 1
    quiet = io.StringIO()
    progress_bar(total=3, stream=quiet).close()  # nothing done, nothing said
    for _ in progress_bar(range(4), stream=quiet, disable=True):
        pass
    assert quiet.getvalue() == ""


def test_lines_carry_the_log_format_when_logging_writes_to_the_stream():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("aemap")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for _ in progress_bar(range(5), desc="spectrograms", unit="file", stream=stream):
            pass
        elsewhere = io.StringIO()  # a bar on another stream writes there, not to the log
        for _ in progress_bar(range(2), desc="other", unit="file", stream=elsewhere):
            pass
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert stream.getvalue().startswith("INFO aemap.progress: spectrograms: 5/5 file (100%) [")
    assert stream.getvalue().count("\n") == 1
    assert elsewhere.getvalue().startswith("other: 2/2 file (100%) [")


def test_unknown_total_and_byte_units():
    log = io.StringIO()
    bar = progress_bar(desc="steps", unit="step", stream=log, log_interval_s=0)
    bar.update(7)
    bar.close()
    bar = progress_bar(total=1, desc="t10k.gz", unit="B", unit_scale=True, stream=log, log_interval_s=1e9)
    bar.total = 2_000_000  # as pooch sets it from Content-Length
    bar.update(2_000_000)
    bar.close()
    bar = progress_bar(total=2, desc="{rows} of {set}", stream=log, log_interval_s=0)  # braces stay text
    bar.update(2)
    bar.close()
    first, second, third = log.getvalue().splitlines()
    assert first.startswith("steps: 7 step [")
    assert third.startswith("{rows} of {set}: 2/2 it (100%) [")
    assert second.startswith("t10k.gz: 2.00M/2.00M B (100%) [")


def test_a_terminal_gets_tqdms_live_bar():
    term = Terminal()
    bar = progress_bar(total=10, desc="train", unit="epoch", stream=term)
    assert not isinstance(bar, LineProgress)
    bar.update(10)
    bar.close()
    assert "\r" in term.getvalue() and "10/10" in term.getvalue()


def test_a_job_log_holds_progress_and_log_lines_each_whole(tmp_path, monkeypatch):
    """As in a workflow job: setup_logging sends stderr and logging to the log file."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # restored afterwards; setup_logging replaces it
    path = tmp_path / "job.log"
    try:
        log = setup_logging(path)
        with (
            progress_bar(total=4, desc="optimise", unit="step", log_interval_s=0) as bar,
            logging_beside(bar),
        ):
            for i in range(4):
                log.info("chunk %d done", i)
                bar.update()
        sys.stderr.flush()
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        logging.captureWarnings(False)
    text = path.read_text()
    assert "\r" not in text
    messages = [line.split(": ", 1)[1] for line in text.splitlines()]
    assert [m.split(" [")[0] for m in messages] == [
        x for i in range(4) for x in (f"chunk {i} done", f"optimise: {i + 1}/4 step ({25 * (i + 1)}%)")
    ]
    assert all(" INFO aemap" in line for line in text.splitlines())
