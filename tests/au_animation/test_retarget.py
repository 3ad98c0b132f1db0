"""Retargeting AU vectors to ARKit and MetaHuman: the shipped maps, laterality, bounds."""

from __future__ import annotations

import math
from importlib.resources import files

import numpy as np
import pytest
import yaml
from au_animation.retarget import load_retarget, load_table, parse_au
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

# Unreal's EARFaceBlendShape / Live Link Face packet order, written out independently of the YAML.
ARKIT_ORDER = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
    "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight", "jawForward", "jawLeft", "jawRight", "jawOpen", "mouthClose", "mouthFunnel",
    "mouthPucker", "mouthLeft", "mouthRight", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight",
    "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "browDownLeft",
    "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff", "cheekSquintLeft",
    "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut"
)

PAPER_CURVES = (
    "browRaiseInL", "browRaiseInR", "browRaiseOuterL", "browLateralL", "browDownL", "mouthCornerPullL",
    "mouthCornerPullR", "mouthCornerDepressR", "mouthLipsTogetherDL", "mouthLipsTogetherDR",
    "mouthLipsTogetherUL", "mouthLipsTogetherUR", "mouthUpperLipRollInL", "mouthUpperLipRollInR", "noseWrinkleR"
)


def test_arkit_names_are_the_52_in_live_link_order() -> None:
    rt = load_retarget("arkit")
    assert rt.names == tuple(ARKIT_ORDER)
    assert len(rt.names) == 52


def test_metahuman_has_every_curve_the_paper_names() -> None:
    rt = load_retarget("metahuman")
    assert all(n.startswith("CTRL_expressions_") for n in rt.names)
    missing = [c for c in PAPER_CURVES if "CTRL_expressions_" + c not in rt.names]
    assert missing == []
    # and each of them is actually driven by some AU
    for curve in PAPER_CURVES:
        j = rt.names.index("CTRL_expressions_" + curve)
        assert rt.matrix[j].max() > 0, curve


def test_paper_mapping_smile_and_brows() -> None:
    rt = load_retarget("arkit")
    out = rt.apply_dict({"AU06": 0.6, "AU12": 0.8, "AU01": 0.5})
    assert out["mouthSmileLeft"] == pytest.approx(0.8)
    assert out["mouthSmileRight"] == pytest.approx(0.8)
    assert out["cheekSquintLeft"] == pytest.approx(0.6)
    assert out["browInnerUp"] == pytest.approx(0.5)
    assert out["jawOpen"] == 0.0 and out["eyeBlinkLeft"] == 0.0


def test_laterality_one_sided_adds_to_its_side_only() -> None:
    for name, left, right in (("arkit", "mouthSmileLeft", "mouthSmileRight"),
                              ("metahuman", "CTRL_expressions_mouthCornerPullL", "CTRL_expressions_mouthCornerPullR")):
        rt = load_retarget(name)
        contempt = rt.apply_dict({"AU12R": 0.3})
        assert contempt[right] == pytest.approx(0.3) and contempt[left] == 0.0
        both = rt.apply_dict({"AU12": 0.5, "AU12R": 0.3})
        assert both[right] == pytest.approx(0.8) and both[left] == pytest.approx(0.5)
        # a midline target gets the mean of the sides
    arkit = load_retarget("arkit")
    assert arkit.apply_dict({"AU01L": 0.6})["browInnerUp"] == pytest.approx(0.3)


def test_parse_au_forms() -> None:
    assert parse_au("AU12R") == ("AU12", "R")
    assert parse_au("au1") == ("AU01", "")
    assert parse_au("AU45L") == ("AU45", "L")
    assert parse_au("mouthSmile") is None and parse_au("AU123") is None


def test_bound_equals_apply() -> None:
    rng = np.random.default_rng(1)
    channels = ("AU01", "AU02", "AU04", "AU12", "AU12R", "AU14R", "AU26", "AU45", "AU99")
    for name in ("arkit", "metahuman"):
        rt = load_retarget(name)
        bound = rt.bind(channels)
        for _ in range(20):
            v = rng.uniform(-0.5, 1.5, len(channels))
            expected = rt.apply(dict(zip(channels, v, strict=True)))
            np.testing.assert_allclose(bound(v), expected, atol=1e-12)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(
    st.one_of(st.sampled_from(["AU01", "AU12", "AU12R", "AU26", "AU27", "AU45L", "AU17", "AU25"]), st.text(max_size=6)),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5), st.none(), st.text(max_size=3)),
    max_size=12,
))
def test_hostile_input_stays_in_unit_range(aus: dict) -> None:
    for name in ("arkit", "metahuman"):
        out = load_retarget(name).apply(aus)
        assert out.shape == (len(load_retarget(name).names),)
        assert all(math.isfinite(x) and 0.0 <= x <= 1.0 for x in out)


def test_saturation_is_clamped() -> None:
    rt = load_retarget("arkit")
    out = rt.apply_dict({"AU26": 1.0, "AU27": 1.0})
    assert out["jawOpen"] == 1.0


def test_invalid_tables_are_rejected(tmp_path) -> None:
    good = yaml.safe_load((files("au_animation") / "data" / "retarget" / "arkit.yaml").read_text())
    bad_target = {**good, "map": {"AU01": {"source": "x", "targets": [{"midline": "noSuchShape", "weight": 1.0}]}}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad_target))
    with pytest.raises(ValidationError, match="noSuchShape"):
        load_table(str(path))
    both_kinds = {**good, "map": {"AU01": {"source": "x", "targets": [
        {"midline": "browInnerUp", "left": "browDownLeft", "right": "browDownRight", "weight": 1.0}]}}}
    path.write_text(yaml.safe_dump(both_kinds))
    with pytest.raises(ValidationError):
        load_table(str(path))
    short = {**good, "names": good["names"][:51]}
    short["map"] = {"AU01": good["map"]["AU01"]}
    path.write_text(yaml.safe_dump(short))
    with pytest.raises(ValueError, match="52"):
        load_table(str(path))
    with pytest.raises(ValueError, match="unknown retarget map"):
        load_table("blender")


def test_every_engine_channel_reaches_the_rigs() -> None:
    from au_animation.engine import load_tables

    channels = load_tables().channels()
    for name, unmapped in (("arkit", {"AU38"}), ("metahuman", set())):  # ARKit has no nostril-dilation shape
        rt = load_retarget(name)
        bound = rt.bind(channels)
        for j, channel in enumerate(channels):
            if channel in unmapped:
                continue
            one = np.zeros(len(channels))
            one[j] = 0.5
            assert bound(one).max() > 0.0, (name, channel)
