#!/usr/bin/env bash
# Times `sockscope replay` (text and JSON) against `tcpdump -n -r` and
# `tshark -n -r` on the same synthesised capture (about a million packets by
# default), and reports wall time, peak memory and the ratios; with tmux, how
# soon the dashboard shows its first rows and its peak memory. Then runs the
# live `bulk` scenario and reports its throughput, the payload captured
# against the bytes sent, and the kernel's drops.
#
#   bench/replay.sh            # N=1000000 packets, best of 3 runs each
#   N=200000 RUNS=1 bench/replay.sh
#   BULK=1G bench/replay.sh    # a bigger bulk transfer (default 256M)
#   INSTR=1 bench/replay.sh    # also count instructions (valgrind), which
#                              # this VM's drifting speed does not change
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

# The commands run in rounds, each once a round, and each keeps its fastest
# run: this VM's speed drifts from minute to minute, and rounds expose every
# command to the same drift.
#
# tcpdump runs twice: as it comes (with TZ as the caller has it: unset on a
# stock Debian, where glibc's localtime() looks at /etc/localtime again for
# every packet printed, a million newfstatat calls by strace -c, 20-50% of
# tcpdump's time), and with TZ=UTC, tcpdump at its fastest. sockscope prints
# times relative to the first packet: TZ changes nothing for it.
names=()
declare -A cmds secs mem
add() {
  local name=$1; shift
  command -v "$1" >/dev/null || return 0
  names+=("$name"); cmds[$name]=$(printf '%q ' "$@")
}
command -v /usr/bin/time >/dev/null || { echo "bench: needs /usr/bin/time" >&2; exit 1; }
add "tcpdump -n -r" tcpdump -n -r "$work/bench.pcap"
add "tcpdump -n -r (TZ=UTC)" env TZ=UTC tcpdump -n -r "$work/bench.pcap"
add "tshark -n -r" tshark -n -r "$work/bench.pcap"
add "sockscope replay (text)" "$work/sockscope" replay "$work/bench.pcap" --format text
add "sockscope replay (json)" "$work/sockscope" replay "$work/bench.pcap" --format json
add "sockscope (json --explain)" "$work/sockscope" replay "$work/bench.pcap" --format json --explain
for _ in $(seq "$RUNS"); do
  for name in "${names[@]}"; do
    eval "/usr/bin/time -f '%e %M' -o '$work/t' ${cmds[$name]}" >/dev/null 2>/dev/null || true
    read -r s m < <(tail -n 1 "$work/t")
    printf '%s\t%s\n' "$name" "$s" >>"$work/rounds"
    if [ -z "${secs[$name]:-}" ] || awk -v a="$s" -v b="${secs[$name]}" 'BEGIN{exit !(a<b)}'; then
      secs[$name]=$s
    fi
    if [ -z "${mem[$name]:-}" ] || [ "$m" -gt "${mem[$name]}" ]; then mem[$name]=$m; fi
  done
done
for name in "${names[@]}"; do
  printf '%-28s %8.2f s %8d MiB\n' "$name" "${secs[$name]}" "$((mem[$name] / 1024))"
done

# Ratios: of the best times above, and round by round (the two commands
# of a round ran seconds apart, so they met the same drift): the median
# round's ratio, and the worst and best rounds'.
for ref in "tcpdump -n -r" "tcpdump -n -r (TZ=UTC)"; do
  [ -n "${secs[$ref]:-}" ] || continue
  for k in "sockscope replay (text)" "sockscope replay (json)" "sockscope (json --explain)" "tshark -n -r"; do
    [ -n "${secs[$k]:-}" ] || continue
    awk -F'\t' -v k="$k" -v r="$ref" -v bt="${secs[$ref]}" -v bs="${secs[$k]}" '
      $1 == r { t[++nt] = $2 }
      $1 == k { s[++ns] = $2 }
      END {
        for (i = 1; i <= nt && i <= ns; i++) if (s[i] > 0) q[++n] = t[i] / s[i]
        for (i = 2; i <= n; i++) for (j = i; j > 1 && q[j-1] > q[j]; j--) { x = q[j]; q[j] = q[j-1]; q[j-1] = x }
        med = n % 2 ? q[(n+1)/2] : (q[n/2] + q[n/2+1]) / 2
        printf "%-28s %5.1fx the speed of %-24s best; rounds: median %.1fx, %.1f-%.1fx\n", k, bt/bs, r, med, q[1], q[n]
      }' "$work/rounds"
  done
done

