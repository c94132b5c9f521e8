#!/usr/bin/env bash
# The prepared GPU check for a bare GPU machine without network (e.g. the device tool's
# H200: python3 with torch, lightning, transformers, scikit-learn, ... but not soundfile,
# speechbrain, librosa, jiwer or espeak-ng). Make the missing wheels here first:
#   bash benchmarks/gpu_wheels.sh          # writes .whl/ (ignored by git)
# then, on the GPU machine, from the repository root (carry .whl):
#   bash benchmarks/gpu_check.sh "$OUT"    # OUT/gpu_check.json: samples/s, GPU memory
set -euo pipefail
OUT_DIR=${1:-runs/gpu_check}
SITE=.gpu_site  # the wheels' install target, inside the working tree (git-ignored)
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" .whl/*.whl
  export PYTHONPATH=$PWD/$SITE:$PWD/src
else
  export PYTHONPATH=$PWD/src
fi
export PYTHONUNBUFFERED=1
python3 benchmarks/gpu_check.py --out "$OUT_DIR" "${@:2}"
