#!/usr/bin/env bash
# Times `sockscope replay` against `tcpdump -n -r` and `tshark -n -r` on the
# same synthesised capture (about a million packets by default), and reports
# wall time, peak memory and the ratios. Then runs the live `bulk` scenario,
# if it exists, and reports its throughput and kernel drops.
#
#   bench/replay.sh            # N=1000000 packets, best of 3 runs each
#   N=200000 RUNS=1 bench/replay.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
RUNS=${RUNS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for tool in /usr/bin/time tcpdump tshark; do
  command -v "$tool" >/dev/null || echo "bench: $tool is not installed (apt-get install time tcpdump tshark); skipping what needs it" >&2
done

go build -o "$work/sockscope" ./cmd/sockscope
go run ./cmd/mkcapture -n "$N" -o "$work/bench.pcap"
packets=$("$work/sockscope" replay "$work/bench.pcap" --format json | grep -c '"kind":"packet"')
echo "capture: $packets packets, $(du -m "$work/bench.pcap" | cut -f1) MB"

# best_of CMD...: prints "seconds peak-MiB" of the fastest of $RUNS runs.
best_of() {
  local best="" line
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null 2>/dev/null || true
    line=$(tail -n 1 "$work/t")
    if [ -z "$best" ] || awk -v a="${line%% *}" -v b="${best%% *}" 'BEGIN{exit !(a<b)}'; then best=$line; fi
  done
  awk '{printf "%.2f %.0f\n", $1, $2/1024}' <<<"$best"
}

declare -A secs mem
run() {
  local name=$1; shift
  command -v "$1" >/dev/null || return 0
  read -r s m < <(best_of "$@")
  secs[$name]=$s; mem[$name]=$m
  printf '%-28s %8.2f s %8d MiB\n' "$name" "$s" "$m"
}
command -v /usr/bin/time >/dev/null || { echo "bench: needs /usr/bin/time" >&2; exit 1; }
run "tcpdump -n -r" tcpdump -n -r "$work/bench.pcap"
run "tshark -n -r" tshark -n -r "$work/bench.pcap"
run "sockscope replay (text)" "$work/sockscope" replay "$work/bench.pcap" --format text
run "sockscope replay (json)" "$work/sockscope" replay "$work/bench.pcap" --format json

if [ -n "${secs[tcpdump -n -r]:-}" ]; then
  for k in "sockscope replay (text)" "sockscope replay (json)" "tshark -n -r"; do
    [ -n "${secs[$k]:-}" ] && awk -v t="${secs[tcpdump -n -r]}" -v s="${secs[$k]}" -v k="$k" \
      'BEGIN{ if (s > 0) printf "%-28s %6.1fx the speed of tcpdump\n", k, t/s }'
  done
fi

if "$work/sockscope" list | grep -q '^bulk '; then
  echo "live: sockscope run bulk"
  start=$(date +%s.%N)
  "$work/sockscope" run bulk --format json > "$work/bulk.json"
  end=$(date +%s.%N)
  grep '"kind":"note"' "$work/bulk.json" | sed 's/.*"text":"\(.*\)".*/  \1/'
  awk -v a="$start" -v b="$end" 'BEGIN{printf "  wall time %.2f s\n", b-a}'
fi
