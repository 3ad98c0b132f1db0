#!/usr/bin/env bash
# Build the avatar_msgs interface package into the virtual environment given as $1 (default .venv).
# The ROS wheels are the prefix: generators, ament_cmake and the message runtimes live in the venv.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$(cd "${1:-$root/.venv}" && pwd)"
py="$venv/bin/python"
export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH"
export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv"
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE

# The generator wheels hard-code the wheel builder's include paths; point them at this interpreter.
py_inc="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
np_inc="$("$py" -c 'import numpy; print(numpy.get_include())')"
{ grep -l '/opt/python/cp311-cp311' "$venv"/share/*/cmake/*.cmake 2>/dev/null || true; } | while read -r f; do
  sed -i -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_inc#g" \
         -e "s#/opt/python/cp311-cp311/include/python3.11#$py_inc#g" "$f"
done

build="$root/build/avatar_msgs"
mkdir -p "$build"
cmake -S "$root/msg" -B "$build" -DCMAKE_INSTALL_PREFIX="$venv" -DBUILD_TESTING=OFF \
  -DPython3_EXECUTABLE="$py" -DCMAKE_BUILD_TYPE=Release >"$build.log" 2>&1 \
  || { tail -40 "$build.log"; exit 1; }
cmake --build "$build" -j"$(nproc)" >>"$build.log" 2>&1 || { tail -40 "$build.log"; exit 1; }
cmake --install "$build" >>"$build.log" 2>&1 || { tail -40 "$build.log"; exit 1; }
"$py" -c 'from avatar_msgs.msg import EmotionState, Utterance, AudioChunk, ActionUnits' 
echo "avatar_msgs built into $venv"
