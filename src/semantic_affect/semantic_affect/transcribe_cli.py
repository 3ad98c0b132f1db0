"""avatar-transcribe FILE: utterances of an audio file as JSONL (times, text, voice affect).

The file is read block by block (bounded memory) through the same pipeline as the speech_recognizer
node: downmix, resampling to 16 kHz, Silero VAD, endpointing, Whisper, prosody. Times are seconds
from the start of the file.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from semantic_affect.speech.asr import BUNDLED, AsrConfig, WhisperAsr
from semantic_affect.speech.audio import AudioFormatError, iter_blocks, probe
from semantic_affect.speech.pipeline import PipelineConfig, SpeechPipeline, Transcript
from semantic_affect.speech.vad import EndpointConfig


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="avatar-transcribe", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("file", help="audio file (WAV, FLAC, OGG, ... anything libsndfile reads)")
    p.add_argument("--model", default=BUNDLED, help="faster-whisper model name or path (tiny.en is bundled, offline)")
    p.add_argument("--language", default="", help="language code; '' = English for .en models, else detect")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--compute-type", default="int8", help="CTranslate2 compute type")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for Whisper")
    p.add_argument("--beam-size", type=int, default=1, help="beam size (1 = greedy)")
    p.add_argument("--encoder-context", choices=("fit", "full"), default="fit",
                   help="fit: encode only the utterance; full: Whisper's 30 s window")
    p.add_argument("--silence-ms", type=float, default=EndpointConfig.silence_ms, help="silence that ends an utterance")
    p.add_argument("--max-utterance-s", type=float, default=EndpointConfig.max_utterance_s,
                   help="longer speech is split")
    p.add_argument("--no-prosody", action="store_true", help="leave out the voice affect")
    p.add_argument("-o", "--output", default="-", help="output file ('-' = stdout)")
    return p


def record(t: Transcript, prosody: bool) -> dict:
    out: dict = {"id": t.id, "start": round(t.start, 3), "end": round(t.end, 3), "text": t.text,
                 "language": t.language, "confidence": round(float(t.confidence), 3)}
    if prosody:
        out["voice"] = None if t.voice is None else {
            "arousal": round(t.voice.arousal, 3), "valence": round(t.voice.valence, 3),
            "confidence": round(t.voice.confidence, 3), "cues": t.voice.cues,
            "features": t.prosody.as_dict() if t.prosody is not None else None,
        }
    return out


def transcribe(path: str, args: argparse.Namespace, out: TextIO) -> int:
    info = probe(path)
    asr = WhisperAsr(AsrConfig(model=args.model, language=args.language, device=args.device,
                               compute_type=args.compute_type, cpu_threads=args.threads,
                               beam_size=args.beam_size, encoder_context=args.encoder_context))
    endpoint = EndpointConfig(silence_ms=args.silence_ms, max_utterance_s=args.max_utterance_s)
    pipeline = SpeechPipeline(asr, PipelineConfig(endpoint=endpoint))
    for problem in pipeline.config_problems:
        print(f"warning: {problem}", file=sys.stderr)
    count = 0

    def emit() -> None:
        nonlocal count
        for event in pipeline.poll():
            if isinstance(event, Transcript) and event.final and event.text:
                out.write(json.dumps(record(event, not args.no_prosody), ensure_ascii=False) + "\n")
                out.flush()
                count += 1

    block = max(1, info.sample_rate // 2)
    frames = 0
    try:
        for chunk in iter_blocks(path, block):
            pipeline.feed(chunk, info.sample_rate, frames / info.sample_rate)
            frames += chunk.shape[0]
            if not pipeline.worker.idle:
                pipeline.wait_idle(600)  # no queue of utterances piling up: bounded memory
            emit()
        pipeline.flush()
        pipeline.wait_idle(600)
        emit()
    finally:
        pipeline.close()
    return count


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        print(f"avatar-transcribe: cannot write {args.output}: {exc}", file=sys.stderr)
        return 2
    try:
        transcribe(args.file, args, out)
    except AudioFormatError as exc:
        print(f"avatar-transcribe: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # model loading (unknown name offline) and the like: one line, no traceback
        print(f"avatar-transcribe: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
