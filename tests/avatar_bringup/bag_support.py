"""Shared by the bag tests: a bag of ActionUnits frames written without ROS, and two independent readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from avatar_bringup.bag import types
from avatar_bringup.bag.writer import BagWriter
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.highlevel import AnyReader

AU_TOPIC = "/avatar/face/action_units"
START_NS = 1_000_000_000
PERIOD_NS = 16_666_667


def au_bytes(i: int) -> bytes:
    store = types.typestore()
    types.ensure("avatar_msgs/msg/ActionUnits")
    cls = store.types["avatar_msgs/msg/ActionUnits"]
    header = store.types["std_msgs/msg/Header"](stamp=store.types["builtin_interfaces/msg/Time"](sec=i, nanosec=0),
                                                 frame_id="")
    msg = cls(header=header, names=["AU01", "AU12"], intensities=np.array([0.25, i / 1000], dtype=np.float32))
    return store.serialize_cdr(msg, "avatar_msgs/msg/ActionUnits")


def write_bag(path: Path, n: int, **kwargs) -> BagWriter:
    writer = BagWriter(path, **kwargs)
    writer.add_topic(AU_TOPIC, "avatar_msgs/ActionUnits")
    for i in range(n):
        writer.write(AU_TOPIC, START_NS + i * PERIOD_NS, au_bytes(i))
    return writer


def read_rosbags(path: Path) -> list[tuple[str, int, object]]:
    with AnyReader([path]) as bag:
        return [(c.topic, t, bag.deserialize(raw, c.msgtype)) for c, t, raw in bag.messages()]


def read_mcap(path: Path) -> list[tuple[str, int, object]]:
    out = []
    for file in sorted(path.glob("*.mcap")):
        with file.open("rb") as stream:
            for _schema, channel, message, decoded in make_reader(
                    stream, decoder_factories=[DecoderFactory()]).iter_decoded_messages():
                out.append((channel.topic, message.log_time, decoded))
    return out
