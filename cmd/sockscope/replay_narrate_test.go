package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sockscope/sockscope/capture"
	"github.com/sockscope/sockscope/decode"
	"github.com/sockscope/sockscope/trace"
	"github.com/sockscope/sockscope/ui"
)

// capStory is one conversation of a varied capture: its segments, in order.
type capStory struct {
	udp   bool
	cport uint16
	sport uint16
	segs  []capSeg
}

// capSeg is one segment: from the client or the server, its flags, its
// payload; again sends the sender's previous data segment again.
type capSeg struct {
	c     bool
	flags string // S, A, F, R, P in any combination
	data  string
	again bool
}

// variedStories are conversations that make the narration say different
// things: the tutorial's echo, a refused connect, a retransmission and a
// duplicate ACK, a server that closes first after a bulk reply, one still
// open at the end, a reset, a SYN that gets no answer, a half-close, a
// UDP exchange, and the echo's 4-tuple used again once it closed.
func variedStories() []capStory {
	echo := []capSeg{{c: true, flags: "S"}, {flags: "SA"}, {c: true, flags: "A"},
		{c: true, flags: "PA", data: "hello"}, {flags: "A"}, {flags: "PA", data: "hello to you"}, {c: true, flags: "A"},
		{c: true, flags: "FA"}, {flags: "FA"}, {c: true, flags: "A"}}
	bulk := []capSeg{{c: true, flags: "S"}, {flags: "SA"}, {c: true, flags: "A"}, {c: true, flags: "PA", data: "GET /"}}
	for range 5 {
		bulk = append(bulk, capSeg{flags: "A", data: strings.Repeat("x", 700)})
	}
	bulk = append(bulk, capSeg{c: true, flags: "A"}, capSeg{flags: "FA"}, capSeg{c: true, flags: "A"},
		capSeg{c: true, flags: "FA"}, capSeg{flags: "A"})
	return []capStory{
		{cport: 40001, sport: 7, segs: echo},
		{cport: 40002, sport: 9, segs: []capSeg{{c: true, flags: "S"}, {flags: "RA"}}},
		{cport: 40003, sport: 7, segs: []capSeg{{c: true, flags: "S"}, {flags: "SA"}, {c: true, flags: "A"},
			{c: true, flags: "PA", data: "one"}, {c: true, flags: "PA", data: "two"}, {flags: "A"}, {c: true, flags: "PA", data: "two", again: true},
			{flags: "A"}, {flags: "A"}, {c: true, flags: "FA"}, {flags: "A"}, {flags: "FA"}, {c: true, flags: "A"}}},
		{cport: 40004, sport: 80, segs: bulk},
		{cport: 40005, sport: 7, segs: []capSeg{{c: true, flags: "S"}, {flags: "SA"}, {c: true, flags: "A"}, {c: true, flags: "PA", data: "still here"}}},
		{cport: 40006, sport: 7, segs: []capSeg{{c: true, flags: "S"}, {flags: "SA"}, {c: true, flags: "A"}, {c: true, flags: "PA", data: "bye"}, {flags: "RA"}}},
		{cport: 40007, sport: 7, segs: []capSeg{{c: true, flags: "S"}, {c: true, flags: "S", again: true}}},
		{cport: 40008, sport: 7, segs: []capSeg{{c: true, flags: "S"}, {flags: "SA"}, {c: true, flags: "A"},
			{c: true, flags: "FA"}, {flags: "A"}, {flags: "PA", data: "more after your FIN"}, {c: true, flags: "A"}, {flags: "FA"}, {c: true, flags: "A"}}},
		{udp: true, cport: 40009, sport: 53, segs: []capSeg{{c: true, data: "question"}, {data: "answer"}, {c: true, data: "again"}}},
		{cport: 40001, sport: 7, segs: echo}, // the first one's 4-tuple again
	}
}

