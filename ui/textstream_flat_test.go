package ui

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// TestEpTableIsAMap: what epTable files, through its growth and reset, is
// what a map holds.
func TestEpTableIsAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var tab epTable
	m := map[uint64]int{}
	for round := range 3 {
		for i := range 50000 {
			key := 1<<48 | uint64(r.IntN(1<<20))
			if r.IntN(3) == 0 {
				tab.put(key, i)
				m[key] = i
			}
			want, ok := m[key]
			if !ok {
				want = -1
			}
			if got := tab.get(key); got != want {
				t.Fatalf("round %d: get(%#x) = %d, want %d", round, key, got, want)
			}
		}
		if tab.n != len(m) {
			t.Fatalf("%d keys filed, the map has %d", tab.n, len(m))
		}
		tab.reset()
		clear(m)
	}
}

// TestFlatLanesAreTheLadders: a flatStream finds the lane of an endpoint
// (through eps, or epLanes) where laneOfEndpoint of a laneIndex given the
// same lanes (ref: every lane filed in byEp) finds it, for IPv4, IPv6 and
// IPv4-mapped endpoints, port-less ones, and sockets bound to the
// wildcard address; and after the lanes start afresh.
func TestFlatLanesAreTheLadders(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("::1"),
		netip.MustParseAddr("::ffff:127.0.0.1"), netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("fe80::1%eth0")}
	ep := func() trace.Endpoint {
		port := uint16(r.IntN(40))
		if port < 5 {
			port = 0
		}
		return netip.AddrPortFrom(addrs[r.IntN(len(addrs))], port)
	}
	f := newFlatStream(false, time.Unix(0, 0))
	ref := newLaneIndex(nil)
	for i := range 20000 {
		switch r.IntN(10) {
		case 0: // a recorded call files its program's socket
			c := &trace.Call{Lane: []string{"client", "server", "client2"}[r.IntN(3)], Local: ep(), Start: time.Unix(0, 0)}
			if got, want := f.callLane(c), ref.addProgramCall(c); got != want {
				t.Fatalf("step %d: lane of call %+v: %d, the ladder's %d", i, c, got, want)
			}
		case 1: // an inferred call's endpoint
			c := &trace.Call{Inferred: trace.InferredConnect, Local: ep()}
			if ref.laneOfEndpoint(c.Local) < 0 {
				ref.add(c.Local, "client")
			}
			f.callLane(c)
		case 2:
			if src := ep(); f.laneOfEndpoint(src) < 0 {
				f.addLane(src, "host")
				ref.add(src, "host")
			}
		}
		if len(f.lanes.lanes) != len(ref.lanes) {
			t.Fatalf("step %d: %d lanes, the ladder's %d", i, len(f.lanes.lanes), len(ref.lanes))
		}
		if i%5000 == 4999 {
			f.lanes.lanes = append(f.lanes.lanes, make([]Lane, maxStreamKeys)...)
			f.forgetConn(0) // the lanes start afresh
			ref = newLaneIndex(nil)
		}
		e := ep()
		if got, want := f.laneOfEndpoint(e), ref.laneOfEndpoint(e); got != want {
			t.Fatalf("step %d: lane of %v: %d, the ladder's %d", i, e, got, want)
		}
	}
}

// TestSinceStartIsSub: sinceStart.of(t) is t.Sub(start): near and far
// times, before the start, monotonic readings, overflow.
func TestSinceStartIsSub(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	starts := []time.Time{time.Unix(1700000000, 123456789), time.Unix(0, 0), {}, time.Now(), time.Now().Round(0),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(9999, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))}
	for _, start := range starts {
		s := newSinceStart(start)
		ts := []time.Time{start, {}, time.Now(), start.Add(1<<63 - 1), start.Add(-1 << 63), time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)}
		for range 20000 {
			d := time.Duration(r.Int64N(1<<62)) >> r.IntN(62)
			if r.IntN(2) == 0 {
				d = -d
			}
			ts = append(ts, start.Add(d).Round(0), start.Add(d), time.Unix(start.Unix()+r.Int64N(1<<34)-1<<33, r.Int64N(1e9)))
		}
		for _, tt := range ts {
			if got, want := s.of(tt), tt.Sub(start); got != want {
				t.Fatalf("start %v, t %v: %d, Sub says %d", start, tt, got, want)
			}
		}
	}
}

