"""Mouth arbitration: while the character speaks, lip-sync owns the mouth; emotion AUs there are capped.

cap_j(t) = 1 - s(t) * (1 - cap_j), with s(t) a C1 envelope (attack when speech starts, release when it
ends); out_j = min(in_j, cap_j(t)). Upper-face channels have no cap. When speech ends, s falls
smoothly and the emotion's own (still running) mouth values come back without a jump.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from au_animation.engine.tables import MouthTable
from au_animation.engine.tracks import Envelope
from au_animation.retarget import parse_au


class MouthArbiter:
    def __init__(self, table: MouthTable, channels: Sequence[str]) -> None:
        self.envelope = Envelope(table.attack, table.release)
        self.headroom = np.zeros(len(channels))  # 1 - cap, 0 for channels without a cap
        for j, name in enumerate(channels):
            parsed = parse_au(name)
            cap = table.caps.get(name)
            if cap is None and parsed is not None:
                cap = table.caps.get(parsed[0])
            if cap is not None:
                self.headroom[j] = 1.0 - cap

    def set_speaking(self, speaking: bool, t: float) -> None:
        self.envelope.set(1.0 if speaking else 0.0, t)

    def level(self, t: float) -> float:
        return self.envelope(t)

    def apply(self, values: np.ndarray, t: float) -> np.ndarray:
        """Cap `values` in place for time t and return them."""
        s = self.envelope(t)
        if s > 0.0:
            np.minimum(values, 1.0 - s * self.headroom, out=values)
        return values
