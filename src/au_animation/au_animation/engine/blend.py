"""Blending several tracks into one AU vector, with an explicit rule for antagonistic AUs.

Each row r of the blend (an emotion track, or a cue such as "listening") has a prototype: per AU
channel j an intensity I[r, j] and an onset threshold F[r, j]. With row amplitudes a[r] in [0, 1]:

    C[r, j] = I[r, j] * clip((a[r] - F[r, j]) / (1 - F[r, j]), 0, 1)      (contribution)
    total[j] = sum_r C[r, j]

Antagonists (pairs A, B with strength k, margin m): with totals a = total[A], b = total[B], the "pure"
part of A (rows whose prototype has A but not B) is scaled by 1 - k * clip((b - a) / m, 0, 1), and
symmetrically for B; a channel in several pairs takes its largest cut. The stronger action wins, the
weaker fades continuously, and a single emotion that combines both on purpose (AU1+AU4 in sadness) is
untouched. The caller clips the result to [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from au_animation.engine.tables import AntagonistTable


class Blender:
    """Precomputed blend matrices for fixed rows and channels; `blend(a)` costs a few numpy ops."""

    def __init__(self, channels: Sequence[str], rows: Sequence[Mapping[str, tuple[float, float]]],
                 antagonists: AntagonistTable | None = None) -> None:
        """Args:
            channels: AU channel names (output order).
            rows: per row {channel: (intensity, from_weight)}.
            antagonists: the pair table (None = no antagonist rule).
        """
        self.channels = tuple(channels)
        index = {c: j for j, c in enumerate(self.channels)}
        n_rows, n_ch = len(rows), len(self.channels)
        self.intensity = np.zeros((n_rows, n_ch))
        self.threshold = np.zeros((n_rows, n_ch))
        for r, row in enumerate(rows):
            for name, (value, from_weight) in row.items():
                self.intensity[r, index[name]] = value
                self.threshold[r, index[name]] = from_weight
        self._scale = 1.0 / (1.0 - self.threshold)
        self._offset = self.threshold * self._scale
        self._any_threshold = bool(self.threshold.any())
        self.pairs: list[tuple[int, int, float, np.ndarray, np.ndarray]] = []
        self.margin = 0.2
        if antagonists is not None:
            self.margin = antagonists.margin
            for pair in antagonists.pairs:
                if pair.a not in index or pair.b not in index:
                    continue
                ja, jb = index[pair.a], index[pair.b]
                has_a, has_b = self.intensity[:, ja] > 0, self.intensity[:, jb] > 0
                self.pairs.append((ja, jb, pair.k, (has_a & ~has_b).astype(float), (has_b & ~has_a).astype(float)))

    def contributions(self, amplitudes: np.ndarray) -> np.ndarray:
        """C[r, j] for amplitudes a[r] (see the module docstring)."""
        a = amplitudes[:, None]
        if not self._any_threshold:
            return self.intensity * a
        return self.intensity * np.clip(a * self._scale - self._offset, 0.0, 1.0)

    def blend(self, amplitudes: np.ndarray) -> np.ndarray:
        """The blended AU vector (not yet clipped) for row amplitudes, antagonists resolved."""
        contrib = self.contributions(amplitudes)
        total = contrib.sum(axis=0)
        if not self.pairs:
            return total
        cut: dict[int, float] = {}
        inv_margin = 1.0 / self.margin
        for ja, jb, k, pure_a_rows, pure_b_rows in self.pairs:
            a, b = total[ja], total[jb]
            if a <= 0.0 or b <= 0.0:
                continue
            lose_a = k * min(1.0, max(0.0, (b - a) * inv_margin))
            lose_b = k * min(1.0, max(0.0, (a - b) * inv_margin))
            if lose_a > 0.0:
                cut[ja] = max(cut.get(ja, 0.0), lose_a * float(pure_a_rows @ contrib[:, ja]))
            if lose_b > 0.0:
                cut[jb] = max(cut.get(jb, 0.0), lose_b * float(pure_b_rows @ contrib[:, jb]))
        for j, amount in cut.items():  # a channel in several pairs loses its largest cut, not the sum
            total[j] -= amount
        return total
