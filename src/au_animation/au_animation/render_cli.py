"""au-render: AU frames (JSONL) or a recorded session (rosbag2 bag) -> MP4 or GIF of the 3D face.

    au-synth --emotion happiness=0.8 --duration 3 | au-render - -o smile.mp4
    au-synth --timeline talk.jsonl | au-render - --timeline talk.jsonl -o talk.gif
    au-render session_bag/ -o session.mp4      # face/action_units + affect/fused from the bag

The face is py-feat's AU -> MediaPipe mesh model (see au_animation.face_model); the overlay shows
the dominant emotions (affect/fused in a bag, or the au-synth timeline given with --timeline), else
the strongest AUs. Video is written with imageio (ffmpeg from imageio-ffmpeg for MP4, Pillow for GIF).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable
from pathlib import Path

from avatar_common.stamps import to_seconds

from au_animation.bridges.frames import parse_jsonl_row
from au_animation.face_model.clip import Timed
from au_animation.synth_cli import read_timeline

FORMATS = {".mp4": 30.0, ".gif": 15.0}  # default frames per second
MAX_FRAMES = 20 * 60 * 60  # 20 minutes at 60 fps: a bigger request is a mistake, not a clip


class InputError(ValueError):
    """Unusable input: one line for the user."""


def read_jsonl(lines: Iterable[str], source: str) -> list[Timed]:
    """AU rows (au-synth output, or ActionUnits as {"t", "names", "intensities"}) sorted by time."""
    out = []
    for number, line in enumerate(lines, start=1):
        try:
            frame = parse_jsonl_row(line)
        except ValueError as exc:
            raise InputError(f"{source}:{number}: {exc}") from None
        if frame is not None:
            out.append(Timed(frame.t, {k: v for k, v in frame.aus.items() if not math.isnan(v)}))
    if out and not any(t.values for t in out):
        raise InputError(f"{source}: no AU names in the rows (render AU curves: au-synth --curves au)")
    return sorted(out, key=lambda t: t.t)


def read_bag(path: Path, au_topic: str, emotion_topic: str) -> tuple[list[Timed], list[Timed]]:
    """AU frames and fused emotion states from a rosbag2 bag (types from the bag's own definitions)."""
    from rosbags.highlevel import AnyReader, AnyReaderError
    from rosbags.rosbag2 import ReaderError

    try:
        with AnyReader([path]) as reader:
            aus_conn = [c for c in reader.connections if c.topic.endswith(au_topic)]
            emo_conn = [c for c in reader.connections if c.topic.endswith(emotion_topic)]
            if not aus_conn:
                raise InputError(f"{path}: no topic ending in {au_topic} (topics: "
                                 f"{', '.join(sorted({c.topic for c in reader.connections})) or 'none'})")
            aus, emotions = [], []
            for conn, t_bag, raw in reader.messages(connections=aus_conn + emo_conn):
                msg = reader.deserialize(raw, conn.msgtype)
                t = to_seconds(msg.header.stamp.sec, msg.header.stamp.nanosec) or t_bag * 1e-9
                if conn in aus_conn:
                    aus.append(Timed(t, dict(zip(msg.names, (float(v) for v in msg.intensities), strict=False))))
                else:
                    emotions.append(Timed(t, dict(zip(msg.labels, (float(v) for v in msg.weights), strict=False))))
    except (AnyReaderError, ReaderError, OSError, KeyError, ValueError, AttributeError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: unreadable bag ({str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r})"
                         ) from None
    return sorted(aus, key=lambda t: t.t), sorted(emotions, key=lambda t: t.t)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="au-render", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[2:]))
    parser.add_argument("source", help="AU JSONL file ('-' = stdin) or a rosbag2 bag folder")
    parser.add_argument("-o", "--output", required=True, help="output file: .mp4 or .gif")
    parser.add_argument("--fps", type=float, help="video frames per second (default 30 for MP4, 15 for GIF)")
    parser.add_argument("--size", type=int, default=None, help="width and height in pixels (default 512, GIF 320)")
    parser.add_argument("--yaw", type=float, default=0.0, help="turn the head, degrees (> 0 toward its left)")
    parser.add_argument("--pitch", type=float, default=0.0, help="tilt the head, degrees (> 0 up)")
    parser.add_argument("--timeline", help="au-synth timeline JSONL whose emotion weights label the overlay")
    parser.add_argument("--au-topic", default="face/action_units", help="bag topic of the AU frames (suffix)")
    parser.add_argument("--emotion-topic", default="affect/fused", help="bag topic of the emotions (suffix)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    opts = parser.parse_args(argv)
    out = Path(opts.output)
    if out.suffix.lower() not in FORMATS:
        parser.error(f"output must end in .mp4 or .gif, got {out.name!r}")
    fps = opts.fps if opts.fps is not None else FORMATS[out.suffix.lower()]
    size = opts.size if opts.size is not None else (320 if out.suffix.lower() == ".gif" else 512)
    if not 1.0 <= fps <= 120.0 or not 64 <= size <= 2048:
        parser.error("--fps must be in [1, 120] and --size in [64, 2048]")
    try:
        aus, emotions = load(opts)
    except InputError as exc:
        parser.error(str(exc))
    if not aus:
        parser.error(f"{opts.source}: no AU frames")
    if (aus[-1].t - aus[0].t) * fps > MAX_FRAMES:
        parser.error(f"{opts.source}: {aus[-1].t - aus[0].t:.0f} s is too long for one clip")
    count = write(out, aus, emotions, fps, size, math.radians(opts.yaw), math.radians(opts.pitch))
    print(f"wrote {out} ({count} frames, {fps:g} fps, {size}x{size})", file=sys.stderr)
    return 0


def load(opts: argparse.Namespace) -> tuple[list[Timed], list[Timed]]:
    source = Path(opts.source)
    if opts.source != "-" and source.is_dir():
        aus, emotions = read_bag(source, opts.au_topic, opts.emotion_topic)
    elif opts.source == "-":
        aus, emotions = read_jsonl(sys.stdin, "stdin"), []
    else:
        try:
            with source.open() as f:
                aus, emotions = read_jsonl(f, str(source)), []
        except OSError as exc:
            raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None
    if opts.timeline:
        try:
            with open(opts.timeline) as f:
                events = read_timeline(f, opts.timeline)
        except OSError as exc:
            raise InputError(f"cannot read {opts.timeline}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise InputError(str(exc)) from None
        start = aus[0].t if aus else 0.0
        emotions = [Timed(start + e.t, e.weights) for e in events if e.weights is not None]
    return aus, emotions


def write(out: Path, aus: list[Timed], emotions: list[Timed], fps: float, size: int, yaw: float,
          pitch: float) -> int:
    import imageio.v2 as imageio

    from au_animation.face_model import load_face_model
    from au_animation.face_model.clip import frames
    from au_animation.face_model.render import View

    model = load_face_model()
    count = 0
    if out.suffix.lower() == ".gif":
        writer = imageio.get_writer(out, mode="I", duration=1000.0 / fps, loop=0)
    else:
        writer = imageio.get_writer(out, fps=fps, codec="libx264", quality=7, macro_block_size=16,
                                    ffmpeg_log_level="error")
    with writer:
        for image in frames(model, aus, emotions, fps, View(width=size, height=size), yaw, pitch):
            writer.append_data(image)
            count += 1
    return count


def console_main() -> None:
    """Entry point: a missing face model is one error line, like every other bad input."""
    from au_animation.face_model import FaceModelError

    try:
        sys.exit(main())
    except FaceModelError as exc:
        print(f"au-render: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    console_main()