// writeStories writes the stories into a pcap, their segments interleaved
// (one of each in turn), the last capStory only once every other ended.
func writeStories(t testing.TB, path string, stories []capStory) {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	sb := gopacket.NewSerializeBuffer()
	type side struct{ seq, prev uint32 }
	write := func(i int, st capStory, s capSeg, ends *[2]side) {
		cl, sv := &ends[0], &ends[1]
		sp, dp, me, peer := st.cport, st.sport, cl, sv
		if !s.c {
			sp, dp, me, peer = st.sport, st.cport, sv, cl
		}
		ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: net.IPv4(127, 0, 0, 1), DstIP: net.IPv4(127, 0, 0, 1)}
		var l4 gopacket.SerializableLayer
		if st.udp {
			ip.Protocol = layers.IPProtocolUDP
			u := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
			_ = u.SetNetworkLayerForChecksum(ip)
			l4 = u
		} else {
			ip.Protocol = layers.IPProtocolTCP
			seq := me.seq
			if s.again {
				seq = me.prev
			}
			tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: seq, Window: 512,
				SYN: strings.Contains(s.flags, "S"), ACK: strings.Contains(s.flags, "A"), FIN: strings.Contains(s.flags, "F"),
				RST: strings.Contains(s.flags, "R"), PSH: strings.Contains(s.flags, "P")}
			if tcp.ACK {
				tcp.Ack = peer.seq
			}
			_ = tcp.SetNetworkLayerForChecksum(ip)
			l4 = tcp
			if !s.again {
				me.prev = me.seq
				me.seq += uint32(len(s.data))
				if tcp.SYN || tcp.FIN {
					me.seq++
				}
			}
		}
		eth := &layers.Ethernet{SrcMAC: make(net.HardwareAddr, 6), DstMAC: make(net.HardwareAddr, 6), EthernetType: layers.EthernetTypeIPv4}
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, l4, gopacket.Payload(s.data)); err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(sb.Bytes()), Length: len(sb.Bytes())}, sb.Bytes()); err != nil {
			t.Fatal(err)
		}
		at = at.Add(10 * time.Microsecond)
	}
	ends := make([][2]side, len(stories))
	for i := range stories {
		ends[i] = [2]side{{seq: uint32(1000 * (i + 1))}, {seq: uint32(900000 * (i + 1))}}
	}
	last := len(stories) - 1
	for step := 0; ; step++ {
		more := false
		for i, st := range stories[:last] {
			if step < len(st.segs) {
				write(i, st, st.segs[step], &ends[i])
				more = true
			}
		}
		if !more {
			break
		}
	}
	at = at.Add(time.Second)
	for _, s := range stories[last].segs {
		write(last, stories[last], s, &ends[last])
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// annotateFile reads a capture through a narrated Stream as the dashboard
// does, keeping each frame's offset: the whole capture's annotation.
func annotateFile(t testing.TB, path string) ([]trace.Event, *capture.FrameReader, *frameOffsets) {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	fr, err := capture.OpenFrameReader(path, src.Offset())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fr.Close() })
	offs := &frameOffsets{}
	var evs []trace.Event
	st := decode.NewStream(decode.StreamOptions{AnnotateOptions: replayAnnotateOptions("dashboard")}, func(ev trace.Event) error {
		evs = append(evs, ev)
		return nil
	})
	var read atomic.Int64
	res := readCapture(context.Background(), src, &offsetSink{Stream: st, src: src, offs: offs, read: &read, at: src.Offset()}, io.Discard)
	if err := st.Close(); err != nil || res.damaged != nil {
		t.Fatalf("annotate %s: %v %v", path, err, res.damaged)
	}
	return evs, fr, offs
}

