#!/usr/bin/env bash
# What one boundcheck run cost, measured from outside and from its report:
# the sampler's own CPU and achieved rate (report.json `sampling`), the CPU
# of the whole boundcheck process (`perf stat` task-clock of the command
# minus the CPU the target reports for itself), and the seconds from the end
# of the target's work (its `end_unix=` line) to boundcheck's exit: report,
# flamegraphs, HTML. A benchmark, not a test (docs/performance.md).
#
# Usage: scripts/sampler-cost.sh BOUNDCHECK RATE_HZ SCRIPT SCALE [boundcheck flags...]
#   e.g. scripts/sampler-cost.sh target/release/boundcheck 1000 benches/many_threads.py 0.5
# SCRIPT is one of the overhead benchmark's workloads (they print cpu_s= and
# end_unix=). Needs perf (software events are enough) and python3.
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,13p "$0" >&2; exit 2; }
bin=$1; rate=$2; script=$3; scale=$4; shift 4
py=$(python3 -c 'import sys; print(sys.executable)')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
perf stat -x, -e task-clock,context-switches -o "$out/perf.csv" -- \
    "$bin" --no-rerun --force --rate "$rate" --quiet --out "$out/bc" "$@" -- "$py" "$script" "$scale" \
    >"$out/stdout" 2>/dev/null
exited=$(date +%s.%N)
python3 - "$out" "$exited" <<'PY'
import json, re, sys
d, exited = sys.argv[1], float(sys.argv[2])
r = json.load(open(d + "/bc/report.json"))
s, dur = r["sampling"], r["duration_s"]
taken, lost = s["samples"], s["lost_samples"]
clock = next(float(f[0]) / 1000 for f in (l.strip().split(",") for l in open(d + "/perf.csv"))
             if len(f) > 2 and f[2].startswith("task-clock"))
out = open(d + "/stdout").read()
target = float(re.search(r"cpu_s=([0-9.]+)", out).group(1))
end = float(re.search(r"end_unix=([0-9.]+)", out).group(1))
stacks = (r.get("stack_sampling") or {}).get("rate_hz") or 0
print(f"achieved_hz={s['achieved_rate_hz']:.0f} lost={lost / max(taken + lost, 1) * 100:.1f}% "
      f"sampler_cpu={s['sampler_cpu_s'] / dur * 100:.1f}%_of_a_core stack_reads_hz={stacks:.0f} "
      f"boundcheck_cpu_s={clock - target:.3f} after_exit_s={exited - end:.3f} duration_s={dur:.2f}")
PY
