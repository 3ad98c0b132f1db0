"""ROS node `text_affect`: speech/utterance (final) -> affect/text (EmotionState) + affect/text_analysis.

A lifecycle node: on_configure loads the backends (offline model always, as the LLM's fallback;
the LLM client when the mode is llm), on_activate creates the interfaces. Analyses run in worker
threads; results are posted back through a queue drained by a timer, and a result is dropped when a
newer utterance's result was already published (a late LLM reply never overwrites a newer state).
"""

from __future__ import annotations

import json
import queue
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from avatar_common.node_utils import OK, WARN, Diagnostics, declare, emotion_to_msg, run_node
from avatar_msgs.msg import AffectAnalysis, EmotionState, Utterance
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from semantic_affect.text.analysis import Analysis
from semantic_affect.text.llm import LlmBackend, api_key, redact
from semantic_affect.text.policy import MODES, AffectPolicy, CircuitBreaker, LatestGate, resolve_mode


def _warn(logger: Any) -> Any:
    """logger.warning (Jazzy+) or logger.warn (Humble)."""
    return getattr(logger, "warning", None) or logger.warn


class TextAffectNode(LifecycleNode):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", "text_affect"), **kwargs)
        self._p: dict[str, Any] = {}
        for name, default, desc in (
            ("backend", "auto", "auto (llm if OPENAI_API_KEY or base_url is set, else offline) | llm | offline"),
            ("model", "gpt-4o-mini", "LLM model name sent to the OpenAI-compatible server"),
            ("base_url", "", "OpenAI-compatible base URL (e.g. http://127.0.0.1:11434/v1 for Ollama); '' = OpenAI"),
            ("timeout_s", 4.0, "Budget per utterance for the LLM (s); after it the offline result is used"),
            ("max_retries", 1, "Client retries on connection errors, 429 and 5xx within the budget"),
            ("temperature", 0.0, "LLM sampling temperature"),
            ("structured_output", True, "Send a JSON schema (response_format json_schema); off for servers without"),
            ("context_turns", 3, "How many earlier final utterances go into the LLM prompt as context"),
            ("offline_model", "", "Stem of an offline head (.npz/.json); '' = the model shipped in the package"),
            ("breaker_failures", 3, "Consecutive LLM failures that open the circuit breaker"),
            ("breaker_cooldown_s", 30.0, "Seconds the open breaker sends everything offline before one trial"),
            ("workers", 2, "Concurrent analyses (a slow LLM reply does not hold back the next utterance)"),
            ("threads", 0, "torch CPU threads (process-wide) for the offline encoder; 0 = leave torch's setting"),
        ):
            self._p[name] = declare(self, name, default, desc)
        self._policy: AffectPolicy | None = None
        self._mode = "offline"
        self._gate = LatestGate()
        self._results: queue.Queue[tuple[int, Utterance, Analysis]] = queue.Queue()
        self._history: deque[str] = deque(maxlen=64)
        self._pool: ThreadPoolExecutor | None = None
        self._interfaces: list[Any] = []
        self._diag: Diagnostics | None = None
        self._stats = {"received": 0, "published": 0, "dropped_stale": 0, "last_latency_ms": 0.0, "last_backend": ""}
        self._lock = threading.Lock()

    # -- parameters ----------------------------------------------------------------------------
    def _param(self, name: str, kind: type, default: Any, ok: Any = lambda v: True) -> Any:
        value = self._p[name]
        try:
            cast = kind(value)
            if kind is bool and not isinstance(value, bool):
                raise ValueError(value)
            if not ok(cast):
                raise ValueError(value)
            return cast
        except (TypeError, ValueError):
            _warn(self.get_logger())(f"parameter {name}={redact(value)!r} is invalid, using {default!r}")
            return default

    def _log(self, level: str, message: str) -> None:
        logger = self.get_logger()
        {"info": logger.info, "warn": _warn(logger), "error": logger.error}.get(level, logger.info)(redact(message))

    # -- lifecycle -----------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        requested = str(self._p["backend"])
        if requested not in MODES:
            _warn(self.get_logger())(f"parameter backend={requested!r} is not one of {MODES}, using auto")
            requested = "auto"
        base_url = str(self._p["base_url"] or "").strip() or None
        mode, why = resolve_mode(requested, bool(api_key()), base_url)
        timeout_s = self._param("timeout_s", float, 4.0, lambda v: 0.05 <= v <= 120)
        retries = self._param("max_retries", int, 1, lambda v: 0 <= v <= 10)
        offline = None
        try:
            from semantic_affect.text.offline import OfflineBackend

            offline = OfflineBackend.load(self._p["offline_model"] or None,
                                          threads=self._param("threads", int, 0, lambda v: 0 <= v <= 64) or None)
        except Exception as exc:  # missing files, broken model: say why
            if mode == "offline":
                self.get_logger().error(f"cannot load the offline model: {type(exc).__name__}: {exc}")
                return TransitionCallbackReturn.FAILURE
            _warn(self.get_logger())(f"offline model not loaded ({type(exc).__name__}: {exc}); "
                                   "LLM failures will give neutral")
        llm = None
        if mode == "llm":
            try:
                llm = LlmBackend(model=str(self._p["model"]), base_url=base_url, timeout_s=timeout_s,
                                 max_retries=retries, temperature=self._param("temperature", float, 0.0,
                                                                              lambda v: 0 <= v <= 2),
                                 structured=self._param("structured_output", bool, True))
            except Exception as exc:
                self.get_logger().error(f"cannot create the LLM client: {redact(exc)}; using offline")
                mode = "offline"
        if mode == "llm" and not api_key() and not base_url:
            _warn(self.get_logger())("backend llm with no OPENAI_API_KEY and no base_url: OpenAI will refuse the "
                                     "calls, every utterance will get the offline result")
        breaker = CircuitBreaker(self._param("breaker_failures", int, 3, lambda v: v >= 1),
                                 self._param("breaker_cooldown_s", float, 30.0, lambda v: v >= 0))
        self._policy = AffectPolicy(mode, llm, offline, timeout_s=timeout_s, breaker=breaker, log=self._log)
        self._mode = mode
        self._context_turns = self._param("context_turns", int, 3, lambda v: 0 <= v <= 50)
        self._pool = ThreadPoolExecutor(max_workers=self._param("workers", int, 2, lambda v: 1 <= v <= 16),
                                        thread_name_prefix="text_affect")
        detail = llm.describe() if llm else f"offline model {offline.model if offline else 'none'}"
        self.get_logger().info(f"configured: backend {mode} ({why}); {detail}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._pub = self.create_publisher(EmotionState, "affect/text", 10)
        self._pub_analysis = self.create_publisher(AffectAnalysis, "affect/text_analysis", 10)
        self._sub = self.create_subscription(Utterance, "speech/utterance", self._on_utterance, 10)
        self._timer = self.create_timer(0.01, self._drain)
        self._diag = Diagnostics(self, self._check)
        self._interfaces = [self._pub, self._pub_analysis, self._sub, self._timer]
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._destroy_interfaces()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._destroy_interfaces()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        self._release()
        super().destroy_node()

    def _destroy_interfaces(self) -> None:
        if self._diag is not None:
            self._diag.destroy()
            self._diag = None
        if self._interfaces:
            pub, pub_analysis, sub, timer = self._interfaces
            self.destroy_timer(timer)
            self.destroy_subscription(sub)
            self.destroy_publisher(pub_analysis)
            self.destroy_publisher(pub)
        self._interfaces = []

    def _release(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._policy is not None:
            self._policy.close()
            self._policy = None

    # -- data flow -----------------------------------------------------------------------------
    def _on_utterance(self, msg: Utterance) -> None:
        if not msg.final or not msg.text.strip() or self._pool is None:
            return
        ticket = self._gate.issue()
        context = list(self._history)[-self._context_turns:] if self._context_turns else []
        self._history.append(msg.text)
        self._stats["received"] += 1
        self._pool.submit(self._work, ticket, msg, context)

    def _work(self, ticket: int, msg: Utterance, context: list[str]) -> None:
        policy = self._policy
        if policy is None:
            return
        try:
            analysis = policy.analyze(msg.text, context, tag=msg.id)
        except Exception as exc:  # the policy never raises for backend failures; this is a bug guard
            self.get_logger().error(f"analysis of {msg.id!r} failed: {type(exc).__name__}: {redact(exc)}")
            return
        self._results.put((ticket, msg, analysis))

    def _drain(self) -> None:
        while True:
            try:
                ticket, msg, analysis = self._results.get_nowait()
            except queue.Empty:
                return
            if not self._gate.try_publish(ticket):
                self._stats["dropped_stale"] += 1
                self.get_logger().info(f"result for utterance {msg.id!r} ({analysis.backend}) dropped: "
                                       "a newer utterance was already analysed")
                continue
            self._publish(msg, analysis)

    def _publish(self, msg: Utterance, analysis: Analysis) -> None:
        stamp = msg.header.stamp
        if stamp.sec == 0 and stamp.nanosec == 0:
            stamp = self.get_clock().now().to_msg()
        emotion = analysis.emotion
        state = emotion_to_msg(emotion, stamp, source="text")
        state.utterance_id = msg.id
        self._pub.publish(state)
        out = AffectAnalysis(utterance_id=msg.id, text=msg.text, backend=analysis.backend, model=analysis.model,
                             rationale=redact(analysis.rationale), latency_ms=float(analysis.latency_ms),
                             result_json=redact(json.dumps({**analysis.result_dict(),
                                                            "problems": analysis.problems[:5]})))
        out.header.stamp = self.get_clock().now().to_msg()
        self._pub_analysis.publish(out)
        self._stats.update(published=self._stats["published"] + 1, last_latency_ms=round(analysis.latency_ms, 1),
                           last_backend=analysis.backend)

    def _check(self) -> tuple[int, str, dict[str, Any]]:
        policy = self._policy
        breaker = policy.breaker.state if policy else "n/a"
        values = {"mode": self._mode, "breaker": breaker, **self._stats, **(policy.counts if policy else {})}
        if policy is None:
            return WARN, "not configured", values
        if self._mode == "llm" and breaker != "closed":
            return WARN, f"LLM circuit breaker {breaker}: offline results", values
        return OK, f"backend {self._mode}", values


def main(args: list[str] | None = None) -> None:
    run_node(TextAffectNode, args)


if __name__ == "__main__":
    main()
