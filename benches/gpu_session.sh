#!/usr/bin/env bash
# One GPU session's checks, prepared here and run in one go on a lent GPU
# machine (which has the NVIDIA driver and PyTorch, but no Rust and no
# network):
#
#   benches/gpu_session.sh prepare   # here: builds, strips and stages into .gpu/ and .gl/
#   benches/gpu_session.sh run       # there, from the repository root, with $OUT set
#
# `prepare` builds the release binary, the GPU test binaries and the
# per-kernel benchmark (benches/kernels.rs; `run` does not use it, a device
# command may: /tmp/gpu-run/kernels_bench once `run` has unpacked), strips
# and compresses them into .gpu/ (ignored through .git/info/exclude), and downloads the
# Vulkan loader and the GL/EGL libraries NVIDIA's Vulkan driver needs into
# .gl/. Carry both: device `run` with carry [".gl", ".gpu"] and the command
# `bash benches/gpu_session.sh run`.
#
# `run` writes into $OUT before a deadline (500 s, or SESSION_DEADLINE),
# most wanted first, so that a hang or a slow step costs only what comes
# after it: the GPU's name and SM count and `shadertrain info` (with the
# NVIDIA Vulkan driver found by search where the usual path lacks it); what
# the driver makes of each kernel (`info --pipelines`: registers, memory,
# whatever it reports) at the defaults and under each swept setting
# (pipelines.txt); the
# mixed-precision tests with their cooperative kernels required; f32 on
# S0-S4 and mixed with the default blocks on S2 and S3, with per-kernel
# times, then PyTorch CUDA eager on S0-S3 and torch.compile on S3
# (benches/torch_epoch.py, TF32 off, --batch 8: 8 epochs per synchronised
# sample, as bench's --gpu-batch); the
# sweeps of settings not yet measured on hardware, two passes alternating
# (settings.json, with per-kernel times): the f16 copies' input padding,
# SHADERTRAIN_MIXED_INPUT_PAD 64 against 16 (and 16 with 2x2 forward
# blocks), delta_half's SHADERTRAIN_DELTA_SLICES 2 and 4, and ŷ's shares
# by subgroup shuffles, SHADERTRAIN_MIXED_SHARES=shuffle (and with 4x4
# forward blocks, which the shares' pass held back), under
# --precision mixed on S2, S3 and 262144x32x256; the wide
# products' SHADERTRAIN_WIDE_STEP 8 against 16 on S3 and three other wide
# shapes (18 bench calls of at most 30 s each; the sweep of
# SHADERTRAIN_COOP_BLOCKS they replace chose 4x2,4x4 on 2026-12-04); each GPU test
# binary with 8 test threads (a hang shows as a timeout). Seven files in all
# (a device run brings back eight at most). Set SESSION_LAVAPIPE=1 to try
# `run` here on lavapipe (no NVIDIA paths, no peers, and the mixed steps
# fail there: Debian 12's lavapipe has no cooperative matrices), and
# SESSION_PEERS=0 to leave PyTorch out.
set -uo pipefail
cd "$(dirname "$0")/.."

TESTS=(gpu_vs_cpu kernel_props training optimizers shader_settings mixed wide)

prepare() {
  set -e
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo '/.gl/' >> .git/info/exclude
  # Nothing of an earlier prepare travels: binaries, bundles, packages.
  rm -rf .gpu .gl /tmp/gpu-bundle && mkdir -p .gpu .gl /tmp/amd64/partial
  cargo build --release
  # The test binaries and the per-kernel benchmark (benches/kernels.rs),
  # release-built: cargo lists each executable as KIND NAME PATH.
  { cargo test --release --no-run --message-format=json
    cargo bench --bench kernels --no-run --message-format=json; } 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["target"]["kind"][0], m["target"]["name"], m["executable"])
' > .gpu/executables.txt
  mkdir -p /tmp/gpu-bundle
  for t in "${TESTS[@]}"; do
    exe=$(awk -v t="$t" '$1 == "test" && $2 == t { print $3 }' .gpu/executables.txt)
    if [ -n "$exe" ]; then strip -o "/tmp/gpu-bundle/$t" "$exe"; fi
  done
  exe=$(awk '$1 == "bench" && $2 == "kernels" { print $3 }' .gpu/executables.txt)
  strip -o /tmp/gpu-bundle/kernels_bench "$exe"
  strip -o /tmp/gpu-bundle/shadertrain target/release/shadertrain
  # Compressed: the working tree and what it carries travel within 64 MiB.
  tar -C /tmp/gpu-bundle -cJf .gpu/bundle.tar.xz .
  # The test binaries run the CLI at the path cargo compiled into them.
  realpath target/release/shadertrain > .gpu/bin_path
  local o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq
  # shellcheck disable=SC2086
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 2>&1 | tail -1)
  du -sh .gpu .gl
}

