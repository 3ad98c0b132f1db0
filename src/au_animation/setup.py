"""ament_python package au_animation: installs with colcon on a ROS distro or with pip into a venv."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "au_animation"

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
            "face-bridge = au_animation.bridge_cli:main",
            "face_bridge = au_animation.bridge_node:main",
            "au-synth = au_animation.synth_cli:main",
            "au-render = au_animation.render_cli:console_main",
            "au-report = au_animation.report_cli:main",
            "expression_synthesizer = au_animation.expression_node:main",

        ],
    },
)