// TestPacketLabelsAsWrittenByFmt: AppendPacketLabel, which writes its
// numbers in place, writes what the same label written with fmt reads:
// every flag, lengths, sequence numbers that wrap, windows, errors, other
// protocols; and appendUint writes what strconv does.
func TestPacketLabelsAsWrittenByFmt(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	flags := []string{"S", "S.", ".", "P.", "F.", "R.", "R", "", "FP.", "SEW", "U.", "SF"}
	protos := []string{"tcp", "tcp", "tcp", "udp", "icmp", "other"}
	num := func() uint32 {
		switch r.IntN(3) {
		case 0:
			return uint32(r.IntN(20))
		case 1:
			return ^uint32(0) - uint32(r.IntN(20))
		}
		return r.Uint32()
	}
	for range 100000 {
		p := &trace.Packet{Proto: protos[r.IntN(len(protos))], Flags: flags[r.IntN(len(flags))], RSeq: num(), RAck: num(),
			Win: r.IntN(1<<17) - 10, Len: r.IntN(3000) - 10, Info: "echo request"}
		if r.IntN(10) == 0 {
			p.Error = "truncated"
		}
		if r.IntN(10) == 0 {
			p.Len = 1<<40 + r.IntN(100)
		}
		want := "x" + labelByFmt(p)
		if got := string(AppendPacketLabel([]byte("x"), p)); got != want {
			t.Fatalf("%+v: %q, want %q", p, got, want)
		}
	}
	for _, v := range []uint64{0, 9, 10, 99, 100, 101, 999, 1000, 1<<32 - 1, 1<<64 - 1, 1e19, 1e19 - 1} {
		if got, want := string(appendUint([]byte("x"), v)), string(strconv.AppendUint([]byte("x"), v, 10)); got != want {
			t.Errorf("appendUint(%d) = %q, want %q", v, got, want)
		}
	}
	for range 100000 {
		v := r.Uint64() >> r.IntN(64)
		if got, want := string(appendUint(nil, v)), strconv.FormatUint(v, 10); got != want {
			t.Fatalf("appendUint(%d) = %q, want %q", v, got, want)
		}
	}
}

// labelByFmt is PacketLabel written plainly, with fmt: tcpdump's flags,
// then seq (a range when there is data; alone on SYN, FIN or a segment
// without ACK), ack, win on SYN, len; UDP's length; other protocols by
// name and info; and the decoding error in brackets.
func labelByFmt(p *trace.Packet) string {
	var s string
	switch p.Proto {
	case "tcp":
		syn, fin, ack := strings.Contains(p.Flags, "S"), strings.Contains(p.Flags, "F"), strings.Contains(p.Flags, ".")
		s = p.Flags
		if p.Len > 0 {
			s += fmt.Sprintf(" seq=%d:%d", p.RSeq, p.RSeq+uint32(p.Len))
		} else if syn || fin || !ack {
			s += fmt.Sprintf(" seq=%d", p.RSeq)
		}
		if ack {
			s += fmt.Sprintf(" ack=%d", p.RAck)
		}
		if syn {
			s += fmt.Sprintf(" win=%d", p.Win)
		}
		if p.Len > 0 {
			s += fmt.Sprintf(" len=%d", p.Len)
		}
	case "udp":
		s = fmt.Sprintf("UDP len=%d", p.Len)
	default:
		s = strings.ToUpper(p.Proto)
		if p.Info != "" {
			s += " " + p.Info
		}
	}
	if p.Error != "" {
		s += " [" + p.Error + "]"
	}
	return s
}
