"""Options of the emotion_fusion node: the fusion parameter file plus its run-time tunables.

The numbers themselves live in data/fusion_params.yaml (with their reasons); the tunable ones
(output rates, change threshold, and each built-in modality's weight and half-life) are also node
parameters, so `ros2 param set` can change them while running. Their defaults ARE the packaged
file's values (read once at import), so the file stays the one place that defines them.
Precedence: packaged file < `params_file` < parameters set explicitly (launch, YAML, run time).
"""

from __future__ import annotations

from dataclasses import dataclass

from avatar_common.config import param, specs

from emotion_perception.fusion.params import FusionParams, default_params

_P = default_params()
TUNED_MODALITIES = ("text", "voice", "face")
_RATE = {"low": 0.001, "high": 1000.0}
_WEIGHT = {"low": 0.0, "high": 10.0}
_HALF_LIFE = {"low": 0.001, "high": 3600.0}


@dataclass
class FusionConfig:
    """Every field is a node parameter of the same name (see the module docstring)."""

    params_file: str = param("", "fusion parameter YAML (weights, half-lives, smoothing); '' = packaged default",
                             start_only=True)
    publish_rate_hz: float = param(_P.publish_rate_hz, "steady output rate of affect/fused in Hz "
                                   "(changes are published at once in addition)", **_RATE)
    check_rate_hz: float = param(_P.check_rate_hz, "how often the decaying state is checked for a change, in Hz",
                                 **_RATE)
    change_threshold: float = param(_P.change_threshold, "publish at once when a weight, valence, arousal or "
                                    "confidence moved by this much", low=0.0, high=1.0)
    text_weight: float = param(_P.modalities["text"].weight, "W_text: trust in the text estimate", **_WEIGHT)
    text_half_life_s: float = param(_P.modalities["text"].half_life_s, "a text estimate counts half after this age",
                                    **_HALF_LIFE)
    voice_weight: float = param(_P.modalities["voice"].weight, "W_voice: trust in the voice estimate", **_WEIGHT)
    voice_half_life_s: float = param(_P.modalities["voice"].half_life_s,
                                     "a voice estimate counts half after this age", **_HALF_LIFE)
    face_weight: float = param(_P.modalities["face"].weight, "W_face: trust in the face estimate", **_WEIGHT)
    face_half_life_s: float = param(_P.modalities["face"].half_life_s, "a face estimate counts half after this age",
                                    **_HALF_LIFE)


def from_params(params: FusionParams) -> dict[str, float]:
    """The tunable values a parameter file defines, as FusionConfig field values."""
    values: dict[str, float] = {name: getattr(params, name)
                                for name in ("publish_rate_hz", "check_rate_hz", "change_threshold")}
    for modality in TUNED_MODALITIES:
        if modality in params.modalities:
            values[f"{modality}_weight"] = params.modalities[modality].weight
            values[f"{modality}_half_life_s"] = params.modalities[modality].half_life_s
    return values


def file_values_unless_set(config: FusionConfig, params: FusionParams) -> dict[str, float]:
    """Values of `params` (a loaded file) for the fields still at the packaged default."""
    packaged = from_params(_P)
    return {name: value for name, value in from_params(params).items()
            if getattr(config, name) == packaged.get(name) and value != packaged.get(name)}


def apply(params: FusionParams, config: FusionConfig) -> FusionParams:
    """`params` with the config's tunables written into it."""
    modalities = {
        name: m.model_copy(update={"weight": getattr(config, f"{name}_weight"),
                                   "half_life_s": getattr(config, f"{name}_half_life_s")})
        if name in TUNED_MODALITIES else m
        for name, m in params.modalities.items()
    }
    return params.model_copy(update={"publish_rate_hz": config.publish_rate_hz, "check_rate_hz": config.check_rate_hz,
                                     "change_threshold": config.change_threshold, "modalities": modalities})


assert set(from_params(_P)) <= set(specs(FusionConfig)), "packaged fusion file lacks a tuned modality"
