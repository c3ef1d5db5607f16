#!/usr/bin/env bash
# Long-run benchmark (not a test): boundcheck's own peak memory and report
# time over a long run at 100 Hz on a 20-thread Python target.
# usage: scripts/longrun.sh [SECONDS] [THREADS] [RATE]   (default 120 20 100)
# Prints, for boundcheck alone (its /proc/PID/status VmHWM, polled every 5 ms
# until it exits, so the report-writing peak is caught), the peak RSS, the
# samples taken, bytes per sample, the time from the target's exit to
# boundcheck's exit (diagnosis + writing report.json and timeline.json), and
# the time `boundcheck replay` needs for the recorded timeline.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-120}
threads=${2:-20}
rate=${3:-100}
nice -n 10 cargo build --release --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 - "$secs" "$threads" "$rate" "$out" <<'PY'
import json, os, subprocess, sys, time
secs, threads, rate, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
bc = "target/release/boundcheck"
cmd = [bc, "--quiet", "--no-rerun", "--rate", rate, "--out", f"{out}/run",
       "--", "python3", "benches/longrun_target.py", secs, threads]
start = time.monotonic()
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
peak_kb, trace = 0, []
status = f"/proc/{p.pid}/status"
while p.poll() is None:
    try:
        with open(status) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, ValueError, UnboundLocalError):
        pass
    else:
        t = time.monotonic() - start
        if not trace or t - trace[-1][0] >= 10:
            trace.append((t, rss))
    time.sleep(0.005)
wall = time.monotonic() - start
if p.returncode != 0:
    sys.exit(f"boundcheck failed ({p.returncode}): {p.stderr.read().decode()}")
rep = json.load(open(f"{out}/run/report.json"))
samples = rep["sampling"]["samples"]
tl_bytes = os.path.getsize(f"{out}/run/timeline.json")
dur = rep["duration_s"]
t0 = time.monotonic()
subprocess.run([bc, "replay", f"{out}/run/timeline.json", "--out", f"{out}/replay", "--quiet"],
               check=True, stderr=subprocess.DEVNULL)
replay_s = time.monotonic() - t0
print(f"run: {secs} s target, {threads} threads, {rate} Hz requested")
print(f"samples: {samples} (achieved {rep['sampling']['achieved_rate_hz']:.1f} Hz, lost {rep['sampling']['lost_samples']})")
print(f"boundcheck peak RSS (VmHWM): {peak_kb / 1024:.1f} MiB")
print(f"RSS trace (s, MiB): " + ", ".join(f"{t:.0f}:{r/1024:.1f}" for t, r in trace))
if samples:
    print(f"bytes of peak RSS per sample: {peak_kb * 1024 / samples:.0f}")
print(f"timeline.json: {tl_bytes / 1e6:.1f} MB ({tl_bytes / max(samples, 1):.0f} bytes per sample)")
print(f"target exit -> boundcheck exit (diagnose + write files): {wall - dur:.2f} s")
print(f"boundcheck replay of this timeline: {replay_s:.2f} s")
PY
