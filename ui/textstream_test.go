package ui

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// stream prints events through a TextStream.
func stream(t *testing.T, evs []trace.Event, opts TextOptions, limit int) string {
	t.Helper()
	var sb strings.Builder
	ts := NewTextStream(&sb, opts, limit)
	for _, ev := range evs {
		if err := ts.Event(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// TestTextStreamOfAShortTimelineIsTheLadder: within the limit, a
// TextStream prints exactly what WriteText prints of the whole Layout, with
// and without narration.
func TestTextStreamOfAShortTimelineIsTheLadder(t *testing.T) {
	evs := handshake()
	for i := range evs {
		evs[i].Explain = fmt.Sprintf("event %d explained", i)
	}
	for _, opts := range []TextOptions{{}, {Explain: true}, {MaxLanes: 1}} {
		var want strings.Builder
		if err := WriteText(&want, Layout(evs), opts); err != nil {
			t.Fatal(err)
		}
		if got := stream(t, evs, opts, 0); got != want.String() {
			t.Errorf("options %+v:\n%s\nwant\n%s", opts, got, want.String())
		}
	}
}

// echoes is a foreign capture of n short connections from different client
// ports to one server: inferred calls, the handshake with its state
// changes, a request, the close, the summary.
func echoes(n int) []trace.Event {
	var evs []trace.Event
	us := 0
	for c := 1; c <= n; c++ {
		cli := netip.AddrPortFrom(client.Addr(), uint16(40000+c))
		pk := func(src, dst netip.AddrPort, flags string, seq, ack uint32, length int, states ...trace.State) {
			us += 10
			p := &trace.Packet{Frame: len(evs) + 1, Time: at(us), Proto: "tcp", Src: src, Dst: dst, Flags: flags, RSeq: seq, RAck: ack, Len: length, Win: 512, Conn: c}
			evs = append(evs, trace.PacketEvent(p))
			for k := 0; k+1 < len(states); k += 2 {
				ep := src
				if k > 0 {
					ep = dst
				}
				evs = append(evs, trace.StateEvent(&trace.StateChange{Time: p.Time, Endpoint: ep, Conn: c, From: states[k], To: states[k+1], Source: trace.SourceInferred}))
			}
		}
		evs = append(evs, trace.CallEvent(&trace.Call{Op: trace.OpConnect, Proto: "tcp", Local: cli, Remote: server, Start: at(us + 10), Inferred: trace.InferredConnect}))
		pk(cli, server, "S", 0, 0, 0, trace.StateClosed, trace.StateSynSent)
		pk(server, cli, "S.", 0, 1, 0, trace.StateListen, trace.StateSynRecv, trace.StateSynSent, trace.StateEstablished)
		pk(cli, server, ".", 1, 1, 0, "", "", trace.StateSynRecv, trace.StateEstablished)
		pk(cli, server, "P.", 1, 1, 5)
		pk(server, cli, "F.", 1, 6, 0, trace.StateEstablished, trace.StateFinWait1, trace.StateEstablished, trace.StateCloseWait)
		evs = append(evs, trace.NoteEvent(&trace.Note{Time: at(us), Level: "info", Text: fmt.Sprintf("Connection %d: still open", c), Topic: trace.TopicSummary, Conn: c}))
	}
	return evs
}

// TestTextStreamOfALongTimelineIsOneLinePerEvent: past the limit, it says
// so and prints one line per event as they come: each packet once, with the
// states after it (its state changes folded in), inferred calls on the
// sender's lane, summaries; the rows are those of the flat ladder.
func TestTextStreamOfALongTimelineIsOneLinePerEvent(t *testing.T) {
	evs := echoes(50)
	got := stream(t, evs, TextOptions{}, 100)
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if !strings.Contains(lines[0], "more than 100 events") || !strings.Contains(lines[0], "one line per event") {
		t.Errorf("first line %q does not say why there is no ladder", lines[0])
	}
	// The flat rows of the whole Layout are the reference.
	var flat strings.Builder
	if err := WriteText(&flat, Layout(evs), TextOptions{MaxLanes: 1}); err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(flat.String(), "\n"), "\n")
	if len(lines)-1 != len(want) {
		t.Fatalf("%d rows streamed, the flat ladder has %d", len(lines)-1, len(want))
	}
	for i, w := range want {
		if lines[i+1] != w {
			t.Errorf("row %d:\n stream %s\n flat   %s", i+1, lines[i+1], w)
		}
	}
	for _, w := range []string{
		"  0.000000  client 127.0.0.1:40001: connect() called (inferred)",
		"  0.000000  client 127.0.0.1:40001 → server 127.0.0.1:12345  S seq=0 win=512  [SYN_SENT | ?]",
		"  0.000010  server 127.0.0.1:12345 → client 127.0.0.1:40001  S. seq=0 ack=1 win=512  [SYN_RECV | ESTABLISHED]",
		"  0.000040  server 127.0.0.1:12345 → client 127.0.0.1:40001  F. seq=1 ack=6  [FIN_WAIT1 | CLOSE_WAIT]",
		"  0.000040  ── Connection 1: still open",
	} {
		if !strings.Contains(got, w+"\n") {
			t.Errorf("missing row %q", w)
		}
	}
}

// BenchmarkTextStream: the flat rows of a long foreign capture, per event.
func BenchmarkTextStream(b *testing.B) {
	evs := echoes(1000)
	for i := range evs {
		_ = evs[i].Time()
	}
	b.ReportAllocs()
	ts := NewTextStream(discard{}, TextOptions{}, 16)
	i := 0
	for b.Loop() {
		ev := evs[i%len(evs)]
		// Each round comes later, as a longer capture would.
		shiftEvent(&ev, time.Duration(i/len(evs))*time.Second)
		ts.Event(ev)
		i++
	}
	ts.Close()
}

func shiftEvent(ev *trace.Event, d time.Duration) {
	switch {
	case ev.Packet != nil:
		p := *ev.Packet
		p.Time = p.Time.Add(d)
		ev.Packet = &p
	case ev.State != nil:
		s := *ev.State
		s.Time = s.Time.Add(d)
		ev.State = &s
	case ev.Call != nil:
		c := *ev.Call
		c.Start = c.Start.Add(d)
		ev.Call = &c
	case ev.Note != nil:
		n := *ev.Note
		n.Time = n.Time.Add(d)
		ev.Note = &n
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
