"""ament_python package emotion_perception: installs with colcon on a ROS distro or with pip into a venv."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "emotion_perception"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    package_data={PACKAGE: ["data/*", "data/**/*", "config/*", "models/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="avatar-face maintainers",
    maintainer_email="maintainers@avatar-face.invalid",
    description=Path("package.xml").read_text().split("<description>")[1].split("</description>")[0],
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "emotion_fusion = emotion_perception.fusion_node:main",
            "avatar-fuse = emotion_perception.fusion_cli:main",
            "camera = emotion_perception.camera_node:main",
            "face_emotion = emotion_perception.face_emotion_node:main",
            "fer-train = emotion_perception.fer.train_cli:main",
            "fer-eval = emotion_perception.fer.eval_cli:main",
            "fer-align-template = emotion_perception.fer.align_template_cli:main",
            "fer-predict = emotion_perception.fer.predict_cli:main",
            "fer-export = emotion_perception.fer.export_cli:main",

        ],
    },
)
