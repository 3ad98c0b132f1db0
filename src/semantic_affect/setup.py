"""ament_python package semantic_affect: installs with colcon on a ROS distro or with pip into a venv."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "semantic_affect"

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
            "affect-text = semantic_affect.affect_text_cli:main",
            "affect-text-train = semantic_affect.affect_text_train_cli:main",
            "text_affect = semantic_affect.text_affect_node:main",
            "avatar-transcribe = semantic_affect.transcribe_cli:main",
            "audio_capture = semantic_affect.audio_capture_node:main",
            "speech_recognizer = semantic_affect.speech_recognizer_node:main",

        ],
    },
)
