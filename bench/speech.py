"""Speech benchmark (JSON on stdout): ASR real-time factor, word error rate, end-of-speech -> final
Utterance latency and user_speaking edge errors, on espeak-ng speech made on the spot.

Multi-voice word error rate: 42 conversational sentences read by 7 espeak-ng voices and accents (6 each;
speeds 130-195 wpm, pitches 30-75), each clip cut from its true speech bounds with the pre/post roll a
VAD leaves (--rolls), decoded one by one; WER per voice and the mean over voices, per ASR setting
(--configs model:beam[:prompt][:fallback], e.g. tiny.en:1 is the old default, base:5:prompt = Whisper base,
beam 5, primed with PROMPT; fallback = Whisper's temperature fallback on garbled decodes).

Latency is measured as the node experiences it: the audio is fed in 32 ms chunks at real-time pace
(each chunk when its last sample would have been captured) through the same SpeechPipeline the
speech_recognizer node runs (VAD, endpointing, speculative Whisper in a worker thread); latency =
the wall time the final transcript is ready minus the wall time of the true end of speech (from the
waveform). ROS publishing adds well under 1 ms (a small message over Fast DDS: 0.3-0.4 ms median, measured here).

    nice .venv/bin/python bench/speech.py                      # settings of --configs, fit encoder context
    nice .venv/bin/python bench/speech.py --configs tiny.en:1,base:1 --contexts fit,full --no-voices
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

from semantic_affect.speech.asr import FALLBACK_TEMPERATURES, AsrConfig, WhisperAsr  # noqa: E402
from semantic_affect.speech.metrics import wer  # noqa: E402
from semantic_affect.speech.pipeline import SpeakingEdge, SpeechPipeline, Transcript  # noqa: E402
from speech_synth import RATE, conversation, speech_bounds, synth  # noqa: E402

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
# (espeak-ng voice, words per minute, pitch 0-99)
VOICES = (("en-us", 160, 50), ("en-us+f3", 175, 70), ("en-gb", 150, 45), ("en-gb-scotland", 170, 55),
          ("en-029", 140, 50), ("en-gb-x-rp", 195, 75), ("en-gb-x-gbcwmd", 130, 30))
VOICE_SENTENCES = [
    "The orange cat slept on the warm windowsill.", "Good morning, did you sleep well?",
    "I am not happy about any of this.", "Could you remind me to take my tablets at eight?",
    "What is the weather going to be like tomorrow?", "My daughter is getting married in June.",
    "I feel a bit lonely when everyone has gone home.", "Can you play some music from the seventies?",
    "That was the funniest thing I have heard all week.", "Please call my son and tell him I am fine.",
    "I lost my keys again, can you help me look?", "The doctor said I need to walk more.",
    "Wow, I did not expect to see you here.", "How many minutes until the bus arrives?",
    "I really enjoyed the soup you suggested.", "Turn the volume down a little, please.",
    "Where did I leave my reading glasses?", "Tell me a story about a brave little mouse.",
    "We went to the seaside for the weekend.", "I am worried about my exam on Monday.",
    "The neighbours have a new puppy called Biscuit.", "Is it going to rain this afternoon?",
    "I would like a cup of tea with milk.", "Thank you, you have been very helpful today.",
    "My favourite colour has always been green.", "Stop that right now, it is really annoying.",
    "Do you know any good jokes about penguins?", "The garden looks beautiful in the spring.",
    "Can you read me the news headlines?", "I think I left the oven on.",
    "My grandson is learning to play the violin.", "That smells absolutely disgusting.",
    "Let us practise my French vocabulary together.", "How do I get to the library from here?",
    "Set an alarm for half past six tomorrow.", "I miss the old days when we lived by the river.",
    "What time does the pharmacy close on Saturday?", "The film last night was far too long.",
    "Please speak a little more slowly.", "I am so proud of what you achieved.",
    "Who won the football match yesterday evening?", "It was lovely talking to you, goodbye.",
]
# Words of a robot's conversation the decoder can be primed with (--configs ...:prompt).
PROMPT = "Hello robot. How are you today? Can you help me, please? Thank you."


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


def voice_clips(pre_s: float, post_s: float) -> list[tuple[str, np.ndarray, str]]:
    """(voice label, clip, text) for VOICE_SENTENCES, sentence i read by VOICES[i % 7]; each clip cut
    at its true speech bounds minus `pre_s` / plus `post_s` (silence padded where needed)."""
    out = []
    for i, text in enumerate(VOICE_SENTENCES):
        voice, wpm, pitch = VOICES[i % len(VOICES)]
        pad = np.zeros(RATE, np.float32)
        clip = np.concatenate([pad, synth(text, speed=wpm, pitch=pitch, voice=voice), pad])
        s, e = speech_bounds(clip)
        out.append((f"{voice} {wpm}wpm p{pitch}", clip[int((s - pre_s) * RATE): int((e + post_s) * RATE)], text))
    return out


def per_voice_wer(clips: list[tuple[str, np.ndarray, str]], hyps: list[str]) -> dict[str, float]:
    """WER of each voice's clips, in the order the voices first appear."""
    return {label: round(wer([c[2] for c in clips if c[0] == label],
                             [h for c, h in zip(clips, hyps, strict=True) if c[0] == label]), 4)
            for label in dict.fromkeys(v for v, _, _ in clips)}


def mean_over_voices(clips: list[tuple[str, np.ndarray, str]], hyps: list[str]) -> float:
    return round(float(np.mean(list(per_voice_wer(clips, hyps).values()))), 4)