run() {
  : "${OUT:?run writes its results into \$OUT}"
  local torch=${SESSION_PEERS:-1}
  local all=S0,S1,S2,S3,S4 big=S2,S3
  local eager=(S0 S1 S2 S3) compiled=(S3)
  # The sweeps: name|shapes|bench arguments|settings, each setting an
  # environment assignment or several joined by +.
  local sweeps=(
    "mixed|S2,S3,262144x32x256|--precision mixed|SHADERTRAIN_MIXED_INPUT_PAD=64 SHADERTRAIN_MIXED_INPUT_PAD=16 SHADERTRAIN_MIXED_INPUT_PAD=16+SHADERTRAIN_COOP_BLOCKS=2x2,4x4 SHADERTRAIN_DELTA_SLICES=2 SHADERTRAIN_DELTA_SLICES=4 SHADERTRAIN_MIXED_SHARES=shuffle SHADERTRAIN_MIXED_SHARES=shuffle+SHADERTRAIN_COOP_BLOCKS=4x4"
    "wide|S3,16384x512x2048,4096x1024x4096,262144x128x256|--kernels wide|SHADERTRAIN_WIDE_STEP=8 SHADERTRAIN_WIDE_STEP=16"
  )
  if [ "${SESSION_LAVAPIPE:-0}" != 1 ]; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  else
    # A dry run of the script: the small shape only, no peers.
    torch=0
    all=S0 big=S0 eager=(S0) compiled=(S0)
    sweeps=("wide|S0|--kernels wide|SHADERTRAIN_WIDE_STEP=8 SHADERTRAIN_WIDE_STEP=16")
  fi
  # Unpacked outside the tree, so that a dry run here leaves .gpu/ as
  # small as it travels.
  local x=/tmp/gpu-run
  rm -rf "$x" && mkdir -p "$x" && tar -C "$x" -xJf .gpu/bundle.tar.xz
  local bin
  bin=$(cat .gpu/bin_path)
  mkdir -p "$(dirname "$bin")" && cp "$x/shadertrain" "$bin" 2>/dev/null
  local st=$x/shadertrain
  {
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1
    python3 -c 'import torch; p = torch.cuda.get_device_properties(0); print(p.name, "SMs:", p.multi_processor_count, "torch", torch.__version__)' 2>&1
    lscpu | grep -m1 'Model name'
    timeout 30 $st info
    if [ "${SESSION_LAVAPIPE:-0}" != 1 ] && ! timeout 30 $st info 2>&1 | grep -q NVIDIA; then
      # The driver's manifest elsewhere: try each one found.
      echo "-- no NVIDIA adapter through $VK_DRIVER_FILES; searching"
      ls /usr/local/nvidia 2>&1 | head
      for icd in $(find / -xdev -name 'nvidia_icd*.json' 2>/dev/null | head -4) ""; do
        if [ -z "$icd" ]; then
          unset VK_DRIVER_FILES
        else
          export VK_DRIVER_FILES=$icd
        fi
        echo "-- VK_DRIVER_FILES=${icd:-(unset)}"
        timeout 30 $st info 2>&1 | grep -q NVIDIA && break
      done
      timeout 30 $st info
    fi
  } > "$OUT/machine.txt" 2>&1
  # Everything runs before a deadline, so the device call returns with
  # what was written: each step gets the time that is left, at most its
  # own limit (its first argument), and steps past the deadline say so.
  local deadline=${SESSION_DEADLINE:-500}
  step() {
    local t=$((deadline - SECONDS))
    [ "$t" -gt "$1" ] && t=$1
    shift
    if [ "$t" -lt 5 ]; then
      echo "-- skipped, out of time: $*"
      return
    fi
    local start=$SECONDS
    timeout "$t" "$@"
    local rc=$?
    [ "$rc" = 124 ] && echo "-- timed out after $t s: $*"
    echo "-- $((SECONDS - start)) s (at $SECONDS s): $*"
  }
  local b=(bench --backends gpu --samples 20 --quiet)
  # The driver's statistics of every kernel's pipeline, then of the
  # product kernels under each setting the sweeps below time.
  {
    echo "== the defaults"
    step 60 $st info --pipelines
    local hot=forward_wide_sigmoid,weight_grad_wide_sigmoid,forward_coop,forward_coop_shares,weight_grad_coop,delta_half
    for setting in SHADERTRAIN_WIDE_STEP=16 SHADERTRAIN_COOP_BLOCKS=2x2,4x4 SHADERTRAIN_COOP_BLOCKS=4x4 \
      SHADERTRAIN_MIXED_INPUT_PAD=16 SHADERTRAIN_DELTA_SLICES=4 SHADERTRAIN_MIXED_SHARES=shuffle; do
      echo "== $setting"
      step 30 env "$setting" $st info --pipelines "$hot"
    done
  } > "$OUT/pipelines.txt" 2>&1
  # The mixed tests with their cooperative kernels required (every shape
  # of SHADERTRAIN_COOP_BLOCKS and both input paddings among them): whether
  # the mixed figures below mean anything.
  {
    echo "mixed, cooperative kernels required:"
    SHADERTRAIN_REQUIRE_MIXED=1 step 90 "$x/mixed" --test-threads 1 2>&1 | grep -E 'test |panicked|result|timed out|^-- ' | head -24
  } > "$OUT/tests.txt" 2>&1
  # The comparison first (shadertrain's defaults, then PyTorch with the
  # same 8 epochs per synchronised sample as bench's --gpu-batch), so that
  # the deadline cuts the sweeps, not it.
  {
    echo "== f32, default kernels"
    step 90 $st "${b[@]}" --shapes "$all" --json "$OUT/f32.json"
    echo "== --precision mixed, the default blocks"
    step 45 $st "${b[@]}" --shapes "$big" --precision mixed --json "$OUT/mixed.json"
    if [ "$torch" = 1 ]; then
      echo "== PyTorch CUDA eager (TF32 off), then torch.compile"
      step 60 python3 benches/torch_epoch.py --device cuda --samples 20 --batch 8 "${eager[@]}"
      step 120 python3 benches/torch_epoch.py --device cuda --samples 20 --batch 8 --compile "${compiled[@]}"
    fi
  } > "$OUT/bench.txt" 2>&1
  # Each sweep's settings, two passes alternating, one record per shape,
  # setting and pass (with per-kernel times) into settings.json, keyed
  # "sweep pass setting".
  {
    rm -rf /tmp/settings && mkdir -p /tmp/settings
    local sweep name shapes args list pass setting
    for sweep in "${sweeps[@]}"; do
      IFS='|' read -r name shapes args list <<< "$sweep"
      for pass in 1 2; do
        for setting in $list; do
          echo "== $name, pass $pass: $setting: $args on $shapes"
          # shellcheck disable=SC2046,SC2086
          step 30 env $(tr + ' ' <<< "$setting") $st "${b[@]}" --shapes "$shapes" $args \
            --json "/tmp/settings/$name $pass $setting.json"
        done
      done
    done
    python3 - "$OUT/settings.json" /tmp/settings/*.json <<'PY'
import json, sys
out = {}
for path in sys.argv[2:]:
    try:
        out[path.rsplit("/", 1)[1][:-len(".json")]] = json.load(open(path))
    except (OSError, ValueError) as e:
        out[path] = str(e)
json.dump(out, open(sys.argv[1], "w"), indent=1)
PY
  } >> "$OUT/bench.txt" 2>&1
  # Each GPU test binary with 8 test threads; a hang shows as a timeout.
  {
    for t in "${TESTS[@]}"; do
      [ -x "$x/$t" ] || continue
      local start=$SECONDS
      step 40 "$x/$t" --test-threads 8 > "/tmp/$t.log" 2>&1
      echo "$t: $((SECONDS - start)) s; $(grep -E '^test result|^-- (timed|skipped)' "/tmp/$t.log" | tail -1)"
      grep -E 'panicked|FAILED|SKIPPED' "/tmp/$t.log" | head -5
    done
  } >> "$OUT/tests.txt" 2>&1
  # The results are in the files, whatever the last grep found.
  return 0
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
