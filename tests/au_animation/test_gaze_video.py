"""A face moving across a video makes the character's gaze follow it, through the real face pipeline.

The video is made here: the astronaut's face (scikit-image) slides across a 640x480 textured scene
(scikit-image's grass photo: on a flat canvas the Haar cascade, after histogram equalisation, misses the
face; on the coffee photo it finds a false one) and is written
to an MJPG file; emotion_perception's FrameSource reads it back, its FacePipeline (Haar detection, tracking,
the shipped classifier) finds the boxes, au_animation's TargetSelector turns them into the person's direction
and the Synthesizer moves eyes and head at 60 Hz. After settling, the gaze (head + eye) must stay within
3 degrees of the direction computed here, independently, from the same boxes.
"""

from __future__ import annotations

import math

import cv2
from au_animation.engine import Synthesizer
from au_animation.engine.gaze_target import Camera, Face, TargetSelector
from emotion_perception.face.capture import FrameSource
from emotion_perception.face.classifier import make_classifier
from emotion_perception.face.pipeline import FacePipeline
from skimage import data

W, H, HFOV, FPS = 640, 480, 60.0, 15.0
OFFSET = (0.02, 0.0, 0.10)  # camera 10 cm above and 2 cm in front of the head's pivot
CROP = (20, 220, 130, 320)  # rows, columns of the astronaut photo around her face (box 176, 65, 96, 96)


def make_video(path, seconds: float = 5.0) -> list[tuple[int, int]]:
    """Write the video; returns the top-left corner of the pasted face crop in each frame."""
    face = data.astronaut()[CROP[0]:CROP[1], CROP[2]:CROP[3], ::-1]  # RGB -> BGR
    fh, fw = face.shape[:2]
    scene = cv2.cvtColor(cv2.resize(data.grass(), (W, H)), cv2.COLOR_GRAY2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    assert writer.isOpened()
    corners = []
    n = round(seconds * FPS)
    for k in range(n):
        x = round(30 + (W - fw - 60) * k / (n - 1))  # left to right
        y = round(150 + 60 * math.sin(math.pi * k / (n - 1)))  # and down and up a little
        canvas = scene.copy()
        canvas[y:y + fh, x:x + fw] = face
        writer.write(canvas)
        corners.append((x, y))
    writer.release()
    return corners


def expected_direction(box: Face) -> tuple[float, float]:
    """Pinhole geometry from the box, written out here: eyes at 40% of the box height, distance from a
    15 cm face width, camera offset added, angles seen from the head's pivot."""
    f = (W / 2) / math.tan(math.radians(HFOV / 2))
    u, v = box.x + box.w / 2, box.y + 0.4 * box.h
    depth = f * 0.15 / box.w
    forward, left, up = depth + OFFSET[0], -depth * (u - W / 2) / f + OFFSET[1], -depth * (v - H / 2) / f + OFFSET[2]
    return math.degrees(math.atan2(left, forward)), math.degrees(math.atan2(up, math.hypot(forward, left)))


def test_gaze_follows_a_face_moving_across_a_video(tmp_path) -> None:
    video = tmp_path / "moving_face.avi"
    corners = make_video(video)
    source = FrameSource(str(video))
    pipeline = FacePipeline(make_classifier("onnx", threads=1))
    selector = TargetSelector(Camera.from_fov(W, H, HFOV, offset=OFFSET))
    synth = Synthesizer(seed=2, life=False)
    boxes: list[Face | None] = []
    errors, yaws = [], []
    averted_until = -math.inf
    frame_no, t = 0, 0.0
    while True:
        try:
            frame = source.read()
        except EOFError:
            break
        if frame is None:
            continue
        faces = pipeline.process(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)).faces
        found = [Face(f.box.x, f.box.y, f.box.w, f.box.h, f.id) for f in faces]
        boxes.append(found[0] if found else None)
        if found:  # the detector finds the pasted face where it was pasted
            x, y = corners[frame_no]
            assert abs(found[0].x + found[0].w / 2 - (x + 176 - CROP[2] + 48)) < 15
            assert abs(found[0].y + found[0].h / 2 - (y + 65 - CROP[0] + 48)) < 15
        target = selector.update(found, frame_no / FPS)
        synth.set_look_at(*(target or (None, None)))
        for _ in range(4):  # 60 Hz animation frames until the next video frame
            synth.step_array(t)
            hg = synth.head_gaze
            if synth.gaze.averted:
                averted_until = t + 0.35  # an aversion and the saccade back are intended, not errors
            latest = next((b for b in reversed(boxes) if b is not None), None)
            if latest is not None and t >= 1.0 and t > averted_until:
                want = expected_direction(latest)
                errors.append(math.hypot(hg.gaze_yaw - want[0], hg.gaze_pitch - want[1]))
                yaws.append(hg.gaze_yaw)
            t += 1 / 60
        frame_no += 1
    source.close()
    assert frame_no == len(corners) and sum(b is not None for b in boxes) >= 0.9 * frame_no
    assert len(errors) >= 0.4 * (t - 1.0) * 60, "too few frames on the person to judge"
    assert max(yaws) - min(yaws) > 25.0, "the gaze did not travel with the face"
    assert max(errors) <= 3.0, f"gaze error up to {max(errors):.2f} deg"
