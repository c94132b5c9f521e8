#!/usr/bin/env bash
# Download the wheels benchmarks/gpu_check.sh needs on a GPU image that lacks them
# (CPython 3.12, x86-64 manylinux), into .whl/. Run where pip reaches PyPI.
set -euo pipefail
mkdir -p .whl
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
for pkg in soundfile cffi pycparser speechbrain hyperpyyaml ruamel.yaml ruamel.yaml.clib \
    librosa audioread soxr pooch platformdirs jiwer rapidfuzz whisper-normalizer \
    espeakng-loader; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 --platform any -d .whl "$pkg"
done
ls .whl
