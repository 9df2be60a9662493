"""Expected log-mel features for crates/recurrent/tests/fixtures/audio, from librosa.

Synthesises a few short signals of our own (chirps, harmonic tones with vibrato, noise
bursts; seeded), writes them as 16-bit WAVs and stores, per case, what librosa computes for
the configuration the Rust side uses (see crates/recurrent/src/audio/features.rs):

    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop,
            win_length=win, window="hann", center=True, pad_mode="constant", power=2.0,
            n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False, norm="slaney")
    logmel = log(max(S, 1e-10)).T                          # [T, n_mels]

y is the 16-bit samples divided by 32768, in float64.
Run: ~/torch/bin/python scripts/audio_fixtures.py
"""
import json
import os
import wave

import librosa
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "crates/recurrent/tests/fixtures/audio")


def signal(kind, sr, seconds, rng):
    t = np.arange(int(sr * seconds)) / sr
    if kind == "chirp":
        f0, f1 = 150.0, 0.45 * sr
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * seconds))
        y = 0.5 * np.sin(phase)
    elif kind == "vowel":
        f = 120 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
        phase = 2 * np.pi * np.cumsum(f) / sr
        y = sum(0.3 / k * np.sin(k * phase) for k in range(1, 12) if k * 150 < sr / 2)
        y *= np.hanning(len(y))
    else:  # noise bursts between silence
        y = np.zeros_like(t)
        for s in (0.05, 0.2, 0.33):
            a, b = int(s * sr), int((s + 0.06) * sr)
            y[a:b] = 0.2 * rng.standard_normal(b - a)
    return y


def write_wav(path, q, sr):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(q.astype("<i2").tobytes())


def main():
    rng = np.random.default_rng(12)
    cases = [
        ("chirp_8k", "chirp", 8000, 0.4, dict(win_ms=25.0, hop_ms=10.0, n_mels=40, fmin=0.0, fmax=None)),
        ("vowel_8k", "vowel", 8000, 0.33, dict(win_ms=25.0, hop_ms=10.0, n_mels=40, fmin=0.0, fmax=None)),
        ("bursts_16k", "bursts", 16000, 0.45, dict(win_ms=25.0, hop_ms=10.0, n_mels=23, fmin=20.0, fmax=7600.0)),
    ]
    index = []
    for name, kind, sr, secs, cfg in cases:
        y = signal(kind, sr, secs, rng)
        q = np.clip(np.round(y * 32767), -32768, 32767).astype(np.int16)
        write_wav(os.path.join(OUT, name + ".wav"), q, sr)
        y = q.astype(np.float64) / 32768.0
        win = int(round(sr * cfg["win_ms"] / 1000))
        hop = int(round(sr * cfg["hop_ms"] / 1000))
        n_fft = 1 << (win - 1).bit_length()
        fmax = cfg["fmax"] if cfg["fmax"] is not None else sr / 2
        S = librosa.feature.melspectrogram(
            y=y, sr=sr, n_fft=n_fft, hop_length=hop, win_length=win, window="hann",
            center=True, pad_mode="constant", power=2.0, n_mels=cfg["n_mels"],
            fmin=cfg["fmin"], fmax=fmax, htk=False, norm="slaney")
        logmel = np.log(np.maximum(S, 1e-10)).T
        index.append(dict(name=name, file=name + ".wav", sample_rate=sr, librosa=librosa.__version__,
                          n_fft=n_fft, frames=int(logmel.shape[0]), **cfg,
                          logmel=[[float("%.7g" % v) for v in row] for row in logmel]))
        print(name, logmel.shape, float(logmel.min()), float(logmel.max()))
    with open(os.path.join(OUT, "librosa_logmel.json"), "w") as f:
        json.dump(index, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
