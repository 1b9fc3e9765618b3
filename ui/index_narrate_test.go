package ui

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// fakeNarrator narrates what it is asked as a replay's narrator would,
// in words that name each event: "frame N", "state after N", "inferred
// at N". It waits for release before answering when gate is set.
type fakeNarrator struct {
	mu      sync.Mutex
	queries []NarrateQuery
	gate    chan struct{}
}

func (f *fakeNarrator) narrate(q NarrateQuery) ([]trace.Event, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	var out []trace.Event
	t := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, n := range q.Frames {
		at := t.Add(time.Duration(n) * time.Microsecond)
		c := &trace.Call{Proto: "tcp", Start: at, Inferred: trace.InferredConnect, Frames: []int{n}}
		ev := trace.CallEvent(c)
		ev.Explain = fmt.Sprintf("inferred at %d", n)
		out = append(out, ev)
		ev = trace.PacketEvent(&trace.Packet{Frame: n, Time: at, Proto: "tcp", Conn: 1})
		ev.Explain = fmt.Sprintf("narrated frame %d", n)
		out = append(out, ev)
		ev = trace.StateEvent(&trace.StateChange{Time: at, Conn: 1, To: trace.StateEstablished, Source: trace.SourceInferred})
		ev.Explain = fmt.Sprintf("state after %d", n)
		out = append(out, ev)
	}
	for _, r := range q.Recorded {
		r.Explain = "about the note: " + r.Note.Text
		out = append(out, r)
	}
	return out, nil
}

func (f *fakeNarrator) asked() []NarrateQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]NarrateQuery(nil), f.queries...)
}

// bareStory is foreignStory without any narration, as a big file's
// timeline comes.
func bareStory(convs int) []trace.Event {
	evs := foreignStory(convs, 0)
	for i := range evs {
		evs[i].Explain = ""
	}
	return evs
}

// TestIndexNarratesTheSelectedRowOffTheUIGoroutine: an index that keeps
// no narration makes it again when a row is selected: the detail pane
// says "…" while the narrator works (and the keys still move the
// selection), then the packet's narration and its state change's. The
// narrator is asked for the row's connection, its frames in order; the
// other rows of that connection need no new query.
func TestIndexNarratesTheSelectedRowOffTheUIGoroutine(t *testing.T) {
	x := NewIndex()
	fn := &fakeNarrator{gate: make(chan struct{})}
	x.SetNarrator(fn.narrate)
	x.AddAll(bareStory(50))
	x.Flush()
	m := NewModel(Status{Source: "big.pcap", Where: "file"})
	m.SetIndex(x)
	h := startDashboard(t, m, Options{Replay: true}, 140, 50)
	defer h.stop()

	// Conversation 41 (connection 41): its rows start at 40*15; +3 is its
	// SYN-ACK (frame 402), which makes the server SYN_RECV and the client
	// ESTABLISHED.
	row := 40*15 + 3
	h.do(func() { h.d.moveTo(row) })
	h.waitFor("Frame 402", "What happened", "…")
	h.runes("j") // the keys work while the narrator does
	if r, _ := h.selected(); r != row+1 {
		t.Errorf("j while narrating: row %d selected, want %d", r, row+1)
	}
	h.runes("k")
	close(fn.gate)
	s := h.waitFor("narrated frame 402", "state after 402")
	if strings.Contains(s, "…") {
		t.Errorf("still pending once narrated:\n%s", s)
	}
	// The first row shown (connection 1's inferred connect) asked first.
	q := fn.asked()
	if len(q) != 2 || q[0].Conn != 1 || q[1].Conn != 41 || !reflect.DeepEqual(q[1].Frames, []int{401, 402, 403, 404, 405, 406, 407, 408, 409, 410}) {
		t.Fatalf("queries %+v, want connection 1's, then connection 41's frames 401–410", q)
	}
	// The inferred connect before the SYN (frame 401), and the last ACK:
	// narrated already.
	h.do(func() { h.d.moveTo(40 * 15) })
	h.waitFor("Inferred call", "inferred at 401")
	h.do(func() { h.d.moveTo(40*15 + 13) })
	h.waitFor("Frame 410", "narrated frame 410", "state after 410")
	if q := fn.asked(); len(q) != 2 {
		t.Errorf("%d queries, want 2: %+v", len(q), q[2:])
	}
	// The summary is narrated alone.
	h.do(func() { h.d.moveTo(40*15 + 14) })
	h.waitFor("Note (info)", "about the note: Connection 41: normal")
	if q := fn.asked(); len(q) != 3 || len(q[2].Recorded) != 1 || q[2].Recorded[0].Note == nil || len(q[2].Frames) != 0 {
		t.Errorf("queries %+v, want the note's alone last", q)
	}
}

