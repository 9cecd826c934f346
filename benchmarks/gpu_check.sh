#!/usr/bin/env bash
# One-call GPU check of the training engine (prepared for a machine with CUDA; a few minutes).
#
#   bash benchmarks/gpu_check.sh            # from the repository root (or anywhere)
#
# 1. environment: GPU(s), driver, torch / CUDA versions;
# 2. the full BYOL + DirectPred step on ResNet-18 (CIFAR stem) at batch 512 in bf16
#    (benchmarks/bench_resnet_step.py): images/s against the per-sample DataLoader pipeline,
#    the augmentation share, achieved TFLOP/s as a share of the card's bf16 peak, and the
#    minutes 100 epochs of CIFAR-10 would take (targets: >= 30% of peak, < 15 min);
# 3. `pytest -m gpu` (the CUDA tests: on-device augmentation, bf16 + channels_last training,
#    and with >= 2 GPUs the NCCL + SyncBatchNorm DDP test);
# 4. 1-epoch smoke trainings on digits (BYOL + DirectPred, tiny ConvNet) with
#    bf16 + channels_last and with fp32, and one ResNet-18 epoch, through `python -m dynamics`;
# 5. with >= 2 GPUs: the same smoke under `torchrun --nproc_per_node=2` (NCCL, sync_bn=true).
# Every stage prints its wall time; summary lines (status, train time, images/s) per run.
# Run folders and gpu_check.json go to $OUT (default: a fresh temp folder). Exit code 0 only
# if every stage passed.
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d -t gpu_check.XXXXXX)}"
mkdir -p "$OUT"
RUNS="$OUT/runs"
SMOKE=experiments/train/smoke_byol_digits.yaml
COMMON=(out_dir="$RUNS" device=cuda predictor.kind=directpred optim.max_steps=null
        optim.epochs=1 eval.online_probe_epochs=2 eval.linear_epochs=5 log.log_every=2
        log.progress=false --overwrite)
STATUS=0
declare -a TIMES=()

stage() {  # stage NAME TIMEOUT_S CMD...
  local name=$1 limit=$2; shift 2
  echo; echo "=== $name"; echo "+ $*"
  local t0 t1 rc
  t0=$(date +%s.%N)
  timeout "$limit" "$@"; rc=$?
  t1=$(date +%s.%N)
  local dt; dt=$(python -c "print(f'{$t1 - $t0:.1f}')")
  echo "=== $name: exit $rc, ${dt} s"
  TIMES+=("$name|$rc|$dt")
  [ "$rc" -eq 0 ] || STATUS=1
}

run_report() {  # run_report RUN_NAME: one line from summary.json + metrics.jsonl
  python - "$RUNS/$1" <<'EOF'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
try:
    s = json.loads((run / "summary.json").read_text())
except FileNotFoundError:
    print(f"{run.name}: no summary.json"); sys.exit(0)
rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
ips = [r["images_per_s"] for r in rows if r.get("kind") == "train" and r.get("images_per_s")]
steady = ips[1:] or ips  # the first interval includes warm-up / cudnn autotuning
lin = (s.get("linear_eval") or {}).get("final_accuracy")
print(f"{run.name}: status {s.get('status')}, device {s.get('device')}, precision "
      f"{s.get('precision')}, world {s.get('world_size')}, backend {s.get('backend')}, "
      f"sync_bn {s.get('sync_bn')}, steps {s.get('step')}, train "
      f"{s.get('runtime', {}).get('train_s', float('nan')):.2f} s, eval "
      f"{s.get('runtime', {}).get('eval_s', float('nan')):.2f} s, images/s (steady) "
      f"{(sum(steady) / len(steady)) if steady else float('nan'):.0f}, linear eval {lin}, "
      f"replicas identical {(s.get('distributed') or {}).get('replicas_identical', 'n/a')}")
EOF
}

echo "=== environment (OUT=$OUT)"
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv || STATUS=1
python - <<'EOF'
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, available "
      f"{torch.cuda.is_available()}, devices {torch.cuda.device_count()}, bf16 "
      f"{torch.cuda.is_available() and torch.cuda.is_bf16_supported()}")
EOF
NGPU=$(python -c "import torch; print(torch.cuda.device_count())")

stage "BYOL+DirectPred ResNet-18 step, batch 512 bf16 (throughput, augmentation share, TFLOP/s)" \
  150 python benchmarks/bench_resnet_step.py --device cuda --batch 512 --compile \
  --json "$OUT/resnet_step.json"

stage "pytest -m gpu" 300 python -m pytest -m gpu -q -p no:cacheprovider tests/

stage "smoke bf16+channels_last" 180 python -m dynamics train "$SMOKE" "${COMMON[@]}" \
  name=gpu_bf16_cl precision=bf16 channels_last=true
run_report gpu_bf16_cl
stage "smoke fp32" 180 python -m dynamics train "$SMOKE" "${COMMON[@]}" \
  name=gpu_fp32 precision=fp32 channels_last=false
run_report gpu_fp32
stage "resnet18 bf16+channels_last (1 epoch digits)" 240 python -m dynamics train "$SMOKE" \
  "${COMMON[@]}" name=gpu_resnet18 model.encoder=resnet18 model.projector_hidden=512 \
  model.projector_dim=128 precision=bf16 channels_last=true
run_report gpu_resnet18

if [ "$NGPU" -ge 2 ]; then
  stage "torchrun 2 GPUs (NCCL, sync_bn)" 240 python -m torch.distributed.run --standalone \
    --nproc_per_node 2 -m dynamics train "$SMOKE" "${COMMON[@]}" name=gpu_ddp2 \
    optim.batch_size=64 precision=bf16 channels_last=true sync_bn=true
  run_report gpu_ddp2
else
  echo; echo "=== torchrun 2 GPUs: skipped ($NGPU GPU)"
fi

echo; echo "=== timings"
printf '%s\n' "${TIMES[@]}" | awk -F'|' '{printf "  %-48s exit %s  %8s s\n", $1, $2, $3}'
printf '%s\n' "${TIMES[@]}" | python -c "
import json, sys
rows = [l.rstrip('\n').split('|') for l in sys.stdin if l.strip()]
json.dump([{'stage': n, 'exit': int(c), 'wall_s': float(t)} for n, c, t in rows],
          open('$OUT/gpu_check.json', 'w'), indent=1)"
echo "results in $OUT; overall: $([ $STATUS -eq 0 ] && echo PASS || echo FAIL)"
exit $STATUS
