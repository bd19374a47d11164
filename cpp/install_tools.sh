#!/usr/bin/env bash
# Installs what the C++ programs' builds and tests need (docs/cpp.md), on Debian or Ubuntu:
#   - Debian packages: cmake and g++ (native build), libstb-dev (stb_image), nlohmann-json3-dev
#     (JSON), g++-aarch64-linux-gnu (the ARM cross-compiler and its libc), qemu-user (runs the
#     ARM build here);
#   - the aarch64 ai-edge-litert wheel of the pinned version (requirements.txt), whose
#     libLiteRt.so the ARM build links, into .cache/litert-aarch64/ (ignored by git).
# Runs apt-get through sudo when not root. Safe to run again: what is there is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(cmake g++ libstb-dev nlohmann-json3-dev g++-aarch64-linux-gnu qemu-user)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" > /dev/null
fi
pin=$(grep -E '^ai-edge-litert==' requirements.txt)
python_version=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cache=.cache/litert-aarch64
if ! ls "$cache"/ai_edge_litert-"${pin#*==}"-*aarch64*.whl > /dev/null 2>&1; then
  python -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux_2_27_aarch64 --python-version "$python_version" -d "$cache" "$pin"
fi
