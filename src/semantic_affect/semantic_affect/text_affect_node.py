"""ROS node `text_affect`: speech/utterance (final) -> affect/text (EmotionState) + affect/text_analysis.

A lifecycle node: parameters (`TextAffectConfig`) and diagnostics exist from construction,
on_configure loads the backends (offline model always, as the LLM's fallback; the LLM client when
the mode is llm), on_activate creates the interfaces. Changes of the LLM settings at run time take
effect from the next utterance. Analyses run in worker threads; results are posted back through a
queue drained by a timer, and a result is dropped when a newer utterance's result was already
published (a late LLM reply never overwrites a newer state).
"""

from __future__ import annotations

import json
import queue
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from avatar_common.config import ConfigError
from avatar_common.node_utils import ERROR, OK, WARN, Diagnostics, NodeConfig, emotion_to_msg, run_node
from avatar_msgs.msg import AffectAnalysis, EmotionState, Utterance
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from semantic_affect.text.analysis import Analysis
from semantic_affect.text.config import POLICY_FIELDS, TextAffectConfig, make_policy
from semantic_affect.text.llm import api_key, redact
from semantic_affect.text.offline import OfflineBackend
from semantic_affect.text.policy import AffectPolicy, LatestGate, resolve_mode


def _warn(logger: Any) -> Any:
    """logger.warning (Jazzy+) or logger.warn (Humble)."""
    return getattr(logger, "warning", None) or logger.warn


class TextAffectNode(LifecycleNode):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", "text_affect"), **kwargs)
        self._offline: OfflineBackend | None = None
        self._policy: AffectPolicy | None = None
        self._failure = ""  # why the last configure failed (ERROR diagnostic)
        self._gate = LatestGate()
        self._results: queue.Queue[tuple[int, Utterance, Analysis]] = queue.Queue()
        self._history: deque[str] = deque(maxlen=64)
        self._pool: ThreadPoolExecutor | None = None
        self._interfaces: list[Any] = []
        self._stats = {"received": 0, "published": 0, "dropped_stale": 0, "last_latency_ms": 0.0, "last_backend": ""}
        self.params = NodeConfig(self, TextAffectConfig, on_change=self._apply)
        self._diag = Diagnostics(self, self._check)

    def _log(self, level: str, message: str) -> None:
        """The pure core's log lines. One call site per severity: rclpy refuses a call site whose
        severity changes between calls."""
        logger, text = self.get_logger(), redact(message)
        if level == "error":
            logger.error(text)
        elif level == "warn":
            _warn(logger)(text)
        else:
            logger.info(text)

    def _apply(self, config: TextAffectConfig, names: set[str]) -> None:
        """Run-time parameter change: LLM settings get a new policy, used from the next utterance on
        (calls already running finish with the old one); context_turns is read per utterance."""
        if self._policy is None or not names & POLICY_FIELDS:
            return
        if self._offline is None and resolve_mode(config.backend, bool(api_key()),
                                                  config.base_url.strip() or None)[0] == "offline":
            raise ConfigError("backend: the offline model is not loaded (see the configure log); "
                              "keep the LLM or reconfigure")
        old = self._policy
        self._policy, why = make_policy(config, self._offline, self._log)
        old.close(cancel=False)
        self.get_logger().info(f"now {why}")

    # -- lifecycle -----------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        config = self.params.config
        try:
            self._offline = OfflineBackend.load(config.offline_model or None, threads=config.threads or None)
        except Exception as exc:  # missing files, broken model: say why
            reason = f"cannot load the offline model: {type(exc).__name__}: {exc}"
            if resolve_mode(config.backend, bool(api_key()), config.base_url.strip() or None)[0] == "offline":
                self._failure = reason
                self.get_logger().error(reason)
                return TransitionCallbackReturn.FAILURE
            _warn(self.get_logger())(f"{reason}; LLM failures will give neutral")
        self._failure = ""
        self._policy, why = make_policy(config, self._offline, self._log)
        self._pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="text_affect")
        self.get_logger().info(f"configured: {why}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._pub = self.create_publisher(EmotionState, "affect/text", 10)
        self._pub_analysis = self.create_publisher(AffectAnalysis, "affect/text_analysis", 10)
        self._sub = self.create_subscription(Utterance, "speech/utterance", self._on_utterance, 10)
        self._timer = self.create_timer(0.01, self._drain)
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
        self._diag.destroy()
        super().destroy_node()

    def _destroy_interfaces(self) -> None:
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
        turns = self.params.config.context_turns
        context = list(self._history)[-turns:] if turns else []
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

    @property
    def mode(self) -> str:
        """The backend answering now: llm | offline, or '' before configure."""
        return self._policy.mode if self._policy is not None else ""

    def _check(self) -> tuple[int, str, dict[str, Any]]:
        policy = self._policy
        breaker = policy.breaker.state if policy else "n/a"
        values = {"mode": self.mode, "breaker": breaker, **self._stats, **(policy.counts if policy else {})}
        if policy is not None and policy.llm is not None:
            values["structured_output"] = policy.llm.negotiation.mode
        if self._failure:
            return ERROR, self._failure, values
        if policy is None:
            return WARN, "not configured", values
        if self.mode == "llm" and breaker != "closed":
            return WARN, f"LLM circuit breaker {breaker}: offline results", values
        return OK, f"backend {self.mode}", values


def main(args: list[str] | None = None) -> None:
    run_node(TextAffectNode, args)


if __name__ == "__main__":
    main()
