import numpy as np
import pytest

from aemap.data.audio import (
    SpectrogramConfigError,
    SpectrogramParams,
    fit_duration,
    read_wav,
    spectrogram_image,
    spectrogram_images,
)

from .conftest import write_tone

RATE = 48000


def tone(freq, seconds=0.6, start=0.0, stop=None, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    on = (t >= start) & (t < (stop if stop is not None else seconds))
    return np.where(on, np.sin(2 * np.pi * freq * t), 0.0)


def band_of(freq, p):
    return int((freq - p.fmin_hz) / (p.fmax_hz - p.fmin_hz) * p.n_freq)


def test_shape_range_and_dtype():
    p = SpectrogramParams()
    img = spectrogram_image(tone(3000) + 0.01 * np.random.default_rng(0).standard_normal(int(0.6 * RATE)), RATE, p)
    assert img.shape == (32, 32) and img.dtype == np.float32
    assert img.min() == 0.0 and img.max() == 1.0


def test_deterministic():
    x = np.random.default_rng(1).standard_normal(RATE)
    p = SpectrogramParams()
    assert np.array_equal(spectrogram_image(x, RATE, p), spectrogram_image(x, RATE, p))


@pytest.mark.parametrize("freq", [1500.0, 3000.0, 6000.0])
def test_tone_lights_its_frequency_band_lowest_row_first(freq):
    # Row 0 is the lowest band: a pure tone's energy sits in the row of its frequency.
    p = SpectrogramParams(smooth_sigma_px=0)
    img = spectrogram_image(tone(freq), RATE, p)
    rows = img.mean(axis=1)
    assert abs(int(np.argmax(rows)) - band_of(freq, p)) <= 1


def test_burst_lights_its_time_bins():
    # A burst from 0.5 s to 0.8 s of a 1 s window aligned at the start.
    p = SpectrogramParams(smooth_sigma_px=0, align="start")
    img = spectrogram_image(tone(2500, seconds=1.0, start=0.5, stop=0.8), RATE, p)
    cols = img.mean(axis=0)
    loud = np.nonzero(cols > 0.5 * cols.max())[0]
    assert loud.min() >= 15 and loud.max() <= 26  # 0.5 s -> column 16, 0.8 s -> column 25


def test_bandpass_removes_low_frequencies():
    p = SpectrogramParams(smooth_sigma_px=0)
    # 300 Hz is outside the 1-8 kHz band-pass, 4 kHz inside; equal amplitudes.
    img = spectrogram_image(tone(300) + tone(4000), RATE, p)
    sounding = slice(10, 22)  # the 0.6 s tone sits centred in the 1 s window
    assert img[band_of(4000, p), sounding].min() > 0.9
    assert img[band_of(300, p), sounding].max() < 0.3


def test_fit_duration_pads_and_trims():
    x = np.arange(1, 6, dtype=float)
    assert fit_duration(x, 9, "center").tolist() == [0, 0, 1, 2, 3, 4, 5, 0, 0]
    assert fit_duration(x, 7, "start").tolist() == [1, 2, 3, 4, 5, 0, 0]
    assert fit_duration(x, 3, "center").tolist() == [2, 3, 4]
    assert fit_duration(x, 3, "start").tolist() == [1, 2, 3]


def test_silence_gives_zeros():
    img = spectrogram_image(np.zeros(RATE), RATE, SpectrogramParams())
    assert img.shape == (32, 32) and not img.any()


def test_settings_above_nyquist_are_rejected_naming_the_key():
    with pytest.raises(
        SpectrogramConfigError, match=r"x\.wav: sample rate 8000 Hz: spectrogram\.bandpass_hz high edge"
    ):
        spectrogram_image(np.ones(8000), 8000, SpectrogramParams(), origin="x.wav")
    with pytest.raises(SpectrogramConfigError, match="fmax_hz 8000.0 Hz is above the Nyquist"):
        spectrogram_image(np.ones(8000), 8000, SpectrogramParams(bandpass_hz=(1000, 3800)))


def test_from_config_rejects_unknown_and_bad_values():
    with pytest.raises(SpectrogramConfigError, match="unknown key"):
        SpectrogramParams.from_config({"nfft": 3})
    with pytest.raises(SpectrogramConfigError, match="must be odd"):
        SpectrogramParams.from_config({"bandpass_taps": 100})
    p = SpectrogramParams.from_config({"bandpass_hz": [500, 4000]})
    assert p.bandpass_hz == (500, 4000) and p.as_dict()["bandpass_hz"] == [500, 4000]


def test_files_in_parallel_equal_serial(tmp_path):
    paths = []
    for i, f in enumerate([1200, 2400, 3600, 5000]):
        write_tone(tmp_path / f"{i}.wav", f, RATE, seconds=0.4, start_s=0.05 * i)
        paths.append(tmp_path / f"{i}.wav")
    p = SpectrogramParams()
    serial = spectrogram_images(paths, p, threads=1, progress=False)
    parallel = spectrogram_images(paths, p, threads=2, progress=False)
    assert serial.shape == (4, 32, 32)
    assert np.array_equal(serial, parallel)


def test_real_audiomnist_recordings(shared_data):
    paths = sorted((shared_data / "audiomnist-sample" / "data").glob("*/*.wav"))
    assert len(paths) == 6
    x, rate = read_wav(paths[0])
    assert rate == 48000 and x.ndim == 1
    images = spectrogram_images(paths, SpectrogramParams(), threads=1, progress=False)
    assert images.shape == (6, 32, 32) and images.min() == 0 and images.max() == 1
    assert all(img.max() == 1 and img.std() > 0.05 for img in images)  # real speech, not flat


def test_real_fsdd_recording_with_its_override(shared_data):
    path = shared_data / "fsdd" / "recordings" / "0_george_0.wav"
    p = SpectrogramParams(bandpass_hz=(1000, 3800), fmax_hz=4000)
    img = spectrogram_images([path], p, progress=False)[0]
    # Speech energy lies inside the band-pass; the rows below 1 kHz stay dark.
    assert img[: band_of(800, p)].mean() < img[band_of(1500, p) :].mean()
