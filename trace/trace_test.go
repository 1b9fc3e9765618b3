package trace

import (
	"bytes"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 1, 2, 3, 4, time.UTC)

func sampleCall() *Call {
	return &Call{
		ID: 7, Lane: "client", Op: OpRecv, FD: 3,
		Local:  netip.MustParseAddrPort("127.0.0.1:50000"),
		Remote: netip.MustParseAddrPort("127.0.0.1:12345"),
		Proto:  "tcp", Len: 1024, Ret: 5, Data: []byte("he\x00l\\o\r\n"),
		Start: t0, End: t0.Add(1500 * time.Microsecond), State: StateEstablished, Line: 12,
	}
}

func TestEscapeRoundTripsEveryByte(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	s := EscapeData(all)
	for _, r := range s {
		if r < 0x20 || r >= 0x7f {
			t.Fatalf("escaped text holds non-printable %q", r)
		}
	}
	back, err := UnescapeData(s)
	if err != nil || !bytes.Equal(back, all) {
		t.Fatalf("round trip: err=%v equal=%v", err, bytes.Equal(back, all))
	}
	for _, bad := range []string{`\`, `\x4`, `\xzz`, `\q`} {
		if _, err := UnescapeData(bad); err == nil {
			t.Errorf("UnescapeData(%q) accepted bad input", bad)
		}
	}
}

func TestTimelineKeepsTimeOrderAndTies(t *testing.T) {
	var tl Timeline
	note := func(d time.Duration, text string) Event {
		return NoteEvent(&Note{Time: t0.Add(d), Text: text})
	}
	v0 := tl.Version()
	tl.Append(note(3, "c"), note(1, "a"))
	tl.Append(note(2, "b1"), note(2, "b2"), note(0, "first"))
	if tl.Version() == v0 {
		t.Fatal("version did not change on append")
	}
	var got []string
	for _, ev := range tl.Snapshot() {
		got = append(got, ev.Note.Text)
	}
	want := []string{"first", "a", "b1", "b2", "c"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
}

func TestJSONLinesRoundTrip(t *testing.T) {
	c := sampleCall()
	listen := &Call{ID: 2, Lane: "server", Op: OpListen, FD: 3, Backlog: 0, Start: t0, End: t0}
	p := &Packet{Frame: 1, Time: t0.Add(time.Millisecond), Proto: "tcp",
		Src: c.Local, Dst: c.Remote, Flags: "P.", Seq: 100, Ack: 200, RSeq: 1, RAck: 1,
		Win: 512, Options: "nop,nop,TS val 1 ecr 2", Len: 5, Payload: []byte("hello"), Conn: 1}
	icmp := &Packet{Frame: 2, Time: t0.Add(2 * time.Millisecond), Proto: "icmp",
		Src: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0), Dst: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0),
		Len: 28, Info: "port unreachable"}
	s := &StateChange{Time: t0.Add(time.Millisecond), Endpoint: c.Local, Conn: 1, From: StateEstablished, To: StateFinWait1, Source: SourceInferred}
	tw := &StateChange{Time: t0.Add(time.Millisecond), Endpoint: c.Local, Peer: c.Remote, From: StateFinWait2, To: StateTimeWait, Source: SourceKernel, TimeLeft: 59500 * time.Millisecond}
	n := &Note{Time: t0.Add(3 * time.Millisecond), Level: "warning", Text: "2 packets dropped"}
	evs := []Event{CallEvent(c), CallEvent(listen), PacketEvent(p), PacketEvent(icmp), StateEvent(s), StateEvent(tw), NoteEvent(n)}

	var buf bytes.Buffer
	enc := NewEncoder(&buf, time.Time{})
	for _, ev := range evs {
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("%d lines for %d events", len(lines), len(evs))
	}
	for _, want := range []string{`"kind":"call"`, `"errno":""`, `"rel":0,`, `"op":"recv"`, `"data":"he\\x00l\\\\o\\r\\n"`, `"end":"2026-11-22T01:02:03.001500004Z"`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("call line %s lacks %s", lines[0], want)
		}
	}
	if !strings.Contains(lines[1], `"backlog":0`) {
		t.Errorf("listen line lacks its backlog: %s", lines[1])
	}
	if !strings.Contains(lines[2], `"rel":0.001,`) || !strings.Contains(lines[2], `"flags":"P."`) {
		t.Errorf("packet line: %s", lines[2])
	}
	if strings.Contains(lines[3], `"flags"`) || !strings.Contains(lines[3], `"src":"127.0.0.1"`) {
		t.Errorf("icmp line has TCP fields or a port: %s", lines[3])
	}

	dec := NewDecoder(&buf)
	for i, want := range evs {
		got, err := dec.Decode()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("event %d:\n got %#v\nwant %#v", i, deref(got), deref(want))
		}
	}
	if _, err := dec.Decode(); err != io.EOF {
		t.Fatalf("after the last line: %v, want EOF", err)
	}
}

func deref(e Event) any {
	switch {
	case e.Call != nil:
		return *e.Call
	case e.Packet != nil:
		return *e.Packet
	case e.State != nil:
		return *e.State
	}
	return *e.Note
}

func TestCallCommentRoundTrip(t *testing.T) {
	c := sampleCall()
	c.Option = "SO_LINGER={1,0} ‖ odd" // the separator inside the summary must not confuse the parser
	s := CallComment(c)
	if !strings.HasPrefix(s, `sockscope call #7 client: recv(3, 1024) = 5 "he\x00l\\o\r\n"`) {
		t.Errorf("comment summary = %q", s)
	}
	got, ok, err := ParseCallComment(s)
	if !ok || err != nil {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("got %#v\nwant %#v", *got, *c)
	}
	if _, ok, _ := ParseCallComment("a user's own comment"); ok {
		t.Error("a foreign comment was taken for a call")
	}
	if _, ok, err := ParseCallComment("sockscope call #1 broken"); !ok || err == nil {
		t.Errorf("broken call comment: ok=%v err=%v", ok, err)
	}
}

