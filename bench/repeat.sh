#!/usr/bin/env bash
# Runs every scenario N times in a row (the built binary, --format json) and
# reports, per scenario:
#
#   - exit statuses other than 0;
#   - the ladder's shape: the calls of each socket in order (op, and errno
#     when one), per lane, the sockets numbered in the order the lane first
#     used them (so that two threads of one server that take turns in
#     different orders keep one shape each; a socket is one socket() or
#     accept() to its close, whatever fd it had); and per connection or flow the
#     packets in order (direction and tcpdump flags, or protocol for UDP and
#     ICMP). Ports, fd numbers, times and payloads are left out. Distinct shapes are counted, and every shape
#     other than the most common one is printed as a diff against it;
#   - the peak RSS (/usr/bin/time -f %M: the largest of sockscope and the
#     child it waited for), min / median / max, and the mean of the first
#     and of the last 20 runs (flat memory: the same).
#
#   bench/repeat.sh                      # N=200, every scenario
#   N=20 bench/repeat.sh tcp-echo reset  # some scenarios, fewer runs
#
# bulk runs with BULK_BYTES (default 64K) so that its ladder is short.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200}
BULK_BYTES=${BULK_BYTES:-64K}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for tool in jq /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "repeat: $tool is needed (apt-get install jq time)" >&2; exit 2; }
done
CGO_ENABLED=0 go build -o "$work/sockscope" ./cmd/sockscope
bin="$work/sockscope"

scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  mapfile -t scenarios < <("$bin" list | awk '{print $1}')
fi

# shape FILE: the ladder's shape of one run's JSON Lines. A socket is what
# one socket() or accept() made, from then to its close: not its fd number,
# which the kernel reuses and which, with several threads, depends on how
# they interleaved.
shape() {
  jq -r -s '
    def tagged:
      # The kernel frees a closed fd during close and hands it out again
      # during socket or accept: so a close counts from its start, a new
      # fd from the end of the call that made it. (Ids, given as calls
      # start, are not enough: a socket() that started before another
      # thread'"'"'s close() can still get the fd that close freed.)
      map(
        if .op == "socket" then [{t: (.rel + .dur), k: "new", fd: .ret, c: .}]
        elif (.op | startswith("accept")) and .ret >= 0 then [{t: .rel, k: "use", fd: .fd, c: .}, {t: (.rel + .dur), k: "made", fd: .ret}]
        elif .op == "close" then [{t: .rel, k: "close", fd: .fd, c: .}]
        else [{t: .rel, k: "use", fd: .fd, c: .}] end
      ) | add // [] | sort_by(.t) |
      reduce .[] as $a ({fds: {}, n: 0, out: []};
        ($a.fd | tostring) as $k |
        if $a.k == "new" then
          if $a.fd >= 0 then .n += 1 | .fds[$k] = .n | .out += [$a.c + {sock: .n}]
          else .out += [$a.c + {sock: 0}] end
        elif $a.k == "made" then .n += 1 | .fds[$k] = .n
        else
          (if .fds[$k] == null then .n += 1 | .fds[$k] = .n else . end) |
          .out += [$a.c + {sock: .fds[$k]}] |
          if $a.k == "close" then del(.fds[$k]) else . end
        end) | .out | sort_by(.id);
    ([.[] | select(.kind == "call")] | tagged | group_by(.lane) | map(
      . as $calls | .[0].lane as $lane |
      (reduce ($calls[] | .sock) as $s ([]; if index([$s]) then . else . + [$s] end)) |
      to_entries | map(.value as $s |
        "lane " + $lane + " socket " + (.key + 1 | tostring) + ": " +
        ([$calls[] | select(.sock == $s) | .op + (if .errno != "" then "=" + .errno else "" end)] | join(" ")))
    ) | .[][]),
    ([.[] | select(.kind == "packet")] | group_by(.conn) | map(
      .[0].src as $first |
      "conn " + (.[0].conn | tostring) + " (" + .[0].proto + "): " +
      (map((if .src == $first then ">" else "<" end) + (if .proto == "tcp" then .flags else .proto end)) | join(" "))
    ) | .[])
  ' "$1"
}

printf '%-16s %5s %6s %7s  %s\n' scenario runs fails shapes "peak RSS KiB: min median max, mean first/last 20"
for sc in "${scenarios[@]}"; do
  dir="$work/$sc"
  mkdir -p "$dir"
  extra=()
  [ "$sc" = bulk ] && extra=(--bytes "$BULK_BYTES")
  fails=0
  : >"$dir/rss"
  for i in $(seq "$N"); do
    if ! /usr/bin/time -f %M -o "$dir/time" "$bin" run "$sc" --format json "${extra[@]}" >"$dir/out.json" 2>"$dir/err"; then
      fails=$((fails + 1))
      cp "$dir/out.json" "$dir/failed-$i.json"
      cp "$dir/err" "$dir/failed-$i.err"
    fi
    tail -n 1 "$dir/time" >>"$dir/rss"
    shape "$dir/out.json" >"$dir/shape"
    h=$(md5sum <"$dir/shape" | cut -c1-12)
    [ -f "$dir/shape.$h" ] || cp "$dir/shape" "$dir/shape.$h"
    echo "$h" >>"$dir/hashes"
  done
  nshapes=$(sort -u "$dir/hashes" | wc -l)
  rss=$(sort -n "$dir/rss" | awk '{a[NR]=$1} END {printf "%d %d %d", a[1], a[int((NR+1)/2)], a[NR]}')
  firstlast=$(awk -v n="$N" '{a[NR]=$1} END {k=(n<20?n:20); f=0; l=0; for(i=1;i<=k;i++){f+=a[i]; l+=a[NR-k+i]} printf "%.0f/%.0f", f/k, l/k}' "$dir/rss")
  printf '%-16s %5d %6d %7d  %s, %s\n' "$sc" "$N" "$fails" "$nshapes" "$rss" "$firstlast"
  if [ "$nshapes" -gt 1 ] || [ "$fails" -gt 0 ]; then
    common=$(sort "$dir/hashes" | uniq -c | sort -rn | head -n 1 | awk '{print $2}')
    {
      echo "== $sc: the most common shape ($(grep -c "$common" "$dir/hashes") of $N runs):"
      sed 's/^/    /' "$dir/shape.$common"
      sort "$dir/hashes" | uniq -c | sort -rn | tail -n +2 | while read -r count h; do
        echo "-- $count run(s) differ from it:"
        diff "$dir/shape.$common" "$dir/shape.$h" | grep '^[<>]' | sed 's/^/    /' || true
      done
      for f in "$dir"/failed-*.err; do
        [ -e "$f" ] && { echo "-- failed run ${f##*/failed-}: $(tr '\n' ' ' <"$f")"; } || true
      done
    } >>"$work/details"
  fi
done
[ -f "$work/details" ] && { echo; cat "$work/details"; }
exit 0
