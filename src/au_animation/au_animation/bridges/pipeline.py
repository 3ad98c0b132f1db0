"""BridgeSet: one frame in -> retarget -> every enabled target out. Shared by node and CLI.

The same `BridgeConfig` fields are the CLI options (`--osc-rate-hz`) and the node parameters
(`osc_rate_hz`), so both run the same pipeline with the same options:

    push(frame)  retargets once per curve set, sends OSC and Live Link (rate-limited), and sets the
                 servo target;
    flush()      sends a frame the rate limit held back, once allowed (the last pose always arrives);
    tick()       advances the servo safety layer one step (fixed rate, also when input is silent)
                 and writes the Maestro and the joint trajectory sink;
    close()      ramps the servos to neutral, slew-limited, and closes everything.

Frames that carry head and eye angles (`head_yaw` ... `eye_pitch`, degrees) also drive the eyeLook*
curves (ARKit, MetaHuman), Live Link Face's rotation slots (radians), OSC addresses prefix + head_yaw ...
(degrees) and servo channels whose inputs name them (retarget/head_gaze.yaml, servo maps).

No method raises on I/O problems: targets count errors and retry with backoff (see health.py).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from au_animation.bridges import livelink as ll
from au_animation.bridges import maestro as mae
from au_animation.bridges import osc as oscw
from au_animation.bridges.frames import Frame
from au_animation.bridges.health import TargetHealth
from au_animation.bridges.servo import ServoSafety, load_servo_map
from au_animation.bridges.udp import UdpSender, parse_endpoint
from au_animation.retarget import HEAD_GAZE_NAMES, head_gaze_pose, load_head_gaze
from avatar_common.config import param, problems

LOG = logging.getLogger(__name__)
CURVE_SETS = ("metahuman", "arkit")
OFF_VALUES = ("", "off", "none")

TrajectorySink = Callable[[list[str], list[float], float], None]
ServoSink = Callable[[float, np.ndarray], None]


def enabled(endpoint: str) -> bool:
    """'' and 'off' (what a launch argument can spell: `osc:=off`) both mean "no such output"."""
    return endpoint.strip().lower() not in OFF_VALUES


@dataclass
class BridgeConfig:
    """Options of the face bridge; every field is a CLI flag and a node parameter of the same name.

    Targets, ports and the servo layer are start-only; rate limits and the OSC curve set, mode and
    prefix can change while running (`retune`).
    """

    osc: str = param("", "OSC target HOST:PORT (Unreal OSC server); '' or 'off' = off", start_only=True)
    livelink: str = param("", "Live Link Face target HOST:PORT (Unreal, default port 11111); '' or 'off' = off",
                          start_only=True)
    maestro: str = param("", "Pololu Maestro command port (e.g. /dev/ttyACM0); '' or 'off' = off", start_only=True)
    servo_map: str = param("", "servo map YAML file or packaged map name ('' = simple_head)", start_only=True)
    curves: str = param("metahuman", "curve set sent over OSC", choices=CURVE_SETS)
    joint_trajectory: bool = param(False, "publish trajectory_msgs/JointTrajectory of the safe servo pose (node)",
                                   start_only=True)
    joint_trajectory_topic: str = param("head_controller/joint_trajectory", "topic of the JointTrajectory output",
                                        start_only=True)
    osc_mode: str = param("bundle", "one OSC bundle per frame, or one message per curve", choices=oscw.MODES)
    osc_prefix: str = param("/face/", "OSC address prefix; the address is prefix + curve name")
    osc_rate_hz: float = param(60.0, "maximum OSC frames per second (0 = every frame)", low=0.0, high=1000.0)
    osc_max_datagram: int = param(8192, "largest OSC bundle in bytes; larger frames are split", low=512, high=65000,
                                  start_only=True)
    livelink_subject: str = param("AvatarFace", "Live Link subject name shown in Unreal", start_only=True)
    livelink_rate_hz: float = param(60.0, "maximum Live Link packets per second (0 = every frame)",
                                    low=0.0, high=1000.0)
    maestro_device: int = param(-1, "Maestro device number for the Pololu protocol; -1 = compact protocol",
                                low=-1, high=127, start_only=True)
    servo_rate_hz: float = param(50.0, "servo command rate (Maestro and JointTrajectory)", low=1.0, high=500.0,
                                 start_only=True)
    input_timeout: float = param(0.5, "seconds without input after which the servos return to neutral",
                                 low=0.0, high=60.0, start_only=True)
    stop_ramp_s: float = param(3.0, "longest time spent ramping the servos to neutral on stop", low=0.0, high=60.0)

    def problems(self) -> list[str]:
        """Checks beyond each field's own limits (see avatar_common.config)."""
        found = []
        for name in ("osc", "livelink"):
            value = getattr(self, name)
            if enabled(value):
                try:
                    parse_endpoint(value, ll.DEFAULT_PORT if name == "livelink" else None)
                except ValueError as exc:
                    found.append(f"{name}: {exc}")
        if not 0 < len(self.livelink_subject.encode("utf-8")) <= ll.MAX_NAME_BYTES:
            found.append(f"livelink_subject: 1..{ll.MAX_NAME_BYTES} bytes")
        if not self.osc_prefix.startswith("/"):
            found.append("osc_prefix: must start with '/'")
        return found

    @property
    def servos_enabled(self) -> bool:
        return enabled(self.maestro) or self.joint_trajectory


