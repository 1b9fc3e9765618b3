package decode

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sockscope/sockscope/trace"
)

// mixedCapture is manyConversations' TCP frames with UDP flows among them
// (one that goes idle for longer than flowIdle and comes back), an ICMP
// port unreachable answering one, and a SYN nobody answers.
func mixedCapture(tb testing.TB) []trace.Frame {
	s := manyConversations(tb, 60)
	fs := timedFrames(tb, s.segs)
	end := fs[len(fs)-1].Time
	udp := func(src, dst trace.Endpoint, data string) []byte {
		return ipPacket(tb, src, dst, layers.IPProtocolUDP,
			&layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}, []byte(data))
	}
	add := func(at time.Time, b []byte) {
		d := withLink(tb, 1, b)
		fs = append(fs, trace.Frame{Time: at, LinkType: 1, Data: d, WireLen: len(d)})
	}
	srv := netipAP("127.0.0.1:5353")
	for i := range 40 {
		cli := netipAP(fmt.Sprintf("127.0.0.1:%d", 40000+i%7))
		at := t0.Add(time.Duration(i) * end.Sub(t0) / 40).Add(time.Microsecond)
		add(at, udp(cli, srv, "q"))
		add(at.Add(time.Microsecond), udp(srv, cli, "answer"))
	}
	idle := netipAP("127.0.0.1:41000")
	add(end.Add(time.Second), udp(idle, srv, "early"))
	dead := netipAP("127.0.0.1:9")
	quote := udp(idle, dead, "ping")
	add(end.Add(time.Minute+time.Millisecond), quote)
	add(end.Add(time.Minute+2*time.Millisecond), ipPacket(tb, netipAP("127.0.0.1:0"), netipAP("127.0.0.1:0"), layers.IPProtocolICMPv4,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, quote))
	slices.SortStableFunc(fs, func(a, b trace.Frame) int { return a.Time.Compare(b.Time) })
	return fs
}

