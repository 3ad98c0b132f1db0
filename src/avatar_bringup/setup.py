"""ament_python package avatar_bringup: installs with colcon on a ROS distro or with pip into a venv."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "avatar_bringup"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    package_data={PACKAGE: ["data/*", "data/**/*", "config/*", "models/*", "dashboard/static/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", sorted(str(p) for p in Path("launch").glob("*.py"))),
        ("share/" + PACKAGE + "/config", sorted(str(p) for p in Path(PACKAGE, "config").glob("*.yaml"))),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="avatar-face maintainers",
    maintainer_email="maintainers@avatar-face.invalid",
    description=Path("package.xml").read_text().split("<description>")[1].split("</description>")[0],
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
        "avatar-stack = avatar_bringup.stack_cli:console_main",
        "avatar-say = avatar_bringup.say_cli:main",
        "dashboard = avatar_bringup.dashboard_node:main",
        "avatar-bag = avatar_bringup.bag_cli:console_main",
        "avatar-demo = avatar_bringup.demo_cli:console_main",
        ],
    },
)
