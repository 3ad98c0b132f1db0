"""The speech pipeline on speech synthesised here with espeak-ng: utterance boundaries, transcripts
(word error rate), user_speaking edges, and the robustness cases of issue 5 (silence only,
clipping, 44.1 kHz stereo, very long speech). One tiny.en model is shared by the module."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.signal import resample_poly
from semantic_affect.speech.asr import AsrConfig, WhisperAsr
from semantic_affect.speech.metrics import wer
from semantic_affect.speech.pipeline import PipelineConfig, SpeakingEdge, SpeechPipeline, Transcript
from semantic_affect.speech.vad import EndpointConfig
from speech_synth import RATE, SENTENCES, Conversation, conversation

WER_MAX = 0.15  # tiny.en on espeak-ng speech; measured 0.00-0.06 on these sentences
EDGE_TOL = 0.30  # s, issue 5
BOUND_TOL = 0.20  # s, utterance start/end vs the waveform's own boundaries


@pytest.fixture(scope="module")
def asr() -> WhisperAsr:
    return WhisperAsr(AsrConfig())


@pytest.fixture(scope="module")
def talk() -> Conversation:
    return conversation()


def run(asr: WhisperAsr, audio: np.ndarray, rate: int = RATE, chunk: int = 512,
        config: PipelineConfig | None = None) -> tuple[list[SpeakingEdge], list[Transcript], SpeechPipeline]:
    """Feed `audio` ((frames,) or (frames, channels)) in chunks with stamps; return edges and finals."""
    p = SpeechPipeline(asr, config)
    frames = audio if audio.ndim == 2 else audio[:, None]
    events, peak = [], 0.0
    try:
        for i in range(0, frames.shape[0], chunk):
            p.feed(frames[i:i + chunk], rate, i / rate)
            peak = max(peak, p.buffered_seconds)
            events += p.poll()
        p.flush()
        assert p.wait_idle(60)
        events += p.poll()
    finally:
        p.close()
    p.peak_buffer = peak  # type: ignore[attr-defined]
    edges = [e for e in events if isinstance(e, SpeakingEdge)]
    finals = [e for e in events if isinstance(e, Transcript) and e.final]
    return edges, finals, p


def check_edges(edges: list[SpeakingEdge], bounds: list[tuple[float, float]], silence_s: float) -> list[float]:
    """Edges belong to sentences: the first is True within EDGE_TOL of the start, the last False
    within EDGE_TOL of the end, none in the pauses; a drop inside a sentence is shorter than the
    endpoint silence. Returns the edge errors (s)."""
    errors = []
    assert [e.speaking for e in edges][::2] == [True] * ((len(edges) + 1) // 2), "edges must alternate"
    for start, end in bounds:
        mine = [e for e in edges if start - 0.05 <= e.time <= end + EDGE_TOL + 0.05]
        assert mine and mine[0].speaking and not mine[-1].speaking, f"no edge pair for speech {start:.2f}-{end:.2f}"
        errors += [mine[0].time - start, mine[-1].time - end]
        assert 0.0 <= mine[0].time - start <= EDGE_TOL, (mine[0].time, start)
        assert 0.0 <= mine[-1].time - end <= EDGE_TOL, (mine[-1].time, end)
        for off, on in zip(mine[1:-1:2], mine[2:-1:2], strict=True):
            assert on.time - off.time < silence_s
    inside = sum(1 for e in edges for s, t in bounds if s - 0.05 <= e.time <= t + EDGE_TOL + 0.05)
    assert inside == len(edges), "user_speaking edge in a pause"
    return errors


def test_conversation_boundaries_transcripts_edges(asr: WhisperAsr, talk: Conversation) -> None:
    edges, finals, _ = run(asr, talk.audio)
    assert [f.id for f in finals] == [f"asr-{i}" for i in range(1, len(talk.texts) + 1)]
    for f, (start, end) in zip(finals, talk.bounds, strict=True):
        assert abs(f.start - start) <= BOUND_TOL and abs(f.end - end) <= BOUND_TOL, (f, start, end)
        assert f.language == "en" and 0.0 < f.confidence <= 1.0
        # the endpoint is decided silence_ms after the speech end (window granularity)
        assert 0.45 <= f.decided_at - end <= 0.65
        assert f.voice is not None and -1 <= f.voice.arousal <= 1 and f.voice.confidence <= 0.35
    assert wer(talk.texts, [f.text for f in finals]) <= WER_MAX, [f.text for f in finals]
    errors = check_edges(edges, talk.bounds, EndpointConfig().silence_ms / 1000)
    assert max(errors) <= EDGE_TOL


def test_silence_and_noise_only_give_nothing(asr: WhisperAsr) -> None:
    rng = np.random.default_rng(1)
    audio = np.concatenate([np.zeros(RATE * 3), 0.003 * rng.standard_normal(RATE * 3)]).astype(np.float32)
    edges, finals, _ = run(asr, audio)
    assert edges == [] and finals == []


def test_clipped_speech(asr: WhisperAsr, talk: Conversation) -> None:
    clipped = np.clip(talk.audio * 8.0, -1.0, 1.0)
    assert np.mean(np.abs(clipped) >= 0.999) > 0.05
    _, finals, p = run(asr, clipped)
    assert len(finals) == len(talk.texts)
    assert wer(talk.texts, [f.text for f in finals]) <= 0.25, [f.text for f in finals]
    assert p.clipped_fraction > 0.02


def test_44k_stereo_in_odd_chunks(asr: WhisperAsr, talk: Conversation) -> None:
    x = resample_poly(talk.audio, 441, 160).astype(np.float32)
    stereo = np.stack([x, 0.6 * x], axis=1)
    edges, finals, _ = run(asr, stereo, rate=44100, chunk=1000)
    assert len(finals) == len(talk.texts)
    assert wer(talk.texts, [f.text for f in finals]) <= WER_MAX, [f.text for f in finals]
    check_edges(edges, talk.bounds, EndpointConfig().silence_ms / 1000)


def test_very_long_speech_is_split_with_bounded_memory(asr: WhisperAsr) -> None:
    texts = SENTENCES + SENTENCES[:2]
    long = conversation(texts, pause_s=0.05, lead_s=0.3, tail_s=1.0)
    assert long.duration > 12
    cfg = PipelineConfig(endpoint=EndpointConfig(max_utterance_s=5.0))
    edges, finals, p = run(asr, long.audio, config=cfg)
    assert len(finals) >= 3
    assert all(f.end - f.start <= 5.0 + 1e-6 for f in finals)
    assert p.peak_buffer <= 5.0 + 0.5  # max_utterance_s + pre-roll
    # one stretch of speech: the parts are contiguous and user_speaking never drops for silence_ms
    assert all(abs(b.start - a.end) < 1e-6 for a, b in itertools.pairwise(finals))
    check_edges(edges, [(long.bounds[0][0], long.bounds[-1][1])], EndpointConfig().silence_ms / 1000)
    heard = " ".join(f.text for f in finals)
    assert wer([" ".join(texts)], [heard]) <= 0.30, heard  # words cut at the splits are lost


def test_partials_share_the_final_id(asr: WhisperAsr) -> None:
    one = conversation(["We should meet again on Friday morning after the meeting with the director of the museum."])
    cfg = PipelineConfig(partials=True, partial_interval_s=0.5)
    p = SpeechPipeline(asr, cfg)
    events = []
    try:
        for i in range(0, one.audio.size, 512):  # paced a little so the worker can produce partials
            p.feed(one.audio[i:i + 512, None], RATE, i / RATE)
            if i % (RATE // 4) < 512:
                p.wait_idle(5)
            events += p.poll()
        p.flush()
        p.wait_idle(30)
        events += p.poll()
    finally:
        p.close()
    transcripts = [e for e in events if isinstance(e, Transcript)]
    partials = [t for t in transcripts if not t.final]
    finals = [t for t in transcripts if t.final]
    assert len(finals) == 1 and len(partials) >= 1
    assert {t.id for t in partials} == {finals[0].id}
    assert transcripts[-1].final
    assert wer(one.texts, [finals[0].text]) <= WER_MAX, finals[0].text
