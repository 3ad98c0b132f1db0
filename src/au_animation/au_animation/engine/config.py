"""Options of the expression synthesizer node: one dataclass for parameters, files and CLIs."""

from __future__ import annotations

from dataclasses import dataclass

from avatar_common.config import param

from au_animation.engine.synthesizer import MODES
from au_animation.engine.tables import PROFILES


@dataclass
class ExpressionConfig:
    """Every field is a node parameter of the same name; start-only ones are read-only while running."""

    rate_hz: float = param(60.0, "frames per second on face/action_units (node clock)", low=1.0, high=1000.0,
                           start_only=True)
    mode: str = param("dynamic", "dynamic (rise-hold-fall, blends, life layer) or static (the paper's baseline)",
                      choices=MODES)
    profile: str = param("felt", "timing profile: felt (spontaneous) or posed (faster, larger)", choices=PROFILES)
    intensity: float = param(1.0, "gain on every emotion's amplitude (1 = the prototypes' intensities)",
                             low=0.0, high=1.5)
    life: bool = param(True, "blinks, breathing and micro-motion (dynamic mode only)")
    seed: int = param(0, "random seed (blinks, felt irregularity): same seed, same face", low=0, high=2**31 - 1)
