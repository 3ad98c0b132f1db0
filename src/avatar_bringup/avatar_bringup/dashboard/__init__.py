"""The live dashboard: what the character heard, saw and felt, and the face it makes, in a browser.

Pure parts (no rclpy): `config` (the node's options), `state` (aggregation of the latest messages,
thread-safe), `server` (aiohttp HTTP + WebSocket server in its own thread and event loop) and the page
under `static/`. The ROS side is `avatar_bringup.dashboard_node`.
"""