// TestIndexNarrationCache: the narrations of the last few connections
// are kept; an older one is made again; a note is narrated alone; a
// narrator's error is said in the pane's words.
func TestIndexNarrationCache(t *testing.T) {
	x := NewIndex()
	fn := &fakeNarrator{}
	x.SetNarrator(fn.narrate)
	evs := bareStory(20)
	note := trace.NoteEvent(&trace.Note{Time: evs[len(evs)-1].Time(), Level: "warning", Text: "capture: damaged"})
	x.AddAll(append(evs, note))
	x.Flush()
	for c := range narratedConns + 1 {
		if got, _ := x.RowNarration(c*15 + 1); !reflect.DeepEqual(got, []string{fmt.Sprintf("narrated frame %d", c*10+1), fmt.Sprintf("state after %d", c*10+1)}) {
			t.Errorf("connection %d's SYN: %q", c+1, got)
		}
	}
	x.RowNarration(narratedConns*15 + 2) // the last one, kept
	if n := len(fn.asked()); n != narratedConns+1 {
		t.Errorf("%d queries, want %d", n, narratedConns+1)
	}
	x.RowNarration(1) // the first one, made again
	if n := len(fn.asked()); n != narratedConns+2 {
		t.Errorf("%d queries, want %d", n, narratedConns+2)
	}
	got, ok := x.RowNarration(x.Rows() - 1)
	if !ok || !reflect.DeepEqual(got, []string{"about the note: capture: damaged"}) {
		t.Errorf("the note: %q %v", got, ok)
	}
	if q := fn.asked(); q[len(q)-1].Conn != 0 || len(q[len(q)-1].Frames) != 0 || len(q[len(q)-1].Recorded) != 1 {
		t.Errorf("the note's query: %+v", q[len(q)-1])
	}

	y := NewIndex()
	y.SetNarrator(func(NarrateQuery) ([]trace.Event, error) { return nil, fmt.Errorf("read frame 3 again: file gone") })
	y.AddAll(bareStory(1))
	if got, _ := y.RowNarration(1); len(got) != 1 || !strings.Contains(got[0], "file gone") {
		t.Errorf("an error: %q", got)
	}
}

// TestIndexNarratesAVeryLongConnectionInPart: a connection of more
// packets than MaxNarratedFrames is narrated up to a little past the
// selected row; a row further into it than MaxNarratedFrames packets
// says that it is too long, without asking the narrator.
func TestIndexNarratesAVeryLongConnectionInPart(t *testing.T) {
	const n = MaxNarratedFrames + 500
	cli, srv := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:80")
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	x := NewIndex()
	fn := &fakeNarrator{}
	x.SetNarrator(fn.narrate)
	for f := 1; f <= n; f++ {
		src, dst := cli, srv
		if f%2 == 0 {
			src, dst = srv, cli
		}
		x.Add(trace.PacketEvent(&trace.Packet{Frame: f, Time: t0.Add(time.Duration(f) * time.Microsecond), Proto: "tcp", Src: src, Dst: dst,
			Flags: ".", RSeq: uint32(f), Win: 512, Conn: 1}))
	}
	x.Flush()
	got, _ := x.RowNarration(99) // frame 100
	if !reflect.DeepEqual(got, []string{"narrated frame 100", "state after 100"}) {
		t.Errorf("frame 100: %q", got)
	}
	q := fn.asked()
	if len(q) != 1 || len(q[0].Frames) < 100+narratedAhead || len(q[0].Frames) > 100+narratedAhead+2 || q[0].Frames[0] != 1 {
		t.Fatalf("asked for %d frames, want the first %d", len(q[0].Frames), 100+narratedAhead)
	}
	got, _ = x.RowNarration(n - 1)
	if len(got) != 1 || !strings.Contains(got[0], "too many to narrate here") || !strings.Contains(got[0], "--conn 1") {
		t.Errorf("the last frame: %q", got)
	}
	if len(fn.asked()) != 1 {
		t.Errorf("the narrator was asked for a row past MaxNarratedFrames: %d queries", len(fn.asked()))
	}
	got, _ = x.RowNarration(MaxNarratedFrames - 1) // the last that can be
	if len(fn.asked()) != 2 || !reflect.DeepEqual(got, []string{fmt.Sprintf("narrated frame %d", MaxNarratedFrames), fmt.Sprintf("state after %d", MaxNarratedFrames)}) {
		t.Errorf("frame %d: %q after %d queries", MaxNarratedFrames, got, len(fn.asked()))
	}
}
