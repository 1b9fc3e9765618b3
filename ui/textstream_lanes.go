package ui

import (
	"encoding/binary"
	"math/bits"

	"github.com/sockscope/sockscope/trace"
)

// epTable files the lanes of IPv4 endpoints as lanes.byEp does, for a
// flatStream to look them up without hashing an Endpoint: a key is one
// word, and a lookup reads one slot or a few neighbours. A foreign capture
// makes a lane for each client port; a long one finds them again when the
// ports come round, in a map of tens of thousands of endpoints.
type epTable struct {
	slots []epEntry // a power of two, at most half full; nil when empty
	n     int
	shift uint // 64 - log2(len(slots))

	// The entries looked up or filed last, by the top byte of their
	// slot's hash: a connection's rows look up its two ends again and
	// again, far apart in slots.
	recent [256]epEntry
}

type epEntry struct {
	key  uint64 // epKey; 0: an empty slot
	lane int
}

// epKey is an IPv4 endpoint as one word, never 0; ok is false for other
// endpoints (IPv6, IPv4-mapped IPv6, invalid).
func epKey(ep trace.Endpoint) (key uint64, ok bool) {
	a := ep.Addr()
	if !a.Is4() {
		return 0, false
	}
	a4 := a.As4()
	return 1<<48 | uint64(binary.BigEndian.Uint32(a4[:]))<<16 | uint64(ep.Port()), true
}

func hashKey(key uint64) uint64 { return key * 0x9e3779b97f4a7c15 }

// get is the lane filed under key, -1 if none.
func (t *epTable) get(key uint64) int {
	h := hashKey(key)
	r := &t.recent[h>>56]
	if r.key == key {
		return r.lane
	}
	if t.n == 0 {
		return -1
	}
	mask := uint64(len(t.slots) - 1)
	for i := h >> t.shift; ; i = (i + 1) & mask {
		switch e := &t.slots[i]; e.key {
		case key:
			*r = *e
			return e.lane
		case 0:
			return -1
		}
	}
}

// put files lane under key, in place of what was filed.
func (t *epTable) put(key uint64, lane int) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	h := hashKey(key)
	t.recent[h>>56] = epEntry{key, lane}
	mask := uint64(len(t.slots) - 1)
	for i := h >> t.shift; ; i = (i + 1) & mask {
		switch e := &t.slots[i]; e.key {
		case key:
			e.lane = lane
			return
		case 0:
			*e = epEntry{key, lane}
			t.n++
			return
		}
	}
}

func (t *epTable) grow() {
	old := t.slots
	n := max(2*len(old), 256)
	t.slots, t.n, t.shift = make([]epEntry, n), 0, uint(64-bits.TrailingZeros(uint(n)))
	for _, e := range old {
		if e.key != 0 {
			t.put(e.key, e.lane)
		}
	}
}

// reset empties t, keeping its room.
func (t *epTable) reset() {
	clear(t.slots)
	t.n = 0
	t.recent = [256]epEntry{}
}

// laneOfUnfiled is lanes.laneOfEndpoint of an endpoint byEp does not hold.
func (x *laneIndex) laneOfUnfiled(ep trace.Endpoint) int {
	// A socket bound to the wildcard address: packets show the real one.
	if i, ok := x.byPort[ep.Port()]; ok && ep.Port() != 0 {
		return i
	}
	// ICMP and other port-less packets: any lane at that address.
	if ep.Port() == 0 {
		for i, l := range x.lanes {
			if l.Endpoint.Addr() == ep.Addr() {
				return i
			}
		}
	}
	return -1
}
