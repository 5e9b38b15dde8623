"""Audio -> smoothed 32x32 spectrogram images, computed on the signal.

Inglis et al. rendered R spectrogram *plots* (seewave) to 32x32 RGB images,
smoothed each channel and averaged them. Here the same recipe is computed
directly on the waveform, so nothing depends on a plotting backend:

1. pad or trim to a fixed duration (the authors' images stretched each
   recording to the image width; a fixed duration keeps time comparable);
2. zero-phase FIR band-pass (1-8 kHz for AudioMNIST);
3. power spectrogram (Hann window), averaged onto a regular grid of
   ``n_freq`` linear frequency bands (0.1-8 kHz) by ``n_time`` time bins;
4. decibels relative to the image's maximum, clipped to the level range
   (-30..0 dB, the authors' colour levels);
5. Gaussian smoothing (the authors' kernel smoother), then min-max to [0, 1].

Images are (frequency, time) with row 0 the *lowest* frequency: draw them
with ``origin="lower"`` so frequency points upward.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from scipy import ndimage, signal

from aemap.progress import progress_bar

IMAGE_ORIGIN = "lower"  # row 0 = lowest frequency band


class SpectrogramConfigError(ValueError):
    """A spectrogram setting cannot work for a file (names the key and the file)."""


@dataclass(frozen=True)
class SpectrogramParams:
    """Every knob of the recipe (config key ``spectrogram``)."""

    duration_s: float = 1.0
    align: str = "center"  # where the recording sits when padded/trimmed: start | center
    bandpass_hz: tuple[float, float] = (1000.0, 8000.0)
    bandpass_taps: int = 511
    window_s: float = 0.025
    hop_s: float = 0.005
    fmin_hz: float = 100.0
    fmax_hz: float = 8000.0
    db_range: tuple[float, float] = (-30.0, 0.0)
    n_freq: int = 32
    n_time: int = 32
    smooth_sigma_px: float = 1.0

    @classmethod
    def from_config(cls, cfg: dict[str, Any], keys: dict[str, str] | None = None) -> SpectrogramParams:
        """From a merged ``spectrogram`` block; ``keys`` names where each value came
        from (e.g. ``spectrogram.fsdd.fmax_hz``), for the error messages."""
        known = {f.name for f in fields(cls)}
        unknown = set(cfg) - known
        if unknown:
            raise SpectrogramConfigError(f"spectrogram: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}
        params = cls(**values)
        params.check(keys=keys)
        return params

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def check(self, sample_rate: int | None = None, origin: str = "", keys: dict[str, str] | None = None) -> None:
        """Raise :class:`SpectrogramConfigError` for settings that cannot work; the
        message names each value by ``keys`` (default ``spectrogram.<field>``)."""
        where = f"{origin}: " if origin else ""

        def key(field: str) -> str:
            return (keys or {}).get(field, f"spectrogram.{field}")

        lo, hi = self.bandpass_hz
        if not 0 < lo < hi:
            raise SpectrogramConfigError(f"{where}{key('bandpass_hz')} must be 0 < low < high, got {lo}, {hi}")
        if not 0 <= self.fmin_hz < self.fmax_hz:
            raise SpectrogramConfigError(f"{where}{key('fmin_hz')} must be below {key('fmax_hz')}")
        if self.align not in ("start", "center"):
            raise SpectrogramConfigError(f"{where}{key('align')} must be 'start' or 'center', got {self.align!r}")
        if self.db_range[0] >= self.db_range[1]:
            raise SpectrogramConfigError(f"{where}{key('db_range')} must be [low, high] with low < high")
        if self.bandpass_taps % 2 == 0:
            raise SpectrogramConfigError(f"{where}{key('bandpass_taps')} must be odd (a type I band-pass filter)")
        if sample_rate is not None:
            nyquist = sample_rate / 2
            if hi >= nyquist:
                raise SpectrogramConfigError(
                    f"{where}sample rate {sample_rate} Hz: {key('bandpass_hz')} high edge {hi} Hz must be "
                    f"below the Nyquist frequency {nyquist:g} Hz (set a per-dataset override in config)"
                )
            if self.fmax_hz > nyquist:
                raise SpectrogramConfigError(
                    f"{where}sample rate {sample_rate} Hz: {key('fmax_hz')} {self.fmax_hz} Hz is above the "
                    f"Nyquist frequency {nyquist:g} Hz (set a per-dataset override in config)"
                )


def fit_duration(x: np.ndarray, n: int, align: str) -> np.ndarray:
    """Pad with zeros or trim ``x`` to exactly ``n`` samples, keeping it at the start or centred."""
    if len(x) >= n:
        start = 0 if align == "start" else (len(x) - n) // 2
        return x[start : start + n]
    out = np.zeros(n, dtype=x.dtype)
    start = 0 if align == "start" else (n - len(x)) // 2
    out[start : start + len(x)] = x
    return out


def _binning_matrix(centres: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(bins x len(centres)) matrix that averages the values whose centre falls in each bin."""
    which = np.digitize(centres, edges) - 1
    inside = (which >= 0) & (which < len(edges) - 1) & (centres <= edges[-1])
    m = np.zeros((len(edges) - 1, len(centres)))
    m[which[inside], np.nonzero(inside)[0]] = 1.0
    counts = m.sum(axis=1, keepdims=True)
    if np.any(counts == 0):
        raise SpectrogramConfigError(
            "spectrogram grid finer than the STFT: some cells receive no frame or frequency bin "
            "(use a shorter spectrogram.window_s / hop_s or fewer n_freq / n_time)"
        )
    return m / counts


