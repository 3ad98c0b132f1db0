"""Fusion parameters as data: schema of data/fusion_params.yaml, validated on load.

Every number of the fusion (modality weights, half-lives, face smoothing, the evidence floor,
change threshold and output rates) lives in the YAML file with the reason for its value, so it can
be tuned and reviewed without reading code.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator


class ModalityParams(BaseModel):
    """How much one input modality (topic affect/<name>) counts and for how long."""

    model_config = ConfigDict(extra="forbid")
    weight: float = Field(ge=0.0, le=10.0, allow_inf_nan=False, description="W_m, trust in this channel")
    half_life_s: float = Field(gt=0.0, le=3600.0, allow_inf_nan=False,
                               description="h_m: an estimate counts half as much after this age")
    smoothing_tau_s: float = Field(default=0.0, ge=0.0, le=60.0, allow_inf_nan=False,
                                   description="tau_m of the evidence EMA; 0 = each estimate replaces the last")
    smoothing_max_dt_s: float = Field(default=0.1, gt=0.0, le=10.0, allow_inf_nan=False,
                                      description="a gap between estimates counts at most this long in the EMA")
    why: str = Field(default="", description="where the numbers come from")


class FusionParams(BaseModel):
    """Schema of data/fusion_params.yaml."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = Field(ge=1, le=1)
    sources: list[str] = Field(min_length=1)
    modalities: dict[str, ModalityParams] = Field(min_length=1)
    evidence_floor: float = Field(gt=0.0, le=100.0, allow_inf_nan=False,
                                  description="A_min: below this total evidence the rest is filled with neutral")
    drop_below: float = Field(default=1e-3, ge=0.0, lt=1.0, allow_inf_nan=False,
                              description="an estimate whose decay factor fell below this is forgotten")
    derive_va_from_labels: bool = Field(
        default=True, description="an estimate with labels but valence = arousal = 0 gets the labels' circumplex point")
    micro_window_s: float = Field(default=0.5, ge=0.0, le=5.0, allow_inf_nan=False,
                                  description="a micro-expression older than this is not passed on")
    change_threshold: float = Field(ge=0.0, le=1.0, allow_inf_nan=False,
                                    description="publish when a weight, valence, arousal or confidence moved this much")
    publish_rate_hz: float = Field(gt=0.0, le=1000.0, allow_inf_nan=False, description="steady output rate")
    check_rate_hz: float = Field(gt=0.0, le=1000.0, allow_inf_nan=False,
                                 description="how often the decaying state is checked for a meaningful change")

    @field_validator("modalities")
    @classmethod
    def _names(cls, value: dict[str, ModalityParams]) -> dict[str, ModalityParams]:
        for name in value:
            if not name or not name.replace("_", "a").isalnum() or not name.islower():
                raise ValueError(f"modality name {name!r} must be lower-case letters, digits and '_' (a topic name)")
        return value


def packaged_params_path() -> Path:
    return Path(str(files("emotion_perception") / "data" / "fusion_params.yaml"))


def parse_params(text: str) -> FusionParams:
    """Validate YAML text; raises ValueError (pydantic.ValidationError or yaml.YAMLError) when invalid."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("fusion parameters must be a YAML mapping")
    return FusionParams.model_validate(data)


@lru_cache(maxsize=1)
def default_params() -> FusionParams:
    """The parameter file shipped with the package."""
    return parse_params((files("emotion_perception") / "data" / "fusion_params.yaml").read_text())


def load_params(path: str | Path | None = None) -> FusionParams:
    """Parameters from `path`, or the packaged defaults when `path` is None or ''."""
    if not path:
        return default_params()
    return parse_params(Path(path).read_text())