func TestCallRendering(t *testing.T) {
	ep := netip.MustParseAddrPort("127.0.0.1:12345")
	for _, tc := range []struct {
		c    Call
		want string
	}{
		{Call{Op: OpSocket, Ret: 3}, "socket(AF_INET, SOCK_STREAM) = 3"},
		{Call{Op: OpConnect, FD: 3, Remote: ep, Ret: -1, Errno: "ECONNREFUSED"}, "connect(3, 127.0.0.1:12345) = -1 ECONNREFUSED"},
		{Call{Op: OpSend, FD: 3, Len: 5, Data: []byte("hello"), Ret: 5}, `send(3, "hello") = 5`},
		{Call{Op: OpRecv, FD: 4, Len: 1024, Ret: 0}, "recv(4, 1024) = 0 (peer closed)"},
		{Call{Op: OpAccept, FD: 3, Remote: ep, Ret: 4}, "accept(3) = 4 from 127.0.0.1:12345"},
		{Call{Op: OpListen, FD: 3, Backlog: 5}, "listen(3, 5) = 0"},
		{Call{Op: OpShutdown, FD: 3, How: "SHUT_WR"}, "shutdown(3, SHUT_WR) = 0"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestAttachCallsGoesWithTheNextFrame(t *testing.T) {
	frames := []Frame{{Time: t0.Add(10)}, {Time: t0.Add(20)}}
	calls := []*Call{
		{ID: 1, Op: OpSocket, Start: t0},               // before any frame: the first
		{ID: 3, Op: OpClose, Start: t0.Add(30)},        // after the last: the last
		{ID: 2, Op: OpConnect, Start: t0.Add(15)},      // between: the next frame
		{ID: 4, Op: OpSend, Start: t0.Add(20), Len: 1}, // at a frame's time: that frame
	}
	if n := AttachCalls(frames, calls); n != 0 {
		t.Fatalf("%d unattached", n)
	}
	ids := func(f Frame) (out []int) {
		for _, s := range f.Comments {
			c, ok, err := ParseCallComment(s)
			if !ok || err != nil {
				t.Fatalf("comment %q: ok=%v err=%v", s, ok, err)
			}
			out = append(out, c.ID)
		}
		return out
	}
	if got := ids(frames[0]); !reflect.DeepEqual(got, []int{1}) {
		t.Errorf("frame 1 holds calls %v", got)
	}
	if got := ids(frames[1]); !reflect.DeepEqual(got, []int{2, 4, 3}) {
		t.Errorf("frame 2 holds calls %v", got)
	}
	if n := AttachCalls(nil, calls); n != len(calls) {
		t.Errorf("without frames %d calls reported unattached", n)
	}
}

func TestJSONLinesCarryTheAnnotations(t *testing.T) {
	c := sampleCall()
	c.Bytes, c.Frames = [2]uint32{1, 6}, []int{4}
	p := &Packet{Frame: 4, Time: t0.Add(time.Millisecond), Proto: "tcp", Src: c.Local, Dst: c.Remote, Flags: "P.",
		RSeq: 1, RAck: 1, Len: 5, Conn: 1, Analysis: []string{AnalysisRetransmission}, Calls: []int{c.ID}, By: ByKernel}
	n := &Note{Time: t0.Add(2 * time.Millisecond), Level: "info", Text: "normal open and close", Topic: TopicSummary, Conn: 1}
	evs := []Event{CallEvent(c), PacketEvent(p), NoteEvent(n)}
	for i := range evs {
		evs[i].Explain = "narration " + string(evs[i].Kind)
	}
	var buf bytes.Buffer
	enc := NewEncoder(&buf, time.Time{})
	for _, ev := range evs {
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for i, want := range []string{`"bytes":[1,6],"frames":[4],"explain":"narration call"}`,
		`"analysis":["retransmission"],"calls":[7],"by":"kernel","explain":"narration packet"}`,
		`"topic":"summary","conn":1,"explain":"narration note"}`} {
		if !strings.HasSuffix(lines[i], want) {
			t.Errorf("line %d = %s\nwant it to end with %s", i+1, lines[i], want)
		}
	}
	dec := NewDecoder(&buf)
	for i, want := range evs {
		got, err := dec.Decode()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("event %d:\n got %#v\nwant %#v", i, deref(got), deref(want))
		}
	}
}

func TestRecordCommentsKeepKernelStatesAndNotes(t *testing.T) {
	local, peer := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:12345")
	state := StateEvent(&StateChange{Time: t0, Endpoint: local, Peer: peer, From: StateFinWait2, To: StateTimeWait, Source: SourceKernel, TimeLeft: 59900 * time.Millisecond})
	note := NoteEvent(&Note{Time: t0, Level: "error", Text: "scenario tcp-echo timed out after 5s"})
	call := sampleCall()
	call.Bytes, call.Frames = [2]uint32{1, 6}, []int{4}
	annotated := CallEvent(call)
	annotated.Explain = "narration is derived again on replay"
	for _, tc := range []struct {
		ev      Event
		summary string
	}{
		{state, "sockscope state 127.0.0.1:40000: FIN_WAIT2 → TIME_WAIT (kernel), 59.9 s left ‖ "},
		{note, "sockscope note error: scenario tcp-echo timed out after 5s ‖ "},
		{annotated, "sockscope call #7 client: recv(3, 1024)"},
	} {
		s, ok := RecordComment(tc.ev)
		if !ok || !strings.HasPrefix(s, tc.summary) {
			t.Errorf("comment %q, want it to start with %q", s, tc.summary)
			continue
		}
		got, ok, err := ParseRecordComment(s)
		if !ok || err != nil {
			t.Fatalf("parse %q: ok=%v err=%v", s, ok, err)
		}
		want := tc.ev
		if want.Call != nil {
			c := *want.Call
			c.Bytes, c.Frames = [2]uint32{}, nil
			want = CallEvent(&c)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", deref(got), deref(want))
		}
	}
	if _, ok := RecordComment(PacketEvent(&Packet{})); ok {
		t.Error("a packet was turned into a comment")
	}
}
