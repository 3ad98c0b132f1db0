"""The face-region table (data/face_regions.yaml): AU -> region, and each region's place on the face."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from au_animation.retarget import parse_au

Ellipse = tuple[float, float, float, float]


class Region(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    aus: tuple[str, ...] = Field(min_length=1)
    ellipses: tuple[Ellipse, ...] = Field(min_length=1)

    @field_validator("aus")
    @classmethod
    def _bare_codes(cls, aus: tuple[str, ...]) -> tuple[str, ...]:
        for name in aus:
            parsed = parse_au(name)
            if parsed is None or parsed[1] or parsed[0] != name:
                raise ValueError(f"{name!r} is not a bare AU code like 'AU06'")
        return aus


class RegionTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = Field(ge=1, le=1)
    sources: tuple[str, ...] = Field(min_length=1)
    regions: dict[str, Region] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_region_per_au(self) -> RegionTable:
        seen: dict[str, str] = {}
        for region, spec in self.regions.items():
            for au in spec.aus:
                if au in seen:
                    raise ValueError(f"{au} is in both {seen[au]} and {region}")
                seen[au] = region
        return self

    def region_of(self, channel: str) -> str | None:
        """Region of an AU channel ('AU12R' counts as AU12); None for channels no region lists."""
        parsed = parse_au(channel)
        if parsed is None:
            return None
        return next((name for name, spec in self.regions.items() if parsed[0] in spec.aus), None)


@lru_cache(maxsize=1)
def load_regions() -> RegionTable:
    text = (files("au_animation") / "data" / "face_regions.yaml").read_text(encoding="utf-8")
    return RegionTable.model_validate(yaml.safe_load(text))
