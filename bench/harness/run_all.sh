#!/usr/bin/env bash
# Compiles (in parallel) and then runs every standalone harness in bench/harness (or the ones
# named), one after the other, on the device machine: each checks its kernels against a host
# reference, then times them.
#   bash bench/harness/run_all.sh [name ...]        e.g. eigh_tridiag chol_batched
# Output: $OUT/harness.log (or stdout when OUT is unset). MC_HARNESS_TIMEOUT: seconds per harness.
set -u
cd "$(dirname "$0")/../.."
log=${OUT:+$OUT/harness.log}
names=${*:-$(ls bench/harness/*.cu | xargs -n1 basename | sed 's/\.cu$//')}
{
  for n in $names; do
    rm -f "/tmp/harness_$n"
    nvcc -O3 -std=c++17 -Iinclude -Isrc -gencode=arch=compute_90,code=sm_90 -lineinfo \
      -o "/tmp/harness_$n" "bench/harness/$n.cu" > "/tmp/harness_$n.build" 2>&1 &
  done
  wait
  for n in $names; do
    echo "=== $n"
    grep -v "^$" "/tmp/harness_$n.build" | head -20
    [ -x "/tmp/harness_$n" ] && timeout "${MC_HARNESS_TIMEOUT:-120}" "/tmp/harness_$n"
    echo "=== $n: exit $?"
  done
} 2>&1 | if [ -n "$log" ]; then tee "$log"; else cat; fi