// TestNarrateAgainIsTheWholeNarration: a capture small enough to be held
// whole is annotated with its narration, as the dashboard shows it; the
// same events without narration go into a ui.Index that makes it again
// from the file, one connection at a time. Every row it narrates again
// (packets with the state changes folded into them, inferred calls,
// summaries) says what the whole capture's row says: a connection's
// narration depends on its own packets only. Its frame numbers are the
// file's, since the frames are decoded again with their own numbers.
//
// The long capture is annotated the way a big file is (a Stream past its
// first window, a frame at a time); a sample of its connections is
// compared. A scenario's capture holds recorded calls and kernel states:
// those of each connection are annotated with its frames; the calls of no
// connection (socket, bind, listen) are not narrated again.
// SOCKSCOPE_NARRATE_FILE names another capture to check.
func TestNarrateAgainIsTheWholeNarration(t *testing.T) {
	t.Run("varied", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "varied.pcap")
		writeStories(t, path, variedStories())
		kinds, conns := checkNarrateAgain(t, path, func(int) bool { return true })
		if kinds["packet"] < 60 || kinds["folded states"] < 20 || kinds["inferred call"] < 20 || kinds["summary"] < 10 || conns < 10 {
			t.Errorf("too little compared: %v over %d connections", kinds, conns)
		}
	})
	t.Run("long", func(t *testing.T) {
		var stories []capStory
		for rep := range 300 {
			for _, st := range variedStories()[:9] {
				st.cport += uint16(100 * (rep + 1))
				stories = append(stories, st)
			}
		}
		stories = append(stories, variedStories()[9])
		path := filepath.Join(t.TempDir(), "long.pcap")
		writeStories(t, path, stories)
		kinds, conns := checkNarrateAgain(t, path, func(c int) bool { return c%97 < 9 || c > len(stories)-12 })
		if kinds["packet"] < 1000 || conns < 100 {
			t.Errorf("too little compared: %v over %d connections", kinds, conns)
		}
	})
	t.Run("recorded", func(t *testing.T) {
		// `sockscope run hello --clients 3 -w`: calls and kernel states
		// in its comments. They go into the query with the frames: they
		// tie the packets to the calls that sent them ("the client 2's
		// call #9 connect() put it on the wire") and name the ends by
		// their lanes. Without them, every packet of it would differ.
		kinds, conns := checkNarrateAgain(t, "testdata/hello-3-clients.pcapng", func(int) bool { return true })
		if kinds["recorded call"] < 50 || kinds["kernel state"] < 5 || kinds["packet"] < 40 || conns != 3 {
			t.Errorf("too little compared: %v over %d connections", kinds, conns)
		}
	})
	if path := os.Getenv("SOCKSCOPE_NARRATE_FILE"); path != "" {
		t.Run(filepath.Base(path), func(t *testing.T) {
			kinds, conns := checkNarrateAgain(t, path, func(c int) bool { return c%50 < 5 })
			t.Logf("%v over %d connections", kinds, conns)
		})
	}
}