def pair_wer(specs: list[str], clips: list[tuple[str, np.ndarray, str]], language: str, threads: int) -> dict:
    """Two settings on the voice clips, and what combining them per utterance could give: the
    transcript with the higher mean token log-probability, and an oracle that takes the better one."""
    runs = [[WhisperAsr(parse_config(spec, language, threads, "fit")).transcribe(c) for _, c, _ in clips]
            for spec in specs]
    a, b = runs
    by_logprob = [x.text if x.avg_logprob >= y.avg_logprob else y.text for x, y in zip(a, b, strict=True)]
    oracle = [x.text if wer([c[2]], [x.text]) <= wer([c[2]], [y.text]) else y.text
              for x, y, c in zip(a, b, clips, strict=True)]
    return {"pair": specs, **{spec: mean_over_voices(clips, [r.text for r in run]) for spec, run in zip(specs, runs,
                                                                                                        strict=True)},
            "pick_higher_logprob": mean_over_voices(clips, by_logprob), "oracle": mean_over_voices(clips, oracle)}


def voices_wer(asr: WhisperAsr, clips: list[tuple[str, np.ndarray, str]]) -> dict:
    """WER per voice and its mean, corpus WER, and the worst transcripts."""
    hyps = [asr.transcribe(clip).text for _, clip, _ in clips]
    per_voice = per_voice_wer(clips, hyps)
    worst = sorted(range(len(clips)), key=lambda i: -wer([clips[i][2]], [hyps[i]]))[:3]
    return {"wer_mean_over_voices": round(float(np.mean(list(per_voice.values()))), 4),
            "wer_corpus": round(wer([c[2] for c in clips], hyps), 4), "wer_per_voice": per_voice,
            "worst": [{"ref": clips[i][2], "hyp": hyps[i]} for i in worst]}


def parse_config(spec: str, language: str, threads: int, context: str) -> AsrConfig:
    """'model:beam[:prompt][:fallback]' -> AsrConfig (fallback = Whisper's temperatures 0, 0.2 ... 1.0)."""
    parts = spec.split(":")
    return AsrConfig(model=parts[0], language=language, cpu_threads=threads, encoder_context=context,
                     beam_size=int(parts[1]) if len(parts) > 1 else 1,
                     initial_prompt=PROMPT if "prompt" in parts[2:] else "",
                     temperatures=FALLBACK_TEMPERATURES if "fallback" in parts[2:] else (0.0,))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default="tiny.en:1,tiny.en:5,tiny.en:5:prompt,base:1,base:5,base:5:prompt",
                    help="comma-separated model:beam[:prompt][:fallback] settings (model = name or path)")
    ap.add_argument("--contexts", default="fit", help="encoder contexts to compare (fit, full)")
    ap.add_argument("--rolls", default="0.2:0.15", help="pre:post roll (s) of the multi-voice clips, comma-separated")
    ap.add_argument("--realtime", default="tiny.en:1,base:5",
                    help="settings also run in real time for latency ('' = none; must be in --configs)")
    ap.add_argument("--no-voices", action="store_true", help="skip the multi-voice word error rates")
    ap.add_argument("--language", default="en")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pause", type=float, default=1.5, help="silence between utterances (s)")
    ap.add_argument("--wpm", type=int, default=135, help="espeak-ng speed; 135 gives utterances of about 3 s")
    ap.add_argument("--no-realtime", action="store_true", help="skip the real-time latency runs")
    ap.add_argument("--pair", default="", help="two settings 'A+B' (e.g. tiny.en:5:prompt+base:5): the voice WER "
                    "of picking either per utterance (by log-probability, and an oracle); '' = none")
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
                     "cpu_threads": args.threads, "prompt": PROMPT},
        "voices": {"set": [f"{v} {w}wpm p{p}" for v, w, p in VOICES], "sentences": len(VOICE_SENTENCES),
                   "rolls_s": args.rolls},
        "target": {"latency_median_ms": 700, "edge_error_ms": 300, "wer_mean_over_voices": 0.10},
        "results": [],
    }
    rolls = [tuple(float(v) for v in r.split(":")) for r in args.rolls.split(",") if r]
    voice_sets = {} if args.no_voices else {f"{pre}:{post}": voice_clips(pre, post) for pre, post in rolls}
    realtime = {c for c in args.realtime.split(",") if c}
    for spec in [c for c in args.configs.split(",") if c]:
        for context in [c for c in args.contexts.split(",") if c]:
            asr = WhisperAsr(parse_config(spec, args.language, args.threads, context))
            model = spec.split(":")[0]
            row = {"config": spec, "model": model if "/" not in model else Path(model).name,
                   "beam_size": asr.config.beam_size, "prompt": bool(asr.config.initial_prompt),
                   "temperatures": list(asr.config.temperatures),
                   "encoder_context": context, "load_s": round(asr.load_s, 2)}
            row.update(offline_rtf(asr, clips, talk.texts))
            for roll, vclips in voice_sets.items():
                row[f"voices_roll_{roll}"] = voices_wer(asr, vclips)
            if not args.no_realtime and spec in realtime:
                row["realtime"] = realtime_run(asr, talk)
            out["results"].append(row)
            print(json.dumps(row), file=sys.stderr)
            del asr
    if args.pair:
        first = f"{rolls[0][0]}:{rolls[0][1]}" if rolls else "0.2:0.15"
        vclips = voice_sets.get(first) or voice_clips(*(float(v) for v in first.split(":")))
        out["pair"] = pair_wer(args.pair.split("+"), vclips, args.language, args.threads)
        print(json.dumps(out["pair"]), file=sys.stderr)
    out["machine"]["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
