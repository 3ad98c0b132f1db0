"""avatar-say: publish one typed utterance into a running graph (no microphone needed).

    avatar-say "I got the job, I'm so happy!"
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from avatar_bringup.graph import DEFAULT_NAMESPACE


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="avatar-say", description=__doc__.split("\n")[0])
    parser.add_argument("text", help="what the user says")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="namespace of the graph (default %(default)s)")
    parser.add_argument("--id", default="", help="utterance id (default: say-<unix time in ms>)")
    parser.add_argument("--wait", type=float, default=5.0,
                        help="seconds to wait for a subscriber before giving up (default %(default)s)")
    opts = parser.parse_args(argv)
    if not opts.text.strip():
        parser.exit(2, "avatar-say: error: the text is empty\n")

    import rclpy
    from avatar_msgs.msg import Utterance
    from rclpy.duration import Duration

    from avatar_bringup.conversation_node import make_utterance

    rclpy.init()
    node = rclpy.create_node("avatar_say", namespace=opts.namespace)
    try:
        pub = node.create_publisher(Utterance, "speech/utterance", 10)
        end = time.monotonic() + opts.wait
        while pub.get_subscription_count() == 0:
            if time.monotonic() > end:
                print(f"avatar-say: error: nobody subscribes to {pub.topic_name} after {opts.wait:.0f} s; "
                      "is the stack running (avatar-stack)?", file=sys.stderr)
                return 1
            rclpy.spin_once(node, timeout_sec=0.05)
        utterance_id = opts.id or f"say-{int(time.time() * 1000)}"
        pub.publish(make_utterance(node, opts.text, utterance_id))
        # A reliable sample still unacknowledged when the writer is destroyed can be lost.
        if not pub.wait_for_all_acked(Duration(seconds=opts.wait)):
            print(f"avatar-say: warning: {utterance_id} not acknowledged by every subscriber", file=sys.stderr)
        print(f"published {utterance_id} on {pub.topic_name}")
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
