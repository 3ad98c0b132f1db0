"""Named training recipes (data/fer_recipes.yaml), validated with pydantic."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field


class Augment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flip: bool = True
    rotate_deg: float = Field(0.0, ge=0, le=45)
    scale: float = Field(0.0, ge=0, le=0.5)
    translate: float = Field(0.0, ge=0, le=0.3)
    shear_deg: float = Field(0.0, ge=0, le=30)
    brightness: float = Field(0.0, ge=0, le=1)
    contrast: float = Field(0.0, ge=0, le=1)
    gamma: float = Field(0.0, ge=0, le=1)
    erase_p: float = Field(0.0, ge=0, le=1)


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    description: str = ""
    epochs: int = Field(ge=1)
    batch_size: int = Field(64, ge=1)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(gt=0)
    weight_decay: float = Field(0.0, ge=0)
    schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    input_size: int = Field(64, ge=32, le=224)
    balance: Literal["none", "sampler", "weights"] = "weights"
    balance_power: float = Field(0.3, ge=0, le=1)
    ema: float = Field(0.0, ge=0, lt=1)
    soft_labels: bool = False
    aug: Augment = Augment()


class RecipeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int = Field(ge=1, le=1)
    sources: list[str] = Field(min_length=1)
    recipes: dict[str, Recipe]


@lru_cache(maxsize=1)
def recipe_file() -> RecipeFile:
    text = (files("emotion_perception") / "data" / "fer_recipes.yaml").read_text()
    return RecipeFile.model_validate(yaml.safe_load(text))


def get_recipe(name: str, **overrides: object) -> Recipe:
    """Recipe `name` with non-None overrides applied (validated again)."""
    recipes = recipe_file().recipes
    if name not in recipes:
        raise KeyError(f"unknown recipe {name!r}; known: {sorted(recipes)}")
    data = recipes[name].model_dump()
    data["name"] = name
    data.update({k: v for k, v in overrides.items() if v is not None})
    return Recipe.model_validate(data)