# Instructions executed (valgrind's callgrind counts them, the same for the
# same binary and input however loaded the machine is), on a smaller capture:
# the work each tool does per packet, apart from how fast the machine runs
# it. sockscope runs on one core (GOMAXPROCS=1), so that the count holds
# its three goroutines' work and nothing of the scheduler's idle spinning;
# Go's preemption signals are off because callgrind cannot follow them.
if [ -n "${INSTR:-}" ] && command -v valgrind >/dev/null; then
  ni=${N_INSTR:-200000}
  go run ./cmd/mkcapture -n "$ni" -o "$work/instr.pcap"
  count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
  declare -A instr
  instr[tcpdump]=$(count tcpdump -n -r "$work/instr.pcap")
  instr[tz]=$(TZ=UTC count tcpdump -n -r "$work/instr.pcap")
  instr[text]=$(GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 count "$work/sockscope" replay "$work/instr.pcap" --format text)
  instr[json]=$(GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 count "$work/sockscope" replay "$work/instr.pcap" --format json)
  for k in "tcpdump:tcpdump -n -r" "tz:tcpdump -n -r (TZ=UTC)" "text:sockscope replay (text)" "json:sockscope replay (json)"; do
    awk -v i="${instr[${k%%:*}]}" -v n="$ni" -v k="${k#*:}" -v t="${instr[tcpdump]}" \
      'BEGIN{ if (i > 0) printf "%-28s %8.0f instructions a packet, %.2fx tcpdump'"'"'s\n", k, i/n, i/t }'
  done
fi

# The dashboard: time to the first rows, peak memory (tmux draws it).
if command -v tmux >/dev/null; then
  s="sockscope-bench-$$"
  start=$(date +%s.%N)
  tmux new-session -d -s "$s" -x 160 -y 45 "'$work/sockscope' replay '$work/bench.pcap' --format dashboard; sleep 60"
  first=""
  for _ in $(seq 1 500); do
    if grep -q 'S seq=\|(inferred)' <<<"$(tmux capture-pane -p -t "$s")"; then first=$(date +%s.%N); break; fi
    sleep 0.01
  done
  pid=$(pgrep -f "^$work/sockscope replay" | head -1)
  sleep 10 # it reads on; the keys must still answer
  t0=$(date +%s.%N); tmux send-keys -t "$s" G
  for _ in $(seq 1 200); do grep -Eq 'row ([0-9]+)/\1( |$)' <<<"$(tmux capture-pane -p -t "$s" | sed -n 1p)" && break; sleep 0.01; done
  t1=$(date +%s.%N)
  hwm=$(awk '/VmHWM/{printf "%d", $2/1024}' "/proc/$pid/status" 2>/dev/null)
  tmux send-keys -t "$s" q; sleep 0.5; tmux kill-session -t "$s" 2>/dev/null || true
  awk -v a="$start" -v b="$first" -v k0="$t0" -v k1="$t1" -v m="$hwm" \
    'BEGIN{printf "%-28s %8.2f s to the first rows, a key answered in %.2f s, %d MiB peak\n", "sockscope dashboard", b-a, k1-k0, m}'
fi

# Not `list | grep -q`: grep may quit before list has written all, and
# pipefail then takes list's broken pipe for a missing scenario.
if grep -q '^bulk ' <<<"$("$work/sockscope" list)"; then
  bytes=${BULK:-256M}
  echo "live: sockscope run bulk --bytes $bytes"
  start=$(date +%s.%N)
  "$work/sockscope" run bulk --bytes "$bytes" --format json > "$work/bulk.json"
  end=$(date +%s.%N)
  grep '"kind":"note"' "$work/bulk.json" | grep -v '"topic"' | sed 's/.*"text":"\([^"]*\)".*/  \1/'
  sent=$(grep '"kind":"call"' "$work/bulk.json" | grep '"lane":"client"' | grep -o '"op":"send[a-z]*"[^}]*"ret":[0-9]*' | grep -o '"ret":[0-9]*' | awk -F: '{s+=$2} END{print s+0}')
  # The stream the capture holds: the client's data segments sorted by
  # offset, with any gap between them; and the transfer's duration on the wire.
  client=$(grep -m1 '"op":"connect"' "$work/bulk.json" | grep -o '"local":"[^"]*"' | cut -d'"' -f4)
  read -r captured gaps < <(grep '"kind":"packet"' "$work/bulk.json" | grep "\"src\":\"$client\"" |
    sed -n 's/.*"rseq":\([0-9]*\).*"len":\([0-9]*\).*/\1 \2/p' | awk '$2 > 0' | sort -n |
    awk 'BEGIN { end = 1 } { if ($1 > end) gaps++; if ($1 + $2 > end) end = $1 + $2 } END { printf "%d %d\n", end - 1, gaps }')
  read -r first last < <(grep '"kind":"packet"' "$work/bulk.json" | sed -n 's/.*"rel":\([0-9.e-]*\),.*/\1/p' | awk 'NR == 1 { f = $1 } { l = $1 } END { print f, l }')
  reordered=$(grep '"kind":"packet"' "$work/bulk.json" | grep -c '"analysis":\["out-of-order"' || true)
  awk -v a="$start" -v b="$end" -v s="$sent" -v c="$captured" -v g="$gaps" -v f="$first" -v l="$last" -v o="$reordered" 'BEGIN{
    printf "  wall time %.2f s, of which the transfer on the wire %.2f s: %.0f MB/s\n", b-a, l-f, s/(l-f)/1e6
    printf "  sent %d bytes; the capture holds bytes 1 to %d with %d gaps: %s (%d segments captured out of order)\n", s, c, g, (s==c && g==0 ? "all of it" : "DATA MISSING"), o
  }'
fi