class RateLimiter:
    """At most `rate_hz` events per second in the long run: an event may come up to a quarter
    period before its slot (input jitter) but never closer than half a period to the previous one."""

    def __init__(self, rate_hz: float) -> None:
        self.period = 1.0 / rate_hz if rate_hz > 0 else 0.0
        self.next_due = -math.inf

    def allow(self, now: float) -> bool:
        if self.period == 0.0:
            return True
        if now < self.next_due - 0.25 * self.period:
            return False
        self.next_due = max(self.next_due + self.period, now + 0.5 * self.period)
        return True


class CurveSpace:
    """A retargeter plus pass-through: frame -> values in the retargeter's `names` order."""

    def __init__(self, retargeter: Any) -> None:
        self.retargeter = retargeter
        self.names: list[str] = list(retargeter.names)
        self.index = {name: i for i, name in enumerate(self.names)}

    def values(self, frame: Frame) -> np.ndarray:
        out = self.retargeter.apply(frame.aus) if frame.aus else None
        if out is None:
            values = np.zeros(len(self.names))
        elif isinstance(out, Mapping):
            values = np.array([out.get(n, 0.0) for n in self.names], dtype=np.float64)
        else:
            values = np.array(out, dtype=np.float64)
        for name, value in frame.curves.items():
            i = self.index.get(name)
            if i is not None:
                values[i] = value
        np.nan_to_num(values, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
        return np.clip(values, 0.0, 1.0, out=values)


def load_curve_space(curve_set: str) -> CurveSpace:
    from au_animation.retarget import load_retarget  # the engine's retargeting (issue 3)

    return CurveSpace(load_retarget(curve_set))


class BridgeSet:
    """All enabled targets of one face bridge; see the module docstring."""

    def __init__(self, config: BridgeConfig, clock: Callable[[], float] = time.monotonic,
                 trajectory_sink: TrajectorySink | None = None, servo_sink: ServoSink | None = None) -> None:
        found = problems(config)
        if found:
            raise ValueError("; ".join(found))
        self.config = config
        self.clock = clock
        self.trajectory_sink = trajectory_sink
        self.servo_sink = servo_sink
        self.frames_in = 0
        self.frames_bad = 0
        self._spaces: dict[str, CurveSpace] = {}
        self.osc: UdpSender | None = None
        self.osc_encoder: oscw.OscEncoder | None = None
        self.livelink: UdpSender | None = None
        self.livelink_encoder: ll.LiveLinkEncoder | None = None
        self.maestro: mae.MaestroPort | None = None
        self.servo: ServoSafety | None = None
        self._osc_limit = RateLimiter(config.osc_rate_hz)
        self._ll_limit = RateLimiter(config.livelink_rate_hz)
        self._channels: list[int] = []
        self._held_osc: Frame | None = None
        self._held_ll: Frame | None = None
        self._device = None if config.maestro_device < 0 else config.maestro_device
        self._head_gaze = load_head_gaze()
        self._osc_gaze: oscw.OscEncoder | None = None

        if enabled(config.osc):
            space = self._space(config.curves)
            self.osc = UdpSender("osc", *parse_endpoint(config.osc), clock=clock)
            self.osc_encoder = oscw.OscEncoder(space.names, config.osc_prefix, config.osc_mode,
                                              config.osc_max_datagram)
            self._osc_gaze = oscw.OscEncoder(HEAD_GAZE_NAMES, config.osc_prefix, config.osc_mode)
        if enabled(config.livelink):
            space = self._space("arkit")
            self.livelink = UdpSender("livelink", *parse_endpoint(config.livelink, ll.DEFAULT_PORT),
                                      clock=clock)
            self.livelink_encoder = ll.LiveLinkEncoder(space.names[:ll.BLENDSHAPE_COUNT],
                                                       subject=config.livelink_subject,
                                                       fps=round(config.livelink_rate_hz or 60))
            self._ll_rotations = [(n, n[0].upper() + n[1:]) for n in ll.ROTATION_NAMES]
        if config.servos_enabled or servo_sink is not None:
            servo_map = load_servo_map(config.servo_map)
            if enabled(config.maestro) and servo_map.units != "us":
                raise ValueError(f"servo map {servo_map.name} is in {servo_map.units!r}; the Maestro needs 'us'")
            self.servo = ServoSafety(servo_map, timeout=config.input_timeout,
                                     max_dt=max(0.1, 2.0 / config.servo_rate_hz))
            self._channels = [c.channel for c in servo_map.channels]
            self._q_low = np.ceil(self.servo.low * 4)
            self._q_high = np.floor(self.servo.high * 4)
            if servo_map.uses_blendshapes:
                self._space("arkit")
        if enabled(config.maestro) and self.servo is not None:
            self.maestro = mae.MaestroPort(config.maestro, on_connect=self._maestro_setup, clock=clock)

    def retune(self, config: BridgeConfig) -> None:
        """Apply run-time changes (rate limits, OSC curve set/mode/prefix); start-only fields are ignored."""
        if (config.osc_rate_hz, config.livelink_rate_hz) != (self.config.osc_rate_hz, self.config.livelink_rate_hz):
            self._osc_limit = RateLimiter(config.osc_rate_hz)
            self._ll_limit = RateLimiter(config.livelink_rate_hz)
        if self.osc is not None:
            self.osc_encoder = oscw.OscEncoder(self._space(config.curves).names, config.osc_prefix, config.osc_mode,
                                              config.osc_max_datagram)
            self._osc_gaze = oscw.OscEncoder(HEAD_GAZE_NAMES, config.osc_prefix, config.osc_mode)
        self.config = config

    # -- set-up ------------------------------------------------------------------------------
    def _space(self, curve_set: str) -> CurveSpace:
        if curve_set not in self._spaces:
            self._spaces[curve_set] = load_curve_space(curve_set)
        return self._spaces[curve_set]

    def _maestro_setup(self) -> bytes:
        """Sent on every (re)connection: hardware speed limits equal to the map's slew limits."""
        assert self.servo is not None
        return b"".join(mae.set_speed(c, s, self._device) for c, s in zip(self._channels, self.servo.slew,
                                                                             strict=True))

    @property
    def holding(self) -> bool:
        """A frame waits for its rate limit (flush() soon)."""
        return self._held_osc is not None or self._held_ll is not None

    @property
    def targets(self) -> list[Any]:
        return [t for t in (self.osc, self.livelink, self.maestro) if t is not None]

    def start(self) -> None:
        """Neutral pose first (servos), and open the serial port."""
        if self.servo is not None:
            self.tick()

    # -- data path -----------------------------------------------------------------------------
    def push(self, frame: Frame, now: float | None = None) -> None:
        """One input frame: retarget and send to the animation targets, update the servo target.

        A frame that the rate limit holds back is kept and sent by flush() when the limit allows
        (or by close()), so the last pose of a stream always arrives.
        """
        now = self.clock() if now is None else now
        self.frames_in += 1
        pose = head_gaze_pose(frame.curves)
        if pose is not None:  # head/eye angles: add their rig curves (explicit curves of the frame win)
            frame = Frame(frame.t, frame.aus, {**self._head_gaze.curves(pose), **frame.curves})
        cache: dict[str, np.ndarray] = {}
        if self.osc is not None:
            self._held_osc = None if self._send_osc(frame, now, cache) else frame
        if self.livelink is not None:
            self._held_ll = None if self._send_livelink(frame, now, cache) else frame
        if self.servo is not None:
            curves = frame.curves
            if self.servo.map.uses_blendshapes:
                space = self._spaces["arkit"]
                curves = {**dict(zip(space.names, self._values(frame, "arkit", cache), strict=True)),
                          **frame.curves}
            self.servo.set_input(frame.aus, curves, now)

    def flush(self, now: float | None = None, force: bool = False) -> None:
        """Send frames held back by the rate limits once allowed (call it every few ms)."""
        now = self.clock() if now is None else now
        if self._held_osc is not None and self._send_osc(self._held_osc, now, {}, force):
            self._held_osc = None
        if self._held_ll is not None and self._send_livelink(self._held_ll, now, {}, force):
            self._held_ll = None

    def _values(self, frame: Frame, curve_set: str, cache: dict[str, np.ndarray]) -> np.ndarray:
        if curve_set not in cache:
            cache[curve_set] = self._spaces[curve_set].values(frame)
        return cache[curve_set]

    def _send_osc(self, frame: Frame, now: float, cache: dict, force: bool = False) -> bool:
        """False when the rate limit holds the frame back (a failed send counts as handled)."""
        if not self._osc_limit.allow(now) and not force:
            return False
        datagrams = self.osc_encoder.encode(self._values(frame, self.config.curves, cache))
        pose = head_gaze_pose(frame.curves)
        if pose is not None:  # the angles themselves (degrees) at prefix + head_yaw ..., for the head bone
            datagrams = datagrams + self._osc_gaze.encode(np.nan_to_num(np.asarray(pose), posinf=0.0, neginf=0.0))
        self.osc.send(datagrams, now)
        return True

    def _send_livelink(self, frame: Frame, now: float, cache: dict, force: bool = False) -> bool:
        if not self._ll_limit.allow(now) and not force:
            return False
        shapes = self._values(frame, "arkit", cache)[:ll.BLENDSHAPE_COUNT]
        rotations = [frame.curves.get(a, frame.curves.get(b, 0.0)) for a, b in self._ll_rotations]
        self.livelink.send(self.livelink_encoder.encode(shapes, rotations), now)
        return True

    def tick(self, now: float | None = None) -> np.ndarray | None:
        """One servo step (call at servo_rate_hz): safe pose -> Maestro, trajectory, sink."""
        if self.servo is None:
            return None
        now = self.clock() if now is None else now
        pose = self.servo.step(now)
        self._emit(now, pose)
        return pose

    def _emit(self, now: float, pose: np.ndarray) -> None:
        if self.maestro is not None:
            if self.maestro.open_if_due(now):  # after a reconnect or a write timeout: neutral first
                pose = self.servo.restart()
            # Maestro resolution is 0.25 us: round inside [min, max] (ceil/floor at the limits).
            quarters = np.clip(np.round(pose * 4), self._q_low, self._q_high) / 4
            self.maestro.write(mae.targets_command(self._channels, quarters, self._device), now)
        if self.trajectory_sink is not None:
            self.trajectory_sink(self.servo.map.joint_names(), self.servo.map.joint_positions(pose),
                                 1.0 / self.config.servo_rate_hz)
        if self.servo_sink is not None:
            self.servo_sink(now, pose)

    def close(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Send held frames, ramp servos to neutral (real time, slew-limited, at most stop_ramp_s),
        then close ports."""
        self.flush(force=True)
        if self.servo is not None and self.servo.last_step is not None:
            self.servo.release()
            period = 1.0 / self.config.servo_rate_hz
            deadline = self.clock() + self.config.stop_ramp_s
            while not self.servo.at_neutral() and self.clock() < deadline:
                sleep(period)
                self.tick()
            if not self.servo.at_neutral():
                LOG.warning("servos not back at neutral after %.1f s (slew limits too low?)",
                            self.config.stop_ramp_s)
        for target in self.targets:
            target.close()

    # -- health --------------------------------------------------------------------------------
    def healths(self) -> list[TargetHealth]:
        return [t.health for t in self.targets]

    def status(self) -> tuple[int, str, dict[str, Any]]:
        """(level 0/1/2, message, key values) for diagnostics and the CLI status line."""
        values: dict[str, Any] = {"frames_in": self.frames_in, "frames_bad": self.frames_bad}
        down = []
        for health in self.healths():
            values.update(health.as_dict())
            if not health.up and health.errors:
                down.append(health.name)
        if self.servo is not None:
            values["servo.timed_out"] = self.servo.timed_out
            values["servo.nan_inputs"] = self.servo.nan_inputs
            values["servo.pose"] = " ".join(f"{v:.1f}" for v in self.servo.position)
        if not self.targets and self.servo is None:
            return 1, "no output enabled", values
        if down:
            return 1, "down: " + ", ".join(down) + " (retrying)", values
        if self.servo is not None and self.servo.timed_out:
            return 0, "no input: servos neutral", values
        return 0, "ok", values
