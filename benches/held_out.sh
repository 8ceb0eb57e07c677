# Sourced by benches/defaults.sh and benches/many_rows.sh from the
# repository's root.
#
# `held_out_start [BINARY]` sets `bin` to BINARY (by default
# target/release/shadertrain) and moves to a temporary directory, removed
# on exit.
held_out_start() {
    bin=$(realpath "${1:-target/release/shadertrain}")
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    cd "$dir"
}

# `held_out_run DATA LABEL FLAGS...` trains DATA.csv with 20% held out (by
# --seed 0) and FLAGS, and prints the held-out R², the whole command's time
# (process start, CSV read and any range test included) and the optimizer
# as the run's summary gives it.
held_out_run() {
    local data=$1 label=$2
    shift 2
    local start end
    start=$(date +%s.%N)
    if ! "$bin" train --data "$data.csv" --validation-split 0.2 "$@" --json run.json -q; then
        printf '%-17s %-32s failed (above)\n' "$data" "$label"
        return
    fi
    end=$(date +%s.%N)
    python3 - "$data" "$label" "$start" "$end" <<'PY'
import json, sys
d = json.load(open("run.json"))
data, label, start, end = sys.argv[1:]
print(f"{data:<17} {label:<32} held-out r² {d['final_val_r2']:8.4f}"
      f"  {float(end) - float(start):6.2f} s  ({d['optimizer']}; {d['epochs']} epochs)")
PY
}
