package ui

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
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
	benchmarkTextStream(b, echoes(1000), TextOptions{})
}

// BenchmarkTextStreamExplain: the same with the narration under each row.
func BenchmarkTextStreamExplain(b *testing.B) {
	evs := echoes(1000)
	for i := range evs {
		evs[i].Explain = fmt.Sprintf("Event %d: the client asks to connect; a SYN consumes one sequence number, and so does a FIN, so the next data byte is 1.", i)
	}
	benchmarkTextStream(b, evs, TextOptions{Explain: true})
}

// benchmarkTextStream streams evs round after round, each round later, as
// a longer capture would be; the records are moved in place (a record
// streamed in the previous round has long been printed).
func benchmarkTextStream(b *testing.B, evs []trace.Event, opts TextOptions) {
	base := make([]time.Time, len(evs))
	for i, ev := range evs {
		base[i] = ev.Time()
	}
	b.ReportAllocs()
	ts := NewTextStream(discard{}, opts, 16)
	i := 0
	for b.Loop() {
		k := i % len(evs)
		ev := evs[k]
		at := base[k].Add(time.Duration(i/len(evs)) * time.Second)
		switch {
		case ev.Packet != nil:
			ev.Packet.Time = at
		case ev.State != nil:
			ev.State.Time = at
		case ev.Call != nil:
			ev.Call.Start = at
		case ev.Note != nil:
			ev.Note.Time = at
		}
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

// TestRelTimesAsFmtPrintsThem: the time column is fmt's "%10.6f" of the
// seconds, rounding as the float rounds: halfway microseconds, seconds
// carried by the rounding, negative times, times past exactRelLimit, and
// relFormat's kept column as times go forth and back.
func TestRelTimesAsFmtPrintsThem(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ds := []time.Duration{0, 1, 499, 500, 501, 999, 1000, 1500, 2500, 999_999_499, 999_999_500, 999_999_501, time.Second,
		-1, -499, -500, -501, -time.Second, 9_999_999_999_500, exactRelLimit - 1, exactRelLimit, exactRelLimit + 500,
		445999244110978512, 1<<63 - 1, -1 << 63}
	for range 200000 {
		var d time.Duration
		switch r.IntN(4) {
		case 0:
			d = time.Duration(r.Int64N(int64(exactRelLimit)))
		case 1:
			d = time.Duration(r.Int64N(1e12))/1000*1000 + time.Duration(499+r.IntN(3))
		case 2:
			d = time.Duration(r.Int64N(1 << 62))
		default:
			d = time.Duration(r.Int64N(1e10))
		}
		ds = append(ds, d)
	}
	var rf relFormat
	for i, d := range ds {
		want := fmt.Sprintf("%10.6f", d.Seconds())
		if got := string(appendRel(nil, d)); got != want {
			t.Fatalf("appendRel(%d) = %q, want %q", int64(d), got, want)
		}
		if i > 0 && r.IntN(2) == 0 {
			d = ds[i-1] + time.Duration(r.IntN(3000)) // often the same second
			want = fmt.Sprintf("%10.6f", d.Seconds())
		}
		buf := []byte("x") // room for the copy of the whole column, or not
		if i%2 == 0 {
			buf = append(make([]byte, 0, 64), 'x')
		}
		if got := string(rf.append(buf, d)); got != "x"+want {
			t.Fatalf("relFormat.append(%d) after %d = %q, want %q", int64(d), int64(ds[max(i-1, 0)]), got, "x"+want)
		}
	}
}

// TestExplainWrapsAsTextDoes: the flat stream's narration is wrapped as
// writeExplain wraps it, for English, Chinese, runs of spaces, words
// longer than a line, lines that end exactly at the margin, bad UTF-8.
func TestExplainWrapsAsTextDoes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pieces := []string{" ", "  ", "a", "word", "sequence", "number,", strings.Repeat("x", 90), "SYN", "占", "用一个序列号。", "，", "é", "\xff", "\t", "\n", "ｱ"}
	texts := []string{"", " ", "   ", "a", strings.Repeat("abcd ", 40), strings.Repeat("ab ", 43), strings.Repeat("字", 50), strings.Repeat(" ", 100) + "x"}
	for range 5000 {
		var sb strings.Builder
		for range r.IntN(60) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		texts = append(texts, sb.String())
	}
	for _, text := range texts {
		var want bytes.Buffer
		bw := bufio.NewWriter(&want)
		writeExplain(bw, []string{text})
		bw.Flush()
		f := &flatStream{buf: []byte("x")}
		f.writeExplain(text)
		if got := string(f.buf); got != "x"+want.String() {
			t.Fatalf("narration %q:\n%q\nwant\n%q", text, got, "x"+want.String())
		}
	}
}

// TestLaneLabelsAsTheLadderMakesThem: the flat stream's own appender
// makes the lane labels the ladder makes.
func TestLaneLabelsAsTheLadderMakesThem(t *testing.T) {
	for _, l := range []Lane{{Name: "client"}, {Name: "server", Endpoint: server}, {Name: "127.0.0.1:12345", Endpoint: server},
		{Name: "host", Endpoint: netip.MustParseAddrPort("[fe80::1%eth0]:80")}, {Name: "h", Endpoint: netip.MustParseAddrPort("[::ffff:10.0.0.1]:0")}, {}} {
		if got := string(appendLabel([]byte("x"), l)); got != "x"+l.Label() {
			t.Errorf("appendLabel(%+v) = %q, want %q", l, got, "x"+l.Label())
		}
	}
}

// TestTextStreamWriteError: with a failing writer, a long stream says so.
func TestTextStreamWriteError(t *testing.T) {
	ts := NewTextStream(failWriter{}, TextOptions{}, 3)
	var err error
	for _, ev := range echoes(2000) {
		if err = ts.Event(ev); err != nil {
			break
		}
	}
	if err == nil {
		err = ts.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("error %v, want the writer's", err)
	}
}

type failWriter struct{}

func (failWriter) Write(p []byte) (int, error) { return 0, errors.New("disk full") }

// TestTextStreamRecordsAreEvents: Call, Packet, State and Note print what
// Event prints of the same one-record events, before and past the limit,
// with and without narrations shown (a narration given to Event is printed
// under its row; the records carry none).
func TestTextStreamRecordsAreEvents(t *testing.T) {
	evs := echoes(60)
	for _, opts := range []TextOptions{{}, {Explain: true}} {
		for _, limit := range []int{50, 10000} {
			var byRecord strings.Builder
			ts := NewTextStream(&byRecord, opts, limit)
			for _, ev := range evs {
				var err error
				switch {
				case ev.Call != nil:
					err = ts.Call(ev.Call)
				case ev.Packet != nil:
					err = ts.Packet(ev.Packet)
				case ev.State != nil:
					err = ts.State(ev.State)
				case ev.Note != nil:
					err = ts.Note(ev.Note)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := ts.Close(); err != nil {
				t.Fatal(err)
			}
			want := stream(t, evs, opts, limit)
			if byRecord.String() != want {
				t.Errorf("options %+v, limit %d: by record\n%s\nby event\n%s", opts, limit, byRecord.String(), want)
			}
			if !strings.Contains(want, "Connection 60") {
				t.Errorf("options %+v, limit %d: the last summary is missing", opts, limit)
			}
		}
	}
	// Narrated events and records mixed: a record's row has no narration,
	// an event's has its own.
	narrated := echoes(40)
	for i := range narrated {
		if i%3 == 0 {
			narrated[i].Explain = fmt.Sprintf("event %d explained", i)
		}
	}
	var mixed strings.Builder
	ts := NewTextStream(&mixed, TextOptions{Explain: true}, 20)
	for _, ev := range narrated {
		var err error
		switch {
		case ev.Explain != "":
			err = ts.Event(ev)
		case ev.Packet != nil:
			err = ts.Packet(ev.Packet)
		case ev.State != nil:
			err = ts.State(ev.State)
		default:
			err = ts.Event(ev)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if want := stream(t, narrated, TextOptions{Explain: true}, 20); mixed.String() != want {
		t.Errorf("mixed:\n%s\nwant\n%s", mixed.String(), want)
	}
}
