"""Stable face ids across frames: greedy IoU matching of detections to tracks."""

from __future__ import annotations

from dataclasses import dataclass, field

from .detector import Box, iou


@dataclass
class Track:
    id: str
    box: Box
    missed: int = 0
    hits: int = 1
    extra: dict = field(default_factory=dict)


class IouTracker:
    """Assigns ids "face_<n>"; a track survives `max_missed` frames without a detection."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5) -> None:
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.tracks: list[Track] = []
        self._next = 0

    def update(self, boxes: list[Box]) -> list[tuple[str, Box]]:
        """Match `boxes` (one frame) to tracks; returns (id, box) in the order of `boxes`."""
        pairs = sorted(((iou(t.box, b), ti, bi) for ti, t in enumerate(self.tracks) for bi, b in enumerate(boxes)),
                       reverse=True)
        used_t: set[int] = set()
        ids: dict[int, str] = {}
        for score, ti, bi in pairs:
            if score < self.iou_threshold or ti in used_t or bi in ids:
                continue
            used_t.add(ti)
            track = self.tracks[ti]
            track.box, track.missed, track.hits = boxes[bi], 0, track.hits + 1
            ids[bi] = track.id
        for ti, track in enumerate(self.tracks):
            if ti not in used_t:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for bi, b in enumerate(boxes):
            if bi not in ids:
                track = Track(id=f"face_{self._next}", box=b)
                self._next += 1
                self.tracks.append(track)
                ids[bi] = track.id
        return [(ids[i], b) for i, b in enumerate(boxes)]

    def reset(self) -> None:
        self.tracks.clear()
