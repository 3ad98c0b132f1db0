"""Face pipeline without rclpy: image conversion, detection, tracking, crops, classification."""
