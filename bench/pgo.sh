#!/usr/bin/env bash
# Writes cmd/sockscope/default.pgo, the CPU profile that `go build` and
# `go run` use to optimise sockscope (profile-guided optimisation: hot calls
# inlined, interface calls devirtualised). The profile is of the replays
# bench/replay.sh times: text and JSON of a synthesised million-packet
# capture, and JSON with --explain (the narration) of a smaller one.
#
#   bench/pgo.sh         # then compare: INSTR=1 bench/replay.sh
#
# Run it again when the replay's hot code changed much: a stale profile
# only optimises less, it never changes what sockscope does.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The profiled binary is built without the current profile, so that the
# new one describes the code as written, not as last optimised.
go build -pgo=off -tags sockscope_cpuprofile -o "$work/sockscope" ./cmd/sockscope
go run ./cmd/mkcapture -n "$N" -o "$work/big.pcap"
go run ./cmd/mkcapture -n $((N / 5)) -o "$work/small.pcap"
profile() {
  local name=$1; shift
  SOCKSCOPE_CPUPROFILE="$work/$name.prof" "$work/sockscope" replay "$@" >/dev/null
}
profile text "$work/big.pcap" --format text
profile json "$work/big.pcap" --format json
profile explain "$work/small.pcap" --format json --explain
go tool pprof -proto "$work"/text.prof "$work"/json.prof "$work"/explain.prof >"$work/merged.pgo" 2>/dev/null
mv "$work/merged.pgo" cmd/sockscope/default.pgo
echo "wrote cmd/sockscope/default.pgo ($(du -k cmd/sockscope/default.pgo | cut -f1) KiB)"
