"""Message types for bags: the ROS 2 base types of rosbags plus any package's .msg files.

rosbags knows the standard interfaces (std_msgs, sensor_msgs, rosgraph_msgs, ...) but not our
avatar_msgs or a user's own package. Their definitions are read from the installed share
directory (`<prefix>/share/<pkg>/msg/<Type>.msg`), searched in $AMENT_PREFIX_PATH (a sourced ROS
distro or colcon workspace) and then this interpreter's prefix (the project's venv, where
`make setup` installs avatar_msgs), so the same code works on a distro and in a venv. The full
definition text (with dependencies) goes into the bag, so readers need no installed packages.
"""

from __future__ import annotations

import os
import re
import sys
from functools import lru_cache
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from avatar_bringup.bag.errors import BagError

TYPE_RE = re.compile(r"^(?P<pkg>[A-Za-z][\w]*)/(?:msg/)?(?P<name>[A-Za-z]\w*)$")
BASE_STORE = Stores.ROS2_KILTED


def share_dirs() -> list[Path]:
    """Install prefixes' share folders: $AMENT_PREFIX_PATH first, then this interpreter's prefix."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(sys.prefix)
    seen: list[Path] = []
    for prefix in prefixes:
        share = Path(prefix) / "share"
        if share not in seen:
            seen.append(share)
    return seen


def normalize(msgtype: str) -> str:
    """'pkg/Type' or 'pkg/msg/Type' -> 'pkg/msg/Type'; BagError for anything else (e.g. services)."""
    match = TYPE_RE.match(msgtype)
    if not match:
        raise BagError(f"unsupported message type {msgtype!r} (expected pkg/msg/Type)")
    return f"{match['pkg']}/msg/{match['name']}"


def _package_types(package: str) -> dict[str, object]:
    """Every .msg of `package` found in the share folders, parsed by rosbags."""
    for share in share_dirs():
        folder = share / package / "msg"
        files = sorted(folder.glob("*.msg")) if folder.is_dir() else []
        if files:
            types: dict[str, object] = {}
            for path in files:
                types.update(get_types_from_msg(path.read_text(encoding="utf-8"), f"{package}/msg/{path.stem}"))
            return types
    return {}


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """The process-wide type store (rosbags' kilted base types; more are added on demand)."""
    return get_typestore(BASE_STORE)


def ensure(msgtype: str, store: Typestore | None = None) -> str:
    """Make `msgtype` and the types it uses known to `store`; return its normalized name.

    Raises BagError when a definition is nowhere to be found.
    """
    store = store or typestore()
    name = normalize(msgtype)
    missing = [name]
    tried: set[str] = set()
    while missing:
        wanted = missing.pop()
        if wanted in store.fielddefs:
            continue
        package = wanted.split("/")[0]
        if package in tried:
            raise BagError(f"no definition of {wanted}: {package}/msg/{wanted.split('/')[-1]}.msg not found under "
                           + ", ".join(str(s) for s in share_dirs()))
        tried.add(package)
        found = _package_types(package)
        store.register(found)
        missing.append(wanted)
        missing.extend(_dependencies(found))
    return name


def _dependencies(types: dict[str, object]) -> list[str]:
    """Types referenced by fields of `types` (nested messages from other packages)."""
    out = []
    for _consts, fields in types.values():  # rosbags' (constants, fields) tuples
        for _fname, (kind, detail) in fields:
            for candidate in _names(kind, detail):
                out.append(candidate)
    return out


def _names(kind: object, detail: object) -> list[str]:
    """Message type names inside one rosbags field description (NAME, or arrays/sequences of it)."""
    if isinstance(detail, str) and "/" in detail:
        return [detail]
    if isinstance(detail, tuple) and detail:
        inner = detail[0]
        if isinstance(inner, tuple) and len(inner) == 2:
            return _names(*inner)
    return []


def definition(msgtype: str, store: Typestore | None = None) -> tuple[str, str]:
    """(full .msg definition text with dependencies, RIHS01 hash) of a message type, as rosbag2 stores them."""
    store = store or typestore()
    name = ensure(msgtype, store)
    text, _ = store.generate_msgdef(name, ros_version=2)
    return text, store.hash_rihs01(name)
