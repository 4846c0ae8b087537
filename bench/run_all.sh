#!/usr/bin/env bash
# One call on the device machine: build for Hopper, run the whole test suite, then every bench,
# leaving at most 4 files in $OUT (device tool limit: 8): build.log, test.log, bench.log and
# results.tgz (bench/results/*.json and plots). Usage on the device machine, from the repo root:
#   MC_COMMIT=<sha> bash bench/run_all.sh [bench names...]     (default: all benches)
# A name may carry the bench's arguments after a colon (linalg_eig:--no-grid); MC_SKIP_TESTS=1
# skips the test suite (a quick measurement; a submission's run must include it).
# Liger-Kernel, when wanted as a peer, travels as a wheel in .whl/ (see the device README).
set -u
OUT=${OUT:-/tmp/mc_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl &&
    export PYTHONPATH=/tmp/site
fi
make install MC_CUDA=ON CUDA_ARCHS=90 > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
if [ -z "${MC_SKIP_TESTS:-}" ]; then
  timeout "${MC_TEST_TIMEOUT:-420}" python3 -m pytest tests -q -p no:cacheprovider > "$OUT/test.log" 2>&1
  grep -E "^(FAILED|ERROR)|passed|failed" "$OUT/test.log" | tail -30
fi
benches=${*:-rmsnorm add_rmsnorm activations softmax rope embedding_bag adamw linalg_direct linalg_eig mlp}
for spec in $benches; do
  b=${spec%%:*}
  args=""
  [ "$b" != "$spec" ] && args=${spec#*:}
  echo "=== $b $args"
  timeout "${MC_BENCH_TIMEOUT:-150}" python3 "bench/bench_$b.py" $args 2>&1 | grep -v -E "^W[0-9]{4}|recompil|To (diagnose|log)"
done > "$OUT/bench.log" 2>&1
tar czf "$OUT/results.tgz" bench/results
grep -E "^=== |copy|overhead" "$OUT/bench.log" | head -40
