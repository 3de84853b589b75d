#!/usr/bin/env bash
# Run a command while busy loops keep cores busy: how the test suite (or a node) fares on a
# loaded machine, as on a robot whose other processes hold a core or a shared CI machine.
#
#   benchmarks/busy.sh [-n LOOPS] [-k NICE] -- COMMAND...
#
# LOOPS plain Python busy loops (default 1: one of two cores), started with `nice -n NICE`
# (default 0: competing as equals). At the end it prints the command's wall time and exit
# code, and the CPU share the loops got, then exits with the command's code.
set -uo pipefail
loops=1
niceness=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) loops="$2"; shift 2 ;;
        -k) niceness="$2"; shift 2 ;;
        --) shift; break ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || { echo "usage: $0 [-n LOOPS] [-k NICE] -- COMMAND..." >&2; exit 2; }
pids=()
for _ in $(seq "$loops"); do
    nice -n "$niceness" python3 -c 'while True: pass' &
    pids+=("$!")
done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
start=$(date +%s.%N)
"$@"
rc=$?
end=$(date +%s.%N)
ticks=0
for pid in "${pids[@]}"; do  # utime + stime of each loop, in clock ticks
    ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
done
python3 -c "import sys; l, k, rc, t0, t1, ticks, hz = sys.argv[1:]; wall = float(t1) - float(t0)
print(f'busy.sh: {l} loop(s) at nice {k}; command exit {rc} after {wall:.0f} s; '
      f'loops used {int(ticks) / int(hz) / wall:.2f} cores')" \
    "$loops" "$niceness" "$rc" "$start" "$end" "$ticks" "$(getconf CLK_TCK)"
exit "$rc"
