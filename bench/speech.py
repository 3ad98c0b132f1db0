"""Speech benchmark (JSON on stdout): ASR real-time factor, word error rate, end-of-speech -> final
Utterance latency and user_speaking edge errors, on espeak-ng speech made on the spot.

Latency is measured as the node experiences it: the audio is fed in 32 ms chunks at real-time pace
(each chunk when its last sample would have been captured) through the same SpeechPipeline the
speech_recognizer node runs (VAD, endpointing, speculative Whisper in a worker thread); latency =
the wall time the final transcript is ready minus the wall time of the true end of speech (from the
waveform). ROS publishing adds well under 1 ms (a small message over Fast DDS: 0.3-0.4 ms median, measured here).

    nice .venv/bin/python bench/speech.py                      # tiny.en, fit and full encoder context
    nice .venv/bin/python bench/speech.py --models tiny.en,/path/to/whisper-base --language en
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "semantic_affect"))  # speech_synth: espeak-ng test speech

from semantic_affect.speech.asr import AsrConfig, WhisperAsr  # noqa: E402
from semantic_affect.speech.metrics import wer  # noqa: E402
from semantic_affect.speech.pipeline import SpeakingEdge, SpeechPipeline, Transcript  # noqa: E402
from speech_synth import RATE, conversation  # noqa: E402

SENTENCES = [
    "Hello there, how are you doing today?",
    "Can you tell me the way to the train station?",
    "Please turn off the lights when you leave the room.",
    "I am really happy to see you again after all this time.",
    "My brother is coming to visit us next weekend.",
    "We should meet again on Friday morning.",
    "The children played in the garden all afternoon.",
    "Could you send me the report before lunch tomorrow?",
]
CHUNK = 512


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values else float("nan")


def realtime_run(asr: WhisperAsr, talk) -> dict:
    """Feed the conversation at real-time pace; collect finals and edges with wall times."""
    pipeline = SpeechPipeline(asr)
    events: list = []
    t0 = time.monotonic()
    try:
        for i in range(0, talk.audio.size, CHUNK):
            due = t0 + (i + CHUNK) / RATE
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pipeline.feed(talk.audio[i:i + CHUNK, None], RATE, i / RATE)
            events += pipeline.poll()
            while pipeline.in_utterance is False and not pipeline.worker.idle and delay > 0.004:
                # between utterances: poll finished results promptly (the node is woken instead)
                time.sleep(0.002)
                events += pipeline.poll()
                delay = due + CHUNK / RATE - time.monotonic() - 0.002
        pipeline.flush()
        pipeline.wait_idle(60)
        events += pipeline.poll()
    finally:
        pipeline.close()
    finals = [e for e in events if isinstance(e, Transcript) and e.final]
    edges = [e for e in events if isinstance(e, SpeakingEdge)]
    latency, endpoint, start_err, end_err = [], [], [], []
    for f, (_, end) in zip(finals, talk.bounds, strict=False):
        latency.append((f.wall - (t0 + end)) * 1000.0)
        endpoint.append((f.decided_at - end) * 1000.0)
    for start, end in talk.bounds:
        on = [e.time - start for e in edges if e.speaking and -0.05 <= e.time - start <= 1.0]
        off = [e.time - end for e in edges if not e.speaking and -0.05 <= e.time - end <= 1.0]
        start_err.append(on[0] * 1000.0 if on else float("nan"))
        end_err.append(off[-1] * 1000.0 if off else float("nan"))
    return {
        "utterances_found": len(finals),
        "wer": round(wer(talk.texts, [f.text for f in finals]), 4) if len(finals) == len(talk.texts) else None,
        "latency_ms": {"median": pct(latency, 50), "p95": pct(latency, 95), "max": pct(latency, 100),
                       "values": [round(v) for v in latency]},
        "endpoint_decision_ms_median": pct(endpoint, 50),
        "edge_error_ms": {"start_median": pct(start_err, 50), "start_max": pct(start_err, 100),
                          "end_median": pct(end_err, 50), "end_max": pct(end_err, 100)},
    }


def offline_rtf(asr: WhisperAsr, clips: list[np.ndarray], texts: list[str]) -> dict:
    asr.transcribe(clips[0])  # warm-up
    times, rtf, hyps = [], [], []
    for clip in clips:
        r = asr.transcribe(clip)
        times.append(r.compute_s)
        rtf.append(r.compute_s / (clip.size / RATE))
        hyps.append(r.text)
    return {"asr_s_median": pct(times, 50), "asr_s_p95": pct(times, 95),
            "rtf_median": pct(rtf, 50), "rtf_p95": pct(rtf, 95), "wer": round(wer(texts, hyps), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="tiny.en", help="comma-separated model names or paths")
    ap.add_argument("--contexts", default="fit,full", help="encoder contexts to compare")
    ap.add_argument("--language", default="en")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pause", type=float, default=1.5, help="silence between utterances (s)")
    ap.add_argument("--wpm", type=int, default=135, help="espeak-ng speed; 135 gives utterances of about 3 s")
    ap.add_argument("--no-realtime", action="store_true", help="skip the real-time latency runs")
    args = ap.parse_args()

    talk = conversation(SENTENCES, pause_s=args.pause, lead_s=1.0, tail_s=1.5, speed=args.wpm)
    clips = [talk.audio[int((s - 0.2) * RATE): int((e + 0.15) * RATE)] for s, e in talk.bounds]
    durations = [e - s for s, e in talk.bounds]
    out: dict = {
        "machine": {"cpus": os.cpu_count(), "loadavg_start": [round(v, 2) for v in os.getloadavg()]},
        "corpus": {"utterances": len(SENTENCES), "tts": f"espeak-ng en-us, {args.wpm} wpm",
                   "speech_s_mean": round(float(np.mean(durations)), 2),
                   "speech_s_range": [round(min(durations), 2), round(max(durations), 2)]},
        "settings": {"silence_ms": 500, "hangover_ms": 160, "chunk_ms": 32, "compute_type": "int8",
                     "cpu_threads": args.threads, "beam_size": 1},
        "target": {"latency_median_ms": 700, "edge_error_ms": 300},
        "results": [],
    }
    for model in [m for m in args.models.split(",") if m]:
        for context in [c for c in args.contexts.split(",") if c]:
            cfg = AsrConfig(model=model, language=args.language, cpu_threads=args.threads, encoder_context=context)
            asr = WhisperAsr(cfg)
            row = {"model": model if "/" not in model else Path(model).name, "encoder_context": context,
                   "load_s": round(asr.load_s, 2)}
            row.update(offline_rtf(asr, clips, talk.texts))
            if not args.no_realtime:
                row["realtime"] = realtime_run(asr, talk)
            out["results"].append(row)
            print(json.dumps(row), file=sys.stderr)
            del asr
    out["machine"]["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
