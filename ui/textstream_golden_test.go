package ui

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockscope/sockscope/trace"
)

var update = flag.Bool("update", false, "rewrite the golden files of the streamed text under testdata/stream")

// streamCase is a timeline streamed flat with a small ladder limit.
type streamCase struct {
	name    string
	evs     []trace.Event
	explain bool // also with narration
}

// readEvents reads a JSON Lines timeline (sockscope's --format json).
func readEvents(t testing.TB, path string) []trace.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []trace.Event
	d := trace.NewDecoder(f)
	for {
		ev, err := d.Decode()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		evs = append(evs, ev)
	}
}

// shiftAll moves every time in evs by d (copies of the records).
func shiftAll(evs []trace.Event, d time.Duration) []trace.Event {
	out := make([]trace.Event, len(evs))
	for i, ev := range evs {
		if ev.Call != nil {
			c := *ev.Call
			c.Start = c.Start.Add(d)
			if !c.End.IsZero() {
				c.End = c.End.Add(d)
			}
			ev.Call = &c
		} else {
			shiftEvent(&ev, d)
		}
		out[i] = ev
	}
	return out
}

// streamCases are the timelines of the golden test: real runs of every
// scenario (calls, kernel states, overtaken returns, UDP, an ICMP error,
// IPv6), replays of foreign and odd captures, those runs one after another
// (the same conn ids, lane names and ports again), and generated ones.
func streamCases(t testing.TB) []streamCase {
	files, err := filepath.Glob(filepath.Join("testdata", "stream", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no timelines in testdata/stream: %v", err)
	}
	var cases []streamCase
	var runs, raw []trace.Event
	for _, f := range files {
		evs := readEvents(t, f)
		name := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		cases = append(cases, streamCase{name: name, evs: evs})
		raw = append(raw, evs...) // times jump back at each file
		if len(evs) > 0 {
			d := time.Duration(0)
			if len(runs) > 0 {
				d = runs[len(runs)-1].Time().Sub(evs[0].Time()) + 1500*time.Nanosecond
			}
			runs = append(runs, shiftAll(evs, d)...)
		}
	}
	cases = append(cases,
		streamCase{"all-runs", runs, true},
		streamCase{"all-unsorted", raw, false},
		streamCase{"echoes-reused-ports", echoesReusingPorts(60, 7), false},
		streamCase{"random-1", randomTimeline(1, 1500), true},
		streamCase{"random-2", randomTimeline(2, 1500), true},
	)
	return cases
}

// echoesReusingPorts is echoes(n) with the client ports cycling through k
// values, so that a conn id's endpoints were another conn's before.
func echoesReusingPorts(n, k int) []trace.Event {
	evs := echoes(n)
	for _, ev := range evs {
		fix := func(ep *netip.AddrPort) {
			if ep.Port() > 40000 {
				*ep = netip.AddrPortFrom(ep.Addr(), uint16(40000+int(ep.Port()-40000)%k))
			}
		}
		switch {
		case ev.Packet != nil:
			fix(&ev.Packet.Src)
			fix(&ev.Packet.Dst)
		case ev.State != nil:
			fix(&ev.State.Endpoint)
		case ev.Call != nil:
			fix(&ev.Call.Local)
		}
	}
	return evs
}

// randomTimeline is a generated timeline of n events in time order, with
// everything a stream may meet: recorded calls (some overtaken, some on
// wildcard addresses), inferred calls, TCP, UDP, ICMP errors quoting a
// datagram, other protocols and damaged frames, state changes that fold
// into their packet and some that do not, kernel states, notes of every
// level and topic, narration in English and Chinese, times that repeat,
// that end in exactly half a microsecond, that jump by hours.
func randomTimeline(seed uint64, n int) []trace.Event {
	r := rand.New(rand.NewPCG(seed, seed*7+1))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	addrs := []netip.Addr{
		netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("10.0.0.7"),
		netip.MustParseAddr("::1"), netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("0.0.0.0"),
	}
	ep := func() netip.AddrPort {
		port := uint16(40000 + r.IntN(12))
		switch r.IntN(10) {
		case 0:
			port = 0
		case 1:
			port = 12345
		}
		return netip.AddrPortFrom(addrs[r.IntN(len(addrs))], port)
	}
	states := []trace.State{"", trace.StateEstablished, trace.StateSynSent, trace.StateSynRecv, trace.StateFinWait1, trace.StateFinWait2,
		trace.StateTimeWait, trace.StateClosed, trace.StateCloseWait, trace.StateLastAck, trace.StateListen, trace.StateClosing}
	state := func() trace.State { return states[r.IntN(len(states))] }
	explain := func() string {
		switch r.IntN(6) {
		case 0:
			return "The client asks to connect. " + strings.Repeat("A SYN consumes one sequence number, and so does a FIN. ", r.IntN(3))
		case 1:
			return "客户端发出了 SYN：SYN_SENT，等待 SYN-ACK。" + strings.Repeat("SYN 占用一个序列号。", r.IntN(8))
		case 2:
			return fmt.Sprintf("event %d", r.IntN(1000))
		}
		return ""
	}
	ops := []trace.Op{trace.OpSocket, trace.OpBind, trace.OpListen, trace.OpAccept, trace.OpConnect, trace.OpSend, trace.OpRecv,
		trace.OpSendto, trace.OpRecvfrom, trace.OpShutdown, trace.OpClose, trace.OpSetsockopt}
	base := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	now := base
	var evs []trace.Event
	add := func(ev trace.Event) {
		ev.Explain = explain()
		evs = append(evs, ev)
	}
	for len(evs) < n {
		switch r.IntN(12) {
		case 0:
			now = now.Add(time.Duration(r.IntN(4000)) * 500 * time.Nanosecond) // whole and half microseconds
		case 1:
			now = now.Add(time.Duration(r.IntN(3)) * time.Hour)
		case 2:
			// stay: the same instant again
		default:
			now = now.Add(time.Duration(1 + r.IntN(20000)))
		}
		switch k := r.IntN(20); {
		case k < 3: // a recorded call
			c := &trace.Call{ID: len(evs) + 1, Lane: pick("client", "client2", "client10", "server", "server2", "host"), Op: ops[r.IntN(len(ops))],
				FD: 3 + r.IntN(5), Proto: pick("tcp", "udp"), Len: r.IntN(2000), Ret: r.IntN(100) - 1, Start: now, State: state()}
			if r.IntN(3) > 0 {
				c.Local = ep()
			}
			if r.IntN(2) == 0 {
				c.Remote = ep()
			}
			if r.IntN(6) == 0 {
				c.Errno = pick("ECONNREFUSED", "EADDRINUSE", "ECONNRESET")
			}
			if r.IntN(2) == 0 {
				c.Data = []byte(pick("hello", "bye\n", "\x00\x01binary", "[Sun Nov 22 03:01:32 2026] how are you?"))
			}
			switch r.IntN(4) {
			case 0: // no return known
			case 1:
				c.End = now // returned at once
			default:
				c.End = now.Add(time.Duration(r.IntN(60000))) // likely overtaken
			}
			add(trace.CallEvent(c))
		case k < 5: // an inferred call
			c := &trace.Call{Op: trace.OpConnect, Proto: "tcp", Local: ep(), Remote: ep(), Start: now,
				Inferred: pick(trace.InferredConnect, trace.InferredListen, trace.InferredClose, trace.InferredAbort)}
			add(trace.CallEvent(c))
		case k < 14: // a packet, maybe with the state changes it caused
			p := &trace.Packet{Frame: len(evs) + 1, Time: now, Src: ep(), Dst: ep(), Conn: r.IntN(9)}
			switch r.IntN(10) {
			case 0, 1:
				p.Proto = "udp"
				p.Len = r.IntN(1500)
			case 2:
				p.Proto = pick("icmp", "icmp6")
				p.Src, p.Dst = netip.AddrPortFrom(p.Src.Addr(), 0), netip.AddrPortFrom(p.Dst.Addr(), 0)
				p.Info = pick("port unreachable", "echo request", "")
				if r.IntN(2) == 0 {
					p.Quoted = [2]netip.AddrPort{ep(), ep()}
				}
				p.Conn = 0
			case 3:
				p.Proto = "other"
				p.Info = pick("ARP who-has 10.0.0.1", "")
				p.Error = pick("truncated IPv4 header", "")
				p.Conn = 0
			default:
				p.Proto = "tcp"
				p.Flags = pick("S", "S.", ".", "P.", "F.", "R.", "R", "FP.", "")
				p.RSeq, p.RAck = uint32(r.IntN(1<<20)), uint32(r.IntN(1<<20))
				p.Len = r.IntN(3) * r.IntN(1460)
				p.Win = r.IntN(65536)
				if r.IntN(20) == 0 {
					p.Error = "bad TCP option"
				}
			}
			add(trace.PacketEvent(p))
			for range r.IntN(4) {
				s := &trace.StateChange{Time: now, Endpoint: p.Src, Conn: p.Conn, From: state(), To: state(), Source: trace.SourceInferred}
				if r.IntN(2) == 0 {
					s.Endpoint = p.Dst
				}
				switch r.IntN(12) {
				case 0:
					s.Conn++ // another connection's: it does not fold
				case 1:
					s.Time = s.Time.Add(1) // later: it does not fold
				case 2:
					s.Source = trace.SourceKernel
				case 3:
					s.Endpoint = ep()
				}
				add(trace.StateEvent(s))
			}
		case k < 16: // a state change of its own
			s := &trace.StateChange{Time: now, Endpoint: ep(), Conn: r.IntN(9), From: state(), To: state(), Source: trace.Source(pick("kernel", "inferred"))}
			add(trace.StateEvent(s))
		default: // a note
			nt := &trace.Note{Time: now, Level: pick("info", "warning", "error"), Text: pick("capture: 3 packets", "the kernel says ESTABLISHED", "Connection 4: reset by the server"),
				Topic: pick(trace.TopicSummary, trace.TopicKernelDisagrees, ""), Conn: r.IntN(9)}
			add(trace.NoteEvent(nt))
			if r.IntN(3) == 0 {
				evs[len(evs)-1].Explain = nt.Text
			}
		}
	}
	return evs
}

// goldenStreamLimit makes every case flat but a few held events.
const goldenStreamLimit = 3

// TestTextStreamGolden: the flat rows of varied timelines, with and
// without narration, are exactly those kept in testdata/stream (made by
// the first, slower flatStream; -update rewrites them).
func TestTextStreamGolden(t *testing.T) {
	for _, c := range streamCases(t) {
		for _, explain := range []bool{false, true}[:1+b2i(c.explain)] {
			name := c.name + ".golden"
			if explain {
				name = c.name + ".explain.golden"
			}
			got := stream(t, c.evs, TextOptions{Explain: explain}, goldenStreamLimit)
			path := filepath.Join("testdata", "stream", name)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("%s: %s", name, firstDiff(got, string(want)))
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d:\n got  %q\n want %q", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}

// manyEndpoints is a long foreign timeline that outgrows every bound of a
// flatStream: more conn ids, (conn, endpoint) states and lanes than
// maxStreamKeys, so that its maps start afresh, with summaries that
// forget connections, and conns seen again after the lanes were reset.
func manyEndpoints() []trace.Event {
	var evs []trace.Event
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	ep := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(1024+i%50000))
	}
	for i := range 3 * maxStreamKeys / 2 {
		at := start.Add(time.Duration(i) * 1700 * time.Nanosecond)
		conn := 1 + i
		if i%5 == 4 {
			conn = 1 + i/3 // an older conn id with other endpoints
		}
		src, dst := ep(2*i), ep(2*i+1)
		proto, flags := "tcp", "S"
		if i%3 == 0 {
			proto, flags = "udp", ""
		}
		evs = append(evs, trace.PacketEvent(&trace.Packet{Time: at, Proto: proto, Src: src, Dst: dst, Flags: flags, Len: i % 7, Conn: conn}))
		if proto == "tcp" {
			evs = append(evs, trace.StateEvent(&trace.StateChange{Time: at, Endpoint: src, Conn: conn, From: trace.StateClosed, To: trace.StateSynSent, Source: trace.SourceInferred}))
		}
		// A state of an end no packet showed: kept apart from the conns.
		evs = append(evs, trace.StateEvent(&trace.StateChange{Time: at.Add(100), Endpoint: ep(3 * i), Conn: conn + 7, From: trace.StateListen, To: trace.StateSynRecv, Source: trace.SourceInferred}))
		if i%11 == 0 {
			evs = append(evs, trace.StateEvent(&trace.StateChange{Time: at.Add(200), Endpoint: src, Conn: conn, From: trace.StateSynSent, To: trace.StateEstablished, Source: trace.SourceKernel}))
		}
		if i%4 == 1 {
			evs = append(evs, trace.NoteEvent(&trace.Note{Time: at.Add(300), Level: "info", Text: "Connection done", Topic: trace.TopicSummary, Conn: conn - 1}))
		}
		if i%997 == 0 {
			evs = append(evs, trace.CallEvent(&trace.Call{Op: trace.OpConnect, Local: ep(2*i + 1), Start: at.Add(400), Inferred: trace.InferredListen}))
		}
	}
	return evs
}

// TestTextStreamBeyondItsBounds: a timeline that outgrows maxStreamKeys
// prints what the first flatStream printed (its SHA-256 and line count
// are kept in testdata/stream/many-endpoints.sum; the output is too big
// to keep).
func TestTextStreamBeyondItsBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 250000 events")
	}
	got := stream(t, manyEndpoints(), TextOptions{}, goldenStreamLimit)
	sum := fmt.Sprintf("%x %d\n", sha256.Sum256([]byte(got)), strings.Count(got, "\n"))
	path := filepath.Join("testdata", "stream", "many-endpoints.sum")
	if *update {
		if err := os.WriteFile(path, []byte(sum), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sum != string(want) {
		t.Errorf("output of %d lines: sum and line count %q, want %q", strings.Count(got, "\n"), sum, want)
	}
	// One row per packet, call, kernel state and note, after the heading.
	rows := 1
	for _, ev := range manyEndpoints() {
		if ev.State == nil || ev.State.Source == trace.SourceKernel {
			rows++
		}
	}
	if n := strings.Count(got, "\n"); n != rows {
		t.Errorf("%d lines, want %d", n, rows)
	}
}
