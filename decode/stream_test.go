package decode

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sockscope/sockscope/decode/narrate"
	"github.com/sockscope/sockscope/trace"
)

// jsonLines renders events as sockscope's JSON Lines.
func jsonLines(tb testing.TB, evs []trace.Event) []string {
	tb.Helper()
	var buf bytes.Buffer
	enc := trace.NewEncoder(&buf, time.Time{})
	for _, ev := range evs {
		if err := enc.Encode(ev); err != nil {
			tb.Fatal(err)
		}
	}
	if err := enc.Flush(); err != nil {
		tb.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

// streamed feeds a story's frames and recorded events to a Stream, the
// recorded ones as a pcapng file stores them (each with the first frame
// captured at or after it), and returns what comes out.
func streamed(tb testing.TB, s *story, opts StreamOptions) ([]trace.Event, *Stream) {
	tb.Helper()
	fs := timedFrames(tb, s.segs)
	var recorded []trace.Event
	for _, c := range s.calls {
		recorded = append(recorded, trace.CallEvent(c))
	}
	recorded = append(recorded, s.extra...)
	trace.SortEvents(recorded)
	var out []trace.Event
	st := NewStream(opts, func(ev trace.Event) error { out = append(out, ev); return nil })
	ri := 0
	for i := range fs {
		for ri < len(recorded) && (!recorded[ri].Time().After(fs[i].Time) || i == len(fs)-1) {
			if err := st.Record(recorded[ri]); err != nil {
				tb.Fatal(err)
			}
			ri++
		}
		if err := st.Frame(&fs[i]); err != nil {
			tb.Fatal(err)
		}
	}
	for ; ri < len(recorded); ri++ {
		st.Record(recorded[ri])
	}
	if err := st.Close(); err != nil {
		tb.Fatal(err)
	}
	return out, st
}

func sameLines(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d lines, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("line %d:\n stream %s\n whole  %s", i+1, got[i], want[i])
		}
	}
}

// TestStreamOfTheEchoTutorialIsAnnotate: a short capture with its calls
// comes out of a Stream exactly as Annotate makes it of the whole, in both
// languages.
func TestStreamOfTheEchoTutorialIsAnnotate(t *testing.T) {
	for _, lang := range []narrate.Lang{narrate.English, narrate.Chinese} {
		s := echoStory(t)
		want := jsonLines(t, Annotate(s.timeline(), AnnotateOptions{Lang: lang}))
		got, _ := streamed(t, s, StreamOptions{AnnotateOptions: AnnotateOptions{Lang: lang}})
		sameLines(t, jsonLines(t, got), want)
	}
}

// manyConversations is a capture of n conversations on one 4-tuple, one
// after the other: echoes, refused connects, resets, half-closes, and
// every tenth a long transfer with a retransmission and duplicate ACKs.
func manyConversations(tb testing.TB, n int) *story {
	s := newStory(tb)
	for i := range n {
		switch i % 5 {
		case 0, 1:
			s.c("S", "").s("S.", "").c(".", "").c("P.", "hello").s(".", "").s("P.", "hello").c(".", "")
			s.c("F.", "").s("F.", "").c(".", "")
		case 2:
			s.c("S", "").s("R.", "")
		case 3:
			s.c("S", "").s("S.", "").c(".", "").c("P.", "bye").s("R.", "")
		case 4:
			s.c("S", "").s("S.", "").c(".", "").c("F.", "").s(".", "")
			s.s("P.", "still talking").c(".", "").s("F.", "").c(".", "")
		}
		if i%10 == 9 {
			s.c("S", "").s("S.", "").c(".", "")
			for k := range 60 {
				s.c("P.", strings.Repeat("x", 100))
				if k%20 == 10 {
					// The segment is sent again: a retransmission.
					s.cseq -= 100
					s.c("P.", strings.Repeat("x", 100))
				}
				s.s(".", "")
			}
			s.c("F.", "").s("F.", "").c(".", "")
		}
		s.at += 50 * time.Millisecond
	}
	return s
}

// TestStreamInPiecesIsAnnotate: a capture many times the window, cut into
// dozens of pieces, connections long and short crossing the cuts, comes
// out exactly as Annotate makes it of the whole: analysis flags, states,
// inferred calls, summaries and narration.
func TestStreamInPiecesIsAnnotate(t *testing.T) {
	s := manyConversations(t, 40)
	opts := AnnotateOptions{InferCalls: true}
	want := jsonLines(t, Annotate(s.timeline(), opts))
	got, st := streamed(t, s, StreamOptions{AnnotateOptions: opts, Window: 64})
	if len(want) < 20*64 {
		t.Fatalf("only %d events: the test wants many pieces", len(want))
	}
	sameLines(t, jsonLines(t, got), want)
	if st.ForcedCuts() != 0 {
		t.Errorf("%d forced cuts in a capture without calls", st.ForcedCuts())
	}
}

// TestStreamOfCallsInPiecesIsAnnotate: tutorial sessions with their calls,
// one after the other, cut into pieces between them.
func TestStreamOfCallsInPiecesIsAnnotate(t *testing.T) {
	s := echoStory(t)
	for range 20 {
		next := echoStory(t)
		shift := s.at + 10*time.Millisecond
		for _, sg := range next.segs {
			s.segs = append(s.segs, timed{sg.at + shift, sg.s})
		}
		for _, c := range next.calls {
			c.ID += len(s.calls)
			c.Start, c.End = c.Start.Add(shift), c.End.Add(shift)
		}
		s.calls = append(s.calls, next.calls...)
		s.at += next.at + 10*time.Millisecond
	}
	want := jsonLines(t, Annotate(s.timeline(), AnnotateOptions{}))
	got, st := streamed(t, s, StreamOptions{Window: 32})
	sameLines(t, jsonLines(t, got), want)
	if st.ForcedCuts() != 0 {
		t.Errorf("%d forced cuts between whole sessions", st.ForcedCuts())
	}
}

