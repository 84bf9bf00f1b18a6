"""A tiny deterministic stand-in for `sim.real.embed.TextEncoder` (no model, no llm extra).

Features: a few floats from the sha256 of the text, plus a "quality" coordinate that counts the
words "good" and "bad", so that labels written by a test are learnable. It keeps the encoder's
interface (key, compose, encode, metadata, counters) and never loads anything.
"""

from __future__ import annotations

import hashlib

import numpy as np

from sim.real.embed import TextEncoder


class HashEncoder(TextEncoder):
    needs_llm_extra = False

    def __init__(self, d: int = 6, *, nan_for: str | None = None) -> None:
        super().__init__("hash-encoder", "mean", max_length=64)
        self.d = d
        self.model_id = f"hash-encoder-{d}"
        self.nan_for = nan_for
        """Texts containing this string get a NaN feature (to test that NaN is never cached)."""

    def load(self) -> HashEncoder:
        return self

    @property
    def loaded(self) -> bool:
        return True

    @property
    def dim(self) -> int:
        return self.d

    @property
    def effective_max_length(self) -> int:
        return 64

    def encode(self, texts):
        self.calls += 1
        self.texts_encoded += len(texts)
        rows = []
        for t in texts:
            digest = hashlib.sha256(t.encode()).digest()[: 4 * self.d]
            v = np.frombuffer(digest, dtype=np.uint32) / 2**32 - 0.5
            v[0] += 0.8 * (t.count("good") - t.count("bad"))
            if self.nan_for is not None and self.nan_for in t:
                v[1] = np.nan
            rows.append(v)
        return np.array(rows, dtype=np.float32).reshape(len(texts), self.d)


class NoModel(HashEncoder):
    """Raises if asked to run: every text must come from the cache."""

    def encode(self, texts):
        if texts:
            raise AssertionError(f"the model was asked for {len(texts)} texts")
        return super().encode(texts)
