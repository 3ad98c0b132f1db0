"""The AU animation engine: pure (no rclpy), deterministic, numpy per frame.

    from au_animation.engine import Synthesizer
    synth = Synthesizer(mode="dynamic", profile="felt", seed=0)
    synth.set_weights({"happiness": 0.8, "surprise": 0.4}, t=0.0)
    frame = synth.step(0.5)   # {"AU01": ..., "AU12": ..., ...}, every value in [0, 1]
"""

from au_animation.engine.synthesizer import MODES, Synthesizer
from au_animation.engine.tables import PROFILES, Tables, load_tables

__all__ = ["MODES", "PROFILES", "Synthesizer", "Tables", "load_tables"]
