"""The whole chain in one process on the offline text backend: words -> fused emotion -> a moving face."""

from __future__ import annotations

import pytest
from avatar_msgs.msg import ActionUnits, EmotionState, Utterance

pytestmark = pytest.mark.ros
NS = "/avatar"


def face_at(frames: list[ActionUnits]) -> dict[str, float]:
    last = frames[-1]
    return dict(zip(last.names, last.intensities, strict=True))


def say(ros, pub, text: str, utterance_id: str) -> None:
    msg = Utterance(id=utterance_id, text=text, final=True, confidence=1.0)
    msg.header.stamp = ros.tester.get_clock().now().to_msg()
    pub.publish(msg)


def test_happy_then_sad_sentence_moves_the_face(ros) -> None:
    from avatar_bringup.graph import resolve
    from avatar_bringup.stack import Stack

    stack = Stack(resolve("desktop", params_file=None), context=ros.context, executor=ros.executor)
    stack.start()
    try:
        frames = ros.collect(ActionUnits, f"{NS}/face/action_units", depth=1000)
        fused = ros.collect(EmotionState, f"{NS}/affect/fused")
        pub = ros.publisher(Utterance, f"{NS}/speech/utterance")
        ros.wait_for_subscribers(pub)
        ros.wait_for_messages(frames, 30, timeout=30)
        rest = face_at(frames)

        say(ros, pub, "I got the job, I'm so happy!", "e2e-1")
        ros.spin_until(lambda: any(dict(zip(f.labels, f.weights, strict=True)).get("happiness", 0) > 0.5
                                   for f in fused), timeout=30, what="a happy fused estimate")
        ros.spin_for(2.5)  # felt onset takes about a second; let the expression reach its hold
        happy = face_at(frames)
        assert happy["AU12"] > rest["AU12"] + 0.3 and happy["AU06"] > rest["AU06"] + 0.2, happy

        say(ros, pub, "My dog died this morning. I feel so sad and lonely.", "e2e-2")
        ros.spin_until(lambda: dict(zip(fused[-1].labels, fused[-1].weights, strict=True)).get("sadness", 0) > 0.3,
                       timeout=30, what="a sad fused estimate")
        ros.spin_for(3.5)
        sad = face_at(frames)
        assert sad["AU15"] > happy["AU15"] + 0.05, sad
        assert sad["AU01"] > happy["AU01"] + 0.05 or sad["AU04"] > happy["AU04"] + 0.05, sad
        assert sad["AU12"] < happy["AU12"] - 0.3, "the smile fades"
        assert all(0.0 <= v <= 1.0 for f in frames for v in f.intensities)
    finally:
        stack.shutdown()


def test_scripted_conversation_prints_the_chain_and_exits(ros_env) -> None:
    """`avatar-stack --say ...` (what `make demo` runs) shows each step and ends by itself."""
    import subprocess
    import sys
    from pathlib import Path

    proc = subprocess.run(
        [str(Path(sys.executable).parent / "avatar-stack"), "--say", "I got the job, I'm so happy!",
         "--say", "My dog died this morning. I feel so sad and lonely.", "--gap", "3"],
        capture_output=True, text=True, timeout=180, env=ros_env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert out.count("[say-") == 2, out
    first, second = out.split("[say-2]")

    def line(block: str, prefix: str) -> str:
        return next(row for row in block.splitlines() if row.strip().startswith(prefix))

    assert line(first, "fused").split(":")[1].split()[0] == "happiness", out
    assert line(first, "face").split(":")[1].split()[0] in ("AU12", "AU06"), out
    assert line(second, "fused").split(":")[1].split()[0] == "sadness", out
    assert "AU15" in line(second, "face"), out