// checkNarrateAgain compares, for the rows of the connections sample
// picks, the narration an Index makes again with the whole capture's.
func checkNarrateAgain(t *testing.T, path string, sample func(conn int) bool) (kinds map[string]int, nconns int) {
	evs, fr, offs := annotateFile(t, path)
	whole := ui.Layout(evs)

	bare := make([]trace.Event, len(evs))
	connOfFrame := map[int]int{}
	for i, ev := range evs {
		ev.Explain = ""
		bare[i] = ev
		if p := ev.Packet; p != nil {
			connOfFrame[p.Frame] = p.Conn
		}
	}
	ix := ui.NewIndex()
	var queries []ui.NarrateQuery
	narrate := narrateAgain(fr, offs, replayAnnotateOptions("text"))
	ix.SetNarrator(func(q ui.NarrateQuery) ([]trace.Event, error) {
		queries = append(queries, q)
		return narrate(q)
	})
	ix.AddAll(bare)
	ix.Flush()
	if ix.Rows() != len(whole.Rows) {
		t.Fatalf("%d rows in the index, %d laid out", ix.Rows(), len(whole.Rows))
	}
	// Row by row, a connection after the other, as a user looks at them.
	connOf := func(k int) int {
		ev := evs[whole.Rows[k].Event]
		switch {
		case ev.Packet != nil:
			return ev.Packet.Conn
		case ev.Note != nil:
			return ev.Note.Conn
		case ev.State != nil:
			return ev.State.Conn
		case ev.Call != nil && len(ev.Call.Frames) > 0:
			return connOfFrame[ev.Call.Frames[0]]
		}
		return 0
	}
	var order []int
	for k := range whole.Rows {
		if sample(connOf(k)) {
			order = append(order, k)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return connOf(order[a]) < connOf(order[b]) })
	kinds = map[string]int{}
	conns := map[int]bool{}
	notes, bad := 0, 0
	for _, k := range order {
		r := whole.Rows[k]
		ev := evs[r.Event]
		got, ok := ix.RowNarration(k)
		want := r.Explain
		recorded := ev.Call != nil && ev.Call.Inferred == "" || ev.State != nil
		if recorded {
			// What the detail pane shows of a call (its entry row as its
			// return row) and of a kernel state: the event's narration.
			want = nil
			if ev.Explain != "" {
				want = []string{ev.Explain}
			}
		}
		if !ok {
			if recorded && connOf(k) == 0 {
				// A call or state of no connection (socket, bind, listen):
				// only a narrated file keeps its narration.
				kinds["recorded, of no connection"]++
				continue
			}
			t.Errorf("row %d %q: nothing narrated again", k, r.Text)
			continue
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			if bad++; bad <= 10 {
				t.Errorf("row %d %q (connection %d):\n got %q\nwant %q", k, r.Text, connOf(k), got, r.Explain)
			}
		}
		switch {
		case ev.Packet != nil && ev.Packet.Conn == 0:
			kinds["packet of no connection"]++
		case ev.Packet != nil:
			kinds["packet"]++
			conns[ev.Packet.Conn] = true
			if len(r.Explain) > 1 {
				kinds["folded states"]++
			}
		case ev.Call != nil && ev.Call.Inferred != "":
			kinds["inferred call"]++
		case ev.Call != nil:
			kinds["recorded call"]++
		case ev.State != nil:
			kinds["kernel state"]++
		case ev.Note != nil && ev.Note.Topic == trace.TopicSummary:
			kinds["summary"]++
		}
		if ev.Note != nil {
			notes++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d rows differ", bad, len(order))
	}
	t.Logf("rows compared: %v, %d connections, %d queries", kinds, len(conns), len(queries))
	// One query a connection, one a note (a note's narration is the
	// note's alone) and one a packet of no connection: the rows of a
	// connection after the first come from what its query made.
	if len(queries) != len(conns)+notes+kinds["packet of no connection"] {
		t.Errorf("%d queries for %d connections, %d notes and %d packets of no connection", len(queries), len(conns), notes, kinds["packet of no connection"])
	}
	for _, q := range queries {
		for i, f := range q.Frames {
			if i > 0 && f <= q.Frames[i-1] {
				t.Errorf("query for connection %d: frames %v not in order", q.Conn, q.Frames)
			}
		}
	}
	return kinds, len(conns)
}

// BenchmarkNarrateAgain: what selecting a row of a connection costs in a
// big file's dashboard, off the UI goroutine: reading its frames again
// and annotating them alone. conv10 is a tutorial conversation (10
// frames) among 3000; long is a connection of ui.MaxNarratedFrames
// frames, the most one query reads.
func BenchmarkNarrateAgain(b *testing.B) {
	long := capStory{cport: 40000, sport: 80, segs: []capSeg{{c: true, flags: "S"}, {flags: "SA"}, {c: true, flags: "A"}}}
	for len(long.segs) < ui.MaxNarratedFrames {
		long.segs = append(long.segs, capSeg{flags: "PA", data: strings.Repeat("y", 100)}, capSeg{c: true, flags: "A"})
	}
	for _, c := range []struct {
		name  string
		write func(path string)
		conn  int
	}{
		{"conv10", func(path string) { writeConversations(b, path, 3000) }, 2999},
		{"long", func(path string) {
			writeStories(b, path, []capStory{long, {cport: 1, sport: 2, segs: []capSeg{{c: true, flags: "S"}}}})
		}, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "c.pcap")
			c.write(path)
			evs, fr, offs := annotateFile(b, path)
			var frames []int
			for _, ev := range evs {
				if ev.Packet != nil && ev.Packet.Conn == c.conn {
					frames = append(frames, ev.Packet.Frame)
				}
			}
			narrate := narrateAgain(fr, offs, replayAnnotateOptions("text"))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				out, err := narrate(ui.NarrateQuery{Conn: c.conn, Frames: frames})
				if err != nil || len(out) < len(frames) {
					b.Fatalf("%d events: %v", len(out), err)
				}
			}
			b.ReportMetric(float64(len(frames)), "frames")
		})
	}
}