def spectrogram_image(x: np.ndarray, sample_rate: int, params: SpectrogramParams, origin: str = "") -> np.ndarray:
    """The (n_freq, n_time) float32 image in [0, 1] of one mono signal."""
    params.check(sample_rate, origin)
    n = round(params.duration_s * sample_rate)
    y = fit_duration(np.asarray(x, dtype=np.float64), n, params.align)
    taps = signal.firwin(params.bandpass_taps, params.bandpass_hz, pass_zero=False, fs=sample_rate)
    # Zero-phase: filter forward and backward ('same' keeps a symmetric FIR centred).
    # Overlap-add FFT convolution: 1.2 ms instead of filtfilt's 10.8 ms for 1 s at 48 kHz, 511 taps.
    y = signal.oaconvolve(y, taps, mode="same")
    y = signal.oaconvolve(y[::-1], taps, mode="same")[::-1]
    nperseg = max(2, round(params.window_s * sample_rate))
    hop = max(1, round(params.hop_s * sample_rate))
    freqs, times, power = signal.spectrogram(
        y, fs=sample_rate, window="hann", nperseg=nperseg, noverlap=nperseg - hop, mode="psd", detrend=False
    )
    f_edges = np.linspace(params.fmin_hz, params.fmax_hz, params.n_freq + 1)
    t_edges = np.linspace(0.0, params.duration_s, params.n_time + 1)
    grid = _binning_matrix(freqs, f_edges) @ power @ _binning_matrix(times, t_edges).T
    peak = grid.max()
    if not np.isfinite(peak) or peak <= 0:
        return np.zeros((params.n_freq, params.n_time), dtype=np.float32)  # silence
    lo, hi = params.db_range
    db = np.clip(10.0 * np.log10(np.maximum(grid / peak, 1e-30)), lo, hi)
    image = (db - lo) / (hi - lo)
    if params.smooth_sigma_px > 0:
        image = ndimage.gaussian_filter(image, params.smooth_sigma_px, mode="nearest")
    span = image.max() - image.min()
    image = (image - image.min()) / span if span > 0 else np.zeros_like(image)
    return image.astype(np.float32)


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Mono float64 samples and the sample rate (channels are averaged)."""
    data, rate = sf.read(path, dtype="float64", always_2d=True)
    return data.mean(axis=1), int(rate)


def _one(args: tuple[str, SpectrogramParams]) -> np.ndarray:
    path, params = args
    samples, rate = read_wav(path)
    return spectrogram_image(samples, rate, params, origin=path)


def spectrogram_images(
    paths: Sequence[str | os.PathLike[str]], params: SpectrogramParams, threads: int = 1, progress: bool = True
) -> np.ndarray:
    """(N, n_freq, n_time) float32 images of WAV files, in the given order.

    Work is spread over ``threads`` processes; the result does not depend on it.
    """
    jobs = [(str(Path(p)), params) for p in paths]
    out = np.empty((len(jobs), params.n_freq, params.n_time), dtype=np.float32)
    bar = progress_bar(total=len(jobs), desc="spectrograms", unit="file", disable=not progress)
    if threads <= 1 or len(jobs) < 2:
        for i, job in enumerate(jobs):
            out[i] = _one(job)
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=threads) as pool:
            chunk = max(1, min(64, len(jobs) // (threads * 4)))
            for i, image in enumerate(pool.map(_one, jobs, chunksize=chunk)):
                out[i] = image
                bar.update()
    bar.close()
    return out
