"""Pure helpers of the scripted conversation: when the face counts as settled, what gets printed."""

from __future__ import annotations

from avatar_bringup.conversation import SettleDetector, format_items, top_items


def feed_ramp(detector: SettleDetector, start: float, end: float, value_at) -> None:
    t = start
    while t <= end + 1e-9:
        detector.feed(t, ["AU12", "AU45"], [value_at(t), 1.0 if int(t * 10) % 30 == 0 else 0.0])
        t += 1 / 60


def test_a_rising_expression_is_not_settled_but_a_held_one_is() -> None:
    detector = SettleDetector(window=1.0, tolerance=0.03)
    feed_ramp(detector, 0.0, 1.5, lambda t: 0.5 * t)  # rising
    assert not detector.settled()
    feed_ramp(detector, 1.5, 3.0, lambda t: 0.75 + 0.005 * ((t * 60) % 2))  # held, breathing, blinking
    assert detector.settled()


def test_too_little_history_is_not_settled() -> None:
    detector = SettleDetector(window=1.0)
    assert not detector.settled()
    feed_ramp(detector, 0.0, 0.5, lambda t: 0.2)
    assert not detector.settled()


def test_top_items_orders_filters_and_formats() -> None:
    items = top_items(["AU12", "AU06", "AU45", "AU01"], [0.7, 0.5, 0.9, 0.01], n=3, exclude=frozenset({"AU45"}))
    assert items == [("AU12", 0.7), ("AU06", 0.5)]
    assert format_items(items) == "AU12 0.70, AU06 0.50"
    assert format_items([]) == "(nothing above 0.05)"
