#!/usr/bin/env bash
# The gpu tier of verify on one GPU, prepared to fit about ten minutes of an H100.
#
#   bash benchmarks/gpu_verify.sh /path/to/cifar10-jpeg.tar.gz      # from the repository root
#
# The data: CIFAR-10 as a .tar.gz of train/<class>/*.jpg and test/<class>/*.jpg (the JPEG copy
# is about 19 MB, so it travels with the code). Stages, each with its own time limit:
# 1. throughput first: the BYOL + DirectPred ResNet-18 step at batch 512 in bf16
#    (benchmarks/bench_resnet_step.py): images/s, share of the card's bf16 peak, and the minutes
#    100 epochs would take; the verify stage is sized on it (45 epochs in all);
# 2. `ssl-dynamics verify --tier gpu`: 3 seeds x 15 epochs of BYOL with a linear predictor on
#    all of CIFAR-10 (ResNet-18, bf16), then the dynamics predictions of the linear predictor
#    (Tian, Chen & Ganguli 2021, predictions 13-16) judged on those runs.
# Results under $OUT (default: a fresh temp folder): resnet_step.json, verify/report.md and
# report.json, the run folders, and gpu_verify.json with every stage's wall time. A rerun with
# the same OUT resumes the runs that did not finish. Exit code 0 only if every stage passed.
set -u -o pipefail
cd "$(dirname "$0")/.."
DATA="${1:?usage: bash benchmarks/gpu_verify.sh /path/to/cifar10.tar.gz}"
OUT="${OUT:-$(mktemp -d -t gpu_verify.XXXXXX)}"
mkdir -p "$OUT"
STATUS=0
declare -a TIMES=()

stage() {  # stage NAME TIMEOUT_S CMD...
  local name=$1 limit=$2; shift 2
  echo; echo "=== $name"; echo "+ $*"
  local t0 t1 rc dt
  t0=$(date +%s.%N)
  timeout "$limit" "$@"; rc=$?
  t1=$(date +%s.%N)
  dt=$(python -c "print(f'{$t1 - $t0:.1f}')")
  echo "=== $name: exit $rc, ${dt} s"
  TIMES+=("$name|$rc|$dt")
  [ "$rc" -eq 0 ] || STATUS=1
}

nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv || STATUS=1

stage "throughput: BYOL+DirectPred ResNet-18 step, batch 512 bf16" 150 \
  python benchmarks/bench_resnet_step.py --device cuda --batch 512 --compile \
  --json "$OUT/resnet_step.json"

stage "verify --tier gpu (3 x 15 epochs, all of CIFAR-10, ResNet-18)" 540 \
  python -m dynamics verify --tier gpu --data-root "$DATA" --device cuda --jobs 1 \
  --runs "$OUT/runs" --out "$OUT/verify"

printf '%s\n' "${TIMES[@]}" | python -c "
import json, sys
rows = [l.rstrip('\n').split('|') for l in sys.stdin if l.strip()]
json.dump([{'stage': n, 'exit': int(c), 'wall_s': float(t)} for n, c, t in rows],
          open('$OUT/gpu_verify.json', 'w'), indent=1)"
[ -f "$OUT/verify/report.md" ] && head -40 "$OUT/verify/report.md"
echo "results in $OUT; overall: $([ $STATUS -eq 0 ] && echo PASS || echo FAIL)"
exit $STATUS