// TestStreamForgetsFinishedConnections: after thousands of connections,
// the stream and its decoder hold a handful.
func TestStreamForgetsFinishedConnections(t *testing.T) {
	s := manyConversations(t, 2000)
	n := 0
	_, st := streamed(t, s, StreamOptions{AnnotateOptions: AnnotateOptions{NoExplain: true, InferCalls: true}, Window: 256})
	for _, c := range st.d.conns {
		if c != nil {
			n++
		}
	}
	if st.a.conns.len() > 0 || n > 0 || len(st.d.byKey) > 0 {
		t.Errorf("after Close: annotator keeps %d connections, decoder %d (%d tuples)", st.a.conns.len(), n, len(st.d.byKey))
	}
	// While it streams, what it keeps is bounded by the window.
	s2 := manyConversations(t, 2000)
	fs := timedFrames(t, s2.segs)
	st2 := NewStream(StreamOptions{AnnotateOptions: AnnotateOptions{NoExplain: true}, Window: 256}, func(trace.Event) error { return nil })
	most := 0
	for i := range fs {
		st2.Frame(&fs[i])
		most = max(most, st2.a.conns.len(), len(st2.d.byKey), len(st2.buf))
	}
	if most > 3*256 {
		t.Errorf("the stream held up to %d connections or events with a window of 256", most)
	}
}

// TestInferredCalls: a capture without calls shows, before the segments
// that imply them, connect() for the SYN, the listening socket for the
// SYN-ACK, close() for each FIN and an abortive close for a RST, each
// marked inferred and narrated as such; a retransmitted SYN implies
// nothing new; a capture with calls gets none.
func TestInferredCalls(t *testing.T) {
	s := newStory(t)
	s.c("S", "")
	s.cseq--
	s.c("S", "") // the SYN again
	s.s("S.", "").c(".", "").c("P.", "hi").s(".", "").c("F.", "").s("F.", "").c(".", "")
	s.at += time.Second
	s.c("S", "").s("R.", "")
	evs := Annotate(s.timeline(), AnnotateOptions{InferCalls: true})
	type inferred struct {
		what  string
		op    trace.Op
		local trace.Endpoint
		frame int
	}
	var got []inferred
	for i, ev := range evs {
		c := ev.Call
		if c == nil {
			continue
		}
		if c.Inferred == "" || c.ID != 0 || len(c.Frames) != 1 {
			t.Fatalf("call %+v: want an inferred call with one frame", c)
		}
		if i+1 >= len(evs) || evs[i+1].Packet == nil || evs[i+1].Packet.Frame != c.Frames[0] {
			t.Errorf("inferred %q is not right before its frame %d", c.Inferred, c.Frames[0])
		}
		if !strings.HasPrefix(ev.Explain, "Inferred, not recorded") {
			t.Errorf("inferred %q narrated as %q", c.Inferred, ev.Explain)
		}
		got = append(got, inferred{c.Inferred, c.Op, c.Local, c.Frames[0]})
	}
	want := []inferred{
		{trace.InferredConnect, trace.OpConnect, cliAP, 1},
		{trace.InferredListen, trace.OpListen, srvAP, 3},
		{trace.InferredClose, trace.OpClose, cliAP, 7},
		{trace.InferredClose, trace.OpClose, srvAP, 8},
		{trace.InferredConnect, trace.OpConnect, cliAP, 10},
		{trace.InferredAbort, trace.OpClose, srvAP, 11},
	}
	if len(got) != len(want) {
		t.Fatalf("inferred %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("inferred call %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, ev := range echoStory(t).annotated() {
		if ev.Call != nil && ev.Call.Inferred != "" {
			t.Errorf("a capture with recorded calls got an inferred %q", ev.Call.Inferred)
		}
	}
	for _, ev := range Annotate(s.timeline(), AnnotateOptions{}) {
		if ev.Call != nil {
			t.Errorf("without InferCalls: %q", ev.Call.Inferred)
		}
	}
}

// BenchmarkStream: a foreign capture of short conversations through a
// Stream, per frame: without narration (the text ladder) and with it
// (JSON).
func BenchmarkStream(b *testing.B) {
	s := manyConversations(b, 200)
	fs := timedFrames(b, s.segs)
	for _, tc := range []struct {
		name    string
		opts    AnnotateOptions
		release bool // as a replay does: frames shown are released
	}{
		{"text", AnnotateOptions{NoExplain: true, InferCalls: true}, false},
		{"text-released", AnnotateOptions{NoExplain: true, InferCalls: true}, true},
		{"json", AnnotateOptions{InferCalls: true}, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			st := NewStream(StreamOptions{AnnotateOptions: tc.opts}, func(trace.Event) error { return nil })
			var f trace.Frame
			i := 0
			for b.Loop() {
				f = fs[i%len(fs)]
				// Each round of the capture comes later than the last.
				f.Time = f.Time.Add(time.Duration(i/len(fs)) * time.Hour)
				if tc.release && i%1024 == 0 && i > 0 {
					st.Release(i - 1)
				}
				st.Frame(&f)
				i++
			}
			st.Close()
		})
	}
}
