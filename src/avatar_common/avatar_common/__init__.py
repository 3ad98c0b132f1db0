"""Shared pieces of the avatar face stack: emotion labels and validation, rclpy helpers."""