// TestEagerStreamIsAnnotate: once a window passed without a recorded
// event, a Stream annotates frame by frame; what comes out is what
// Annotate makes of the whole capture, but that the summary of a UDP
// flow or an unfinished connection comes when the stream gives up on it,
// after its last packet.
func TestEagerStreamIsAnnotate(t *testing.T) {
	fs := mixedCapture(t)
	for _, opts := range []AnnotateOptions{{InferCalls: true}, {InferCalls: true, NoExplain: true}} {
		var whole []trace.Event
		d := NewDecoder()
		for i := range fs {
			whole = append(whole, d.Feed(&fs[i], i+1)...)
		}
		want := Annotate(whole, opts)
		var got []trace.Event
		st := NewStream(StreamOptions{AnnotateOptions: opts, Window: 64}, func(ev trace.Event) error { got = append(got, ev); return nil })
		for i := range fs {
			if err := st.Frame(&fs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if !st.eager {
			t.Fatal("the stream never went eager")
		}
		split := func(evs []trace.Event) (rest []trace.Event, sums map[int]string, at map[int]int) {
			sums, at = map[int]string{}, map[int]int{}
			for _, ev := range evs {
				if n := ev.Note; n != nil && n.Topic == trace.TopicSummary {
					sums[n.Conn] = n.Text + " | " + ev.Explain + " | " + n.Time.String()
					at[n.Conn] = len(rest)
					continue
				}
				rest = append(rest, ev)
			}
			return rest, sums, at
		}
		gotRest, gotSums, gotAt := split(got)
		wantRest, wantSums, _ := split(want)
		sameLines(t, jsonLines(t, gotRest), jsonLines(t, wantRest))
		if len(gotSums) != len(wantSums) || len(wantSums) < 50 {
			t.Fatalf("%d summaries, want %d (at least 50)", len(gotSums), len(wantSums))
		}
		lastOf := map[int]int{}
		for i, ev := range gotRest {
			if p := ev.Packet; p != nil && p.Conn != 0 {
				lastOf[p.Conn] = i
			}
		}
		udp := 0
		for conn, s := range wantSums {
			if gotSums[conn] != s {
				t.Errorf("connection %d: summary\n %s\nwant\n %s", conn, gotSums[conn], s)
			}
			if gotAt[conn] <= lastOf[conn] {
				t.Errorf("connection %d: its summary comes before its last packet", conn)
			}
		}
		for _, ev := range gotRest {
			if p := ev.Packet; p != nil && p.Proto == "udp" {
				udp++
			}
		}
		if udp < 80 {
			t.Fatalf("only %d UDP packets", udp)
		}
	}
}

// TestEagerStreamGivesUpIdleFlows: a UDP flow idle for longer than
// flowIdle is given up, its summary written; its next datagram starts a
// new flow, as it does in the window.
func TestEagerStreamGivesUpIdleFlows(t *testing.T) {
	fs := mixedCapture(t)
	end := fs[len(fs)-1].Time
	cli, srv := netipAP("127.0.0.1:42000"), netipAP("127.0.0.1:5353")
	b := withLink(t, 1, ipPacket(t, cli, srv, layers.IPProtocolUDP,
		&layers.UDP{SrcPort: layers.UDPPort(cli.Port()), DstPort: layers.UDPPort(srv.Port())}, []byte("x")))
	for _, at := range []time.Duration{time.Second, time.Second + time.Millisecond, time.Minute} {
		fs = append(fs, trace.Frame{Time: end.Add(at), LinkType: 1, Data: b, WireLen: len(b)})
	}
	var got []trace.Event
	st := NewStream(StreamOptions{AnnotateOptions: AnnotateOptions{InferCalls: true, NoExplain: true}, Window: 64},
		func(ev trace.Event) error { got = append(got, ev); return nil })
	for i := range fs {
		st.Frame(&fs[i])
	}
	st.Close()
	var conns []int
	var sums []string
	for _, ev := range got {
		if p := ev.Packet; p != nil && p.Src == cli {
			conns = append(conns, p.Conn)
		}
		if n := ev.Note; n != nil && n.Topic == trace.TopicSummary && len(conns) > 0 && (n.Conn == conns[0] || n.Conn == conns[len(conns)-1]) {
			sums = append(sums, n.Text)
		}
	}
	if len(conns) != 3 || conns[0] != conns[1] || conns[2] == conns[1] {
		t.Fatalf("connections of the flow's datagrams: %v, want the last one new", conns)
	}
	if len(sums) != 2 || !strings.Contains(sums[0], "from the client: 2") || !strings.Contains(sums[1], "from the client: 1") {
		t.Errorf("summaries %q", sums)
	}
}

// TestEagerStreamTakesARecordLate: a record after the first window sends
// the stream back to its window: the record comes out, in time order.
func TestEagerStreamTakesARecordLate(t *testing.T) {
	fs := mixedCapture(t)
	var got []trace.Event
	st := NewStream(StreamOptions{AnnotateOptions: AnnotateOptions{InferCalls: true, NoExplain: true}, Window: 64},
		func(ev trace.Event) error { got = append(got, ev); return nil })
	half := len(fs) / 2
	for i := range fs[:half] {
		st.Frame(&fs[i])
	}
	if !st.eager {
		t.Fatal("the stream never went eager")
	}
	note := &trace.Note{Time: fs[half].Time, Level: "info", Text: "a recorded note"}
	if err := st.Record(trace.NoteEvent(note)); err != nil {
		t.Fatal(err)
	}
	if st.eager {
		t.Error("still eager after a record")
	}
	for i := range fs[half:] {
		st.Frame(&fs[half+i])
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	seen := false
	for i, ev := range got {
		if ev.Note == note {
			seen = true
			if p := got[i-1].Packet; i == 0 || p == nil && got[i-1].State == nil && got[i-1].Note == nil && got[i-1].Call == nil {
				t.Errorf("the note has nothing before it")
			}
		}
	}
	if !seen {
		t.Error("the recorded note was lost")
	}
	frames := 0
	for _, ev := range got {
		if ev.Packet != nil {
			frames++
		}
	}
	if frames != len(fs) {
		t.Errorf("%d packets out, %d frames in", frames, len(fs))
	}
}

// TestReleasedFramesAreReused: a decoder told that frames are released
// carves new records from their memory, and never from the memory of a
// frame not released: the packets of the last frames keep their fields
// however many frames come after.
func TestReleasedFramesAreReused(t *testing.T) {
	fs := timedFrames(t, manyConversations(t, 50).segs)
	d := NewDecoder()
	type kept struct {
		p    *trace.Packet
		want trace.Packet
	}
	var held []kept // the packets of the last 300 frames, as Feed made them
	n := 0
	feed := func(i int) {
		n++
		evs := d.Feed(&fs[i%len(fs)], n)
		held = append(held, kept{evs[0].Packet, *evs[0].Packet})
		if len(held) > 300 {
			held = held[1:]
			d.Release(held[0].p.Frame - 1)
		}
	}
	for i := range 20 * len(fs) {
		feed(i)
		if i%997 == 0 {
			for _, k := range held {
				if k.p.Frame != k.want.Frame || k.p.Seq != k.want.Seq || k.p.Flags != k.want.Flags || k.p.Src != k.want.Src || string(k.p.Payload) != string(k.want.Payload) {
					t.Fatalf("frame %d was written over while held: %+v, was %+v", k.want.Frame, *k.p, k.want)
				}
			}
		}
	}
	// In steady state the records' memory is all reused.
	var before, after runtime.MemStats
	held = slices.Grow(held, 20000)
	runtime.ReadMemStats(&before)
	for i := range 20000 {
		feed(i)
	}
	runtime.ReadMemStats(&after)
	// What is left is each new connection's state (about 20 bytes a
	// frame here); without the reuse, the records take over 600.
	if perFrame := float64(after.TotalAlloc-before.TotalAlloc) / 20000; perFrame > 100 {
		t.Errorf("%.0f bytes allocated per frame with its frames released", perFrame)
	}
}
