#!/usr/bin/env python3
"""Fusion benchmark (prints one JSON object).

1. update_us: cost of one fused update in the pure core (ingest one estimate + fuse + publish
   decision), on a realistic mix: 30 fps face frames with noise, a text estimate every 50 updates.
2. engine: with the pure au_animation engine on a simulated 60 Hz clock (no scheduling), how many
   ticks after the one that applies a fused estimate the first reflecting frame comes (the
   structural part of the delay below).
3. delay: the delay from an affect/text message to the first face/action_units frame that
   reflects it (p50/p99), in one process and one executor like `avatar-stack`: the real
   emotion_fusion and expression_synthesizer nodes (60 Hz, dynamic, felt) and a bench node that
   publishes alternating happy / sad text estimates at random phases against the frame timer.
   A frame "reflects" a trial when one of the trial's AUs moved by more than --eps in the expected
   direction against the linear extrapolation of the two frames before the message (happy: AU06 and
   AU12 up or AU01/AU04/AU15 down; sad: the reverse). The synthesizer's life layer (blinks,
   micro-motion) is turned off so that every AU change is caused by the emotion. Also reported:
   affect/text -> affect/fused, the fusion callback's own time, and the delay to a visible change
   (--visible). Target: p99 under one 60 Hz frame (16.7 ms).

Usage: nice .venv/bin/python bench/fusion.py [--trials 20] [--spacing 2.2] [--updates 20000] [--no-ros]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from typing import Any

os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

FRAME_MS = 1000.0 / 60.0
RESPONSE = {  # label -> (AUs that rise, AUs that fall) when the face turns to it from the other one
    "happiness": (("AU06", "AU12"), ("AU01", "AU04", "AU15")),
    "sadness": (("AU01", "AU04", "AU15"), ("AU06", "AU12")),
}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[k]


def summary(values: list[float], digits: int = 3) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(pct(values, 50), digits), "p99": round(pct(values, 99), digits),
            "mean": round(statistics.fmean(values), digits), "max": round(max(values), digits)}


def departure(values: list[float], base: list[float], prev: list[float], k: int,
              up: list[int], down: list[int]) -> float:
    """How far the AUs in `up` rose (and those in `down` fell) against the straight-line extrapolation
    of the two frames before the message, k frames after the last of them."""
    def moved(j: int, sign: float) -> float:
        return sign * (values[j] - (base[j] + (base[j] - prev[j]) * k))

    return max([moved(j, 1.0) for j in up] + [moved(j, -1.0) for j in down])


# -- 1. pure core ------------------------------------------------------------------------------------
def bench_core(updates: int) -> dict[str, Any]:
    from avatar_common.emotion import sanitize
    from emotion_perception.fusion import EmotionFuser, PublishPolicy, default_params

    params = default_params()
    fuser = EmotionFuser(params)
    policy = PublishPolicy(params.change_threshold, params.publish_rate_hz)
    rng = random.Random(1)
    labels = ["neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger"]
    inputs = []
    for i in range(updates):
        t = 1.0 + i / 30.0
        if i % 50 == 0:
            w = [rng.random() for _ in range(3)]
            e, _ = sanitize(["happiness", "surprise", "sadness"], w, confidence=0.9, stamp=t, utterance_id=f"u{i}")
            inputs.append(("text", e, t))
        else:
            e, _ = sanitize(labels, [rng.random() for _ in labels], confidence=0.8, stamp=t)
            inputs.append(("face", e, t))
    times = []
    clock = time.perf_counter_ns
    for modality, emotion, t in inputs:
        start = clock()
        fuser.ingest(modality, emotion, t)
        fused = fuser.fuse(t).emotion
        if policy.decide(fused, t):
            policy.sent(fused, t)
        times.append((clock() - start) / 1000.0)
    return {"update_us": summary(times[100:], 2),
            "workload": "7-label face frames at 30 fps + a text estimate every 50 updates; ingest+fuse+decide"}


# -- 2. the engine alone, no scheduling -------------------------------------------------------------
def bench_engine_ticks(trials: int, spacing: float, eps: float, seed: int) -> dict[str, Any]:
    """Frames from the tick at which the synthesizer applies a fused estimate to the first frame that
    reflects it, with the pure engine on a simulated 60 Hz clock (the structural part of the delay)."""
    try:
        from au_animation.engine import Synthesizer
    except ImportError as exc:
        return {"skipped": f"au_animation engine not available: {exc}"}
    from avatar_common.emotion import sanitize
    from emotion_perception.fusion import EmotionFuser

    synth = Synthesizer(mode="dynamic", profile="felt", life=False, seed=seed)
    names = list(synth.channels)
    fuser = EmotionFuser()
    rng = random.Random(seed)
    frames: list[list[float]] = []
    ticks: list[int] = []
    next_trial, i, k, pending = 1.0, 0, 0, None
    while i <= trials or pending:
        t = k / 60.0
        if pending is None and i <= trials and t >= next_trial:
            label = "happiness" if i % 2 == 0 else "sadness"
            estimate, _ = sanitize([label], [0.9], confidence=0.9, stamp=t, utterance_id=f"b{i}")
            fuser.ingest("text", estimate, t)
            synth.set_emotion(fuser.fuse(t).emotion, t)  # applied at the tick, as the node does
            pending = (i, label, len(frames))
            next_trial, i = t + spacing + rng.uniform(0.0, FRAME_MS / 1000.0), i + 1
        frames.append(synth.step_array(t).tolist())
        if pending and len(frames) - pending[2] > 30:
            n, label, before = pending
            up, down = RESPONSE[label]
            idx_up, idx_down = [names.index(a) for a in up], [names.index(a) for a in down]
            prev, base = frames[before - 2], frames[before - 1]
            for j, values in enumerate(frames[before:]):
                if departure(values, base, prev, j + 1, idx_up, idx_down) > eps:
                    if n > 0:
                        ticks.append(j)
                    break
            pending = None
        k += 1
    return {"ticks_after_application": summary([float(x) for x in ticks], 2),
            "meaning": "0 = the frame of the tick that applies the estimate already moves; 1 = the next one"}


# -- 3. ROS delay ---------------------------------------------------------------------------------
def bench_delay(trials: int, spacing: float, eps: float, visible: float, seed: int) -> dict[str, Any]:
    try:
        from au_animation.expression_node import ExpressionSynthesizerNode
    except ImportError as exc:
        return {"skipped": f"expression synthesizer not available: {exc}"}
    import rclpy
    from avatar_msgs.msg import ActionUnits, EmotionState
    from emotion_perception.fusion_node import EmotionFusionNode
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    context = Context()
    rclpy.init(context=context)
    ns = "/bench"
    fusion = EmotionFusionNode(context=context, namespace=ns)
    synth = ExpressionSynthesizerNode(context=context, namespace=ns, parameter_overrides=[
        Parameter("rate_hz", value=60.0), Parameter("mode", value="dynamic"), Parameter("profile", value="felt"),
        Parameter("life", value=False)])
    bench = Node("fusion_bench", namespace=ns, context=context)
    executor = SingleThreadedExecutor(context=context)
    for node in (fusion, synth, bench):
        executor.add_node(node)
    frames: list[tuple[float, list[float]]] = []
    fused_at: dict[str, float] = {}
    names: list[str] = []

    def on_frame(msg: ActionUnits) -> None:
        if not names:
            names.extend(msg.names)
        frames.append((time.perf_counter(), list(msg.intensities)))

    def on_fused(msg: EmotionState) -> None:
        if msg.utterance_id and msg.utterance_id not in fused_at:
            fused_at[msg.utterance_id] = time.perf_counter()

    bench.create_subscription(ActionUnits, "face/action_units", on_frame, 100)
    bench.create_subscription(EmotionState, "affect/fused", on_fused, 100)
    text = bench.create_publisher(EmotionState, "affect/text", 10)

    def spin_until(deadline: float) -> None:
        while time.perf_counter() < deadline:
            executor.spin_once(timeout_sec=max(0.0, min(0.002, deadline - time.perf_counter())))

    rng = random.Random(seed)
    first_ms: list[float] = []
    visible_ms: list[float] = []
    fused_ms: list[float] = []
    callback_us: list[float] = []
    missed = 0
    try:
        end = time.perf_counter() + 10.0
        while (text.get_subscription_count() < 1 or len(frames) < 30) and time.perf_counter() < end:
            executor.spin_once(timeout_sec=0.01)
        if not frames:
            return {"skipped": "no face/action_units frame within 10 s"}
        for i in range(trials + 1):  # trial 0 only brings the face to happiness
            label = "happiness" if i % 2 == 0 else "sadness"
            spin_until(time.perf_counter() + spacing + rng.uniform(0.0, FRAME_MS / 1000.0))
            before = len(frames)
            msg = EmotionState(source="text", labels=[label], weights=[0.9], confidence=0.9,
                               utterance_id=f"bench-{i}")
            msg.header.stamp = fusion.get_clock().now().to_msg()
            t0 = time.perf_counter()
            text.publish(msg)
            spin_until(t0 + 0.3)
            if i == 0:
                continue
            callback_us.append(fusion._update_us)
            if f"bench-{i}" in fused_at:
                fused_ms.append((fused_at[f"bench-{i}"] - t0) * 1000.0)
            rises, falls = RESPONSE[label]
            idx_up = [names.index(a) for a in rises if a in names]
            idx_down = [names.index(a) for a in falls if a in names]
            (_, prev), (_, base) = frames[before - 2], frames[before - 1]
            first = seen = None
            for k, (t_recv, values) in enumerate(frames[before:], 1):
                if t_recv < t0:
                    continue
                deviation = departure(values, base, prev, k, idx_up, idx_down)
                if first is None and deviation > eps:
                    first = (t_recv - t0) * 1000.0
                if seen is None and deviation > visible:
                    seen = (t_recv - t0) * 1000.0
                    break
            if first is None:
                missed += 1
            else:
                first_ms.append(first)
            if seen is not None:
                visible_ms.append(seen)
    finally:
        for node in (bench, synth, fusion):
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown(context=context)
    return {
        "text_to_first_reflecting_frame_ms": summary(first_ms),
        "frames_p99": round(pct(first_ms, 99) / FRAME_MS, 2) if first_ms else None,
        "target_p99_ms": round(FRAME_MS, 2),
        "meets_target": bool(first_ms) and pct(first_ms, 99) < FRAME_MS,
        "trials_without_reflecting_frame": missed,
        f"text_to_visible_change_ms (>= {visible})": summary(visible_ms),
        "text_to_fused_ms": summary(fused_ms),
        "fusion_callback_us": summary(callback_us, 1),
        "setup": (f"one SingleThreadedExecutor: emotion_fusion + expression_synthesizer (60 Hz, dynamic, felt, "
                  f"life off) + bench node; {trials} trials alternating happiness/sadness 0.9, spacing "
                  f"{spacing} s + random phase; eps {eps}"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=20000, help="pure-core updates to time (default 20000)")
    parser.add_argument("--trials", type=int, default=20, help="text -> face trials (default 20)")
    parser.add_argument("--spacing", type=float, default=2.2,
                        help="seconds between trials, so the face settles (default 2.2)")
    parser.add_argument("--eps", type=float, default=1e-4, help="AU change that counts as reflecting (default 1e-4)")
    parser.add_argument("--visible", type=float, default=0.02,
                        help="AU change reported as visible (default 0.02, a tenth of a FACS step)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-ros", action="store_true", help="only the pure-core cost")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"bench": "fusion", "python": sys.version.split()[0],
                              "cpu_count": os.cpu_count(), "loadavg_1min": round(os.getloadavg()[0], 2)}
    result["core"] = bench_core(args.updates)
    result["engine"] = bench_engine_ticks(args.trials, args.spacing, args.eps, args.seed)
    if not args.no_ros:
        result["delay"] = bench_delay(args.trials, args.spacing, args.eps, args.visible, args.seed)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