// TestDashboardNarratesIndexedRows: with the index taking over after ten
// events, the replay's dashboard still narrates the rows past them: the
// last packet's detail shows, under "What happened", what the whole
// capture's annotation says of it and of the state change it caused,
// read again from the file. A file over narratedDashboardBytes (read
// without narration, held in an index from its first event) too.
func TestDashboardNarratesIndexedRows(t *testing.T) {
	defer func(n int, b int64) { fullDashboardEvents, narratedDashboardBytes = n, b }(fullDashboardEvents, narratedDashboardBytes)
	path := filepath.Join(t.TempDir(), "varied.pcap")
	writeStories(t, path, variedStories())
	evs, _, _ := annotateFile(t, path)
	rows := ui.Layout(evs).Rows
	last := rows[len(rows)-2] // the last packet (the summary follows it)
	if evs[last.Event].Packet == nil || len(last.Explain) != 2 {
		t.Fatalf("the last row but one is %q, narrated %q", last.Text, last.Explain)
	}
	for _, c := range []struct {
		name  string
		bytes int64
	}{{"narrated", 4 << 20}, {"without narration", 1000}} {
		t.Run(c.name, func(t *testing.T) {
			fullDashboardEvents, narratedDashboardBytes = 10, c.bytes
			scr := newSimulatedScreen(t)
			dashboardForTest = func(o *ui.Options) { o.Screen = scr }
			defer func() { dashboardForTest = nil }()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- replayFile(ctx, path, replayFlags{outputFlags: outputFlags{format: "dashboard"}}, io.Discard, io.Discard)
			}()
			// The detail pane's text, its lines joined: the narration
			// wraps.
			detail := func() string {
				var sb strings.Builder
				for _, s := range scr.lines() {
					if i := strings.LastIndex(s, "│"); i >= 0 {
						s = s[i+len("│"):]
					}
					sb.WriteString(strings.TrimSpace(s) + " ")
				}
				return sb.String()
			}
			waitFor := func(what string, ok func(string) bool) string {
				t.Helper()
				return waitUntil(t, done, what, 20*time.Second, detail, ok)
			}
			waitFor("first rows", func(s string) bool { return strings.Contains(s, "Inferred call") })
			scr.SetSize(200, 80) // after Run's SetScreen, which resets it
			waitFor("the end of the file", func(s string) bool { return !strings.Contains(s, "reading") })
			scr.InjectKey(tcell.KeyRune, 'G', tcell.ModNone)
			waitFor("the last row", func(s string) bool { return strings.Contains(s, "Note (info)") })
			scr.InjectKey(tcell.KeyLeft, 0, tcell.ModNone)
			frame := fmt.Sprintf("Frame %d ", evs[last.Event].Packet.Frame)
			s := waitFor("the last packet's narration", func(s string) bool {
				return strings.Contains(s, frame) && strings.Contains(s, "What happened") && !strings.Contains(s, "What happened …")
			})
			for _, want := range last.Explain {
				if !strings.Contains(s, want) {
					t.Errorf("the detail lacks %q:\n%s", want, s)
				}
			}
			quitReplay(t, scr, done)
		})
	}
}
