package ui

import (
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/sockscope/sockscope/trace"
)

// rowsOf renders every row of a view as one comparable line: kind, time,
// lanes by name, text, states.
func rowsOf(v *view) []string {
	name := func(i int) string {
		if i < 0 || i >= len(v.ladder.Lanes) {
			return "-"
		}
		return v.ladder.Lanes[i].Label()
	}
	var out []string
	for k := 0; k < v.count(); k++ {
		r, ev := v.rowAndEvent(k)
		where := "lane=" + name(r.Lane)
		if r.Kind == RowPacket {
			where = name(r.From) + "→" + name(r.To)
		}
		out = append(out, fmt.Sprintf("%d %s %s %q [%s|%s] conn=%d kind=%s", r.Kind, r.Time.Format(time.StampMicro),
			where, r.Text, r.FromState, r.ToState, v.rowConn(k), ev.Kind))
	}
	return out
}

func indexOf(evs []trace.Event) *Index {
	x := NewIndex()
	for _, ev := range evs {
		x.Add(ev)
	}
	x.Flush()
	return x
}

// TestIndexLaysOutAsLayout: the rows an Index renders from its records
// are the rows Layout makes of the same events, for a recorded run (calls
// split by the packets they wait for, kernel-free states folded into the
// arrows) and for a foreign capture (inferred calls, summaries).
func TestIndexLaysOutAsLayout(t *testing.T) {
	for name, evs := range map[string][]trace.Event{
		"recorded": echoStory(),
		"foreign":  foreignStory(50, 0),
	} {
		t.Run(name, func(t *testing.T) {
			full := newView(evs)
			m := NewModel(Status{})
			m.SetIndex(indexOf(evs))
			_, compact, _, _ := m.get()
			want, got := rowsOf(full), rowsOf(compact)
			if len(want) != len(got) {
				t.Errorf("%d rows, Layout makes %d", len(got), len(want))
			}
			for i := range min(len(want), len(got)) {
				if want[i] != got[i] {
					t.Errorf("row %d:\n got %s\nwant %s", i, got[i], want[i])
				}
			}
			if full.connCount() != compact.connCount() {
				t.Errorf("%d connections, want %d", compact.connCount(), full.connCount())
			}
			for id := 1; id <= full.connCount(); id++ {
				c := full.conn(id)
				for _, ep := range []trace.Endpoint{c.Client, c.Server} {
					if w, g := histText(full.stateHistory(id, ep)), histText(compact.stateHistory(id, ep)); w != g {
						t.Errorf("conn %d %s states %s, want %s", id, ep, g, w)
					}
				}
			}
		})
	}
}

func histText(h []*trace.StateChange) string {
	var s []string
	for _, c := range h {
		s = append(s, fmt.Sprintf("%s →%s", c.Time.Format(time.StampMicro), c.To)) // the pane shows no From
	}
	return strings.Join(s, ", ")
}

// foreignStory synthesises what a decode.Stream makes of a capture from
// another tool: conversations of ten packets (handshake, a request and its
// reply, the client closing first), each with its inferred calls, the
// state changes the packets cause and a closing summary. The client ports
// cycle through ports (0: 28000) as mkcapture's do.
func foreignStory(convs, ports int) []trace.Event {
	if ports == 0 {
		ports = 28000
	}
	t := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	srv := netip.MustParseAddrPort("127.0.0.1:12345")
	evs := make([]trace.Event, 0, convs*26)
	frame := 0
	for conv := 0; conv < convs; conv++ {
		cli := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(32768+conv%ports))
		conn := conv + 1
		st := map[trace.Endpoint]trace.State{}
		pkt := func(from, to trace.Endpoint, flags string, rseq, rack uint32, n int, infer string, changes ...any) {
			frame++
			t = t.Add(7 * time.Microsecond)
			p := &trace.Packet{Frame: frame, Time: t, Proto: "tcp", Src: from, Dst: to, Flags: flags, RSeq: rseq, RAck: rack,
				Seq: 1000 + rseq, Ack: 9000 + rack, Win: 512, Len: n, Conn: conn}
			if strings.Contains(flags, "S") {
				p.Win = 65495
			}
			if infer != "" {
				evs = append(evs, trace.CallEvent(&trace.Call{Proto: "tcp", Local: from, Remote: to, Start: t, Inferred: infer, Frames: []int{frame}}))
			}
			evs = append(evs, trace.PacketEvent(p))
			for i := 0; i < len(changes); i += 2 {
				ep, to := changes[i].(trace.Endpoint), changes[i+1].(trace.State)
				evs = append(evs, trace.StateEvent(&trace.StateChange{Time: t, Endpoint: ep, Conn: conn, From: st[ep], To: to, Source: trace.SourceInferred}))
				st[ep] = to
			}
		}
		pkt(cli, srv, "S", 0, 0, 0, trace.InferredConnect, cli, trace.StateSynSent)
		pkt(srv, cli, "S.", 0, 1, 0, trace.InferredListen, srv, trace.StateSynRecv, cli, trace.StateEstablished)
		pkt(cli, srv, ".", 1, 1, 0, "", srv, trace.StateEstablished)
		pkt(cli, srv, "P.", 1, 1, 9, "")
		pkt(srv, cli, ".", 1, 10, 0, "")
		pkt(srv, cli, "P.", 1, 10, 30, "")
		pkt(cli, srv, ".", 10, 31, 0, "")
		pkt(cli, srv, "F.", 10, 31, 0, trace.InferredClose, cli, trace.StateFinWait1, srv, trace.StateCloseWait)
		pkt(srv, cli, "F.", 31, 11, 0, trace.InferredClose, srv, trace.StateLastAck, cli, trace.StateTimeWait)
		pkt(cli, srv, ".", 11, 32, 0, "", srv, trace.StateClosed)
		text := fmt.Sprintf("Connection %d: normal open and close, the client closed first; 9 bytes from the client, 30 bytes from the server.", conn)
		ev := trace.NoteEvent(&trace.Note{Time: t, Level: "info", Text: text, Topic: trace.TopicSummary, Conn: conn})
		ev.Explain = text
		evs = append(evs, ev)
	}
	return evs
}

// TestIndexedDashboardOnALongCapture: 300000 packets (780000 events, about
// 480000 rows) held in an Index. The first rows show while it is filled,
// the last row is reachable with G once it is complete, the detail of a
// far row shows its own fields (and those Inspect reads again from the
// frame), the connection filter and search work on it, and the heap stays
// small.
func TestIndexedDashboardOnALongCapture(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	const convs = 30000
	x := NewIndex()
	m := NewModel(Status{Source: "big.pcap", Where: "file", Live: true})
	var inspected []int // the frames Inspect was asked for: the selected one, and its connection's SYNs for the window's scale
	opts := Options{Replay: true, Inspect: func(frame int) *Inspection {
		inspected = append(inspected, frame)
		return &Inspection{Raw: []byte{0x45, 0, 0, 40}, Layers: []InspectLayer{{Name: "TCP", Fields: []InspectField{{"frame", fmt.Sprint(frame)}}}},
			Packet: &trace.Packet{Seq: 4242, Ack: 4343, Options: "nop,nop"}}
	}}
	h := startDashboard(t, m, opts, 120, 40)
	defer h.stop()

	// Fill it as a reader would, publishing as it goes; build the events
	// a few conversations at a time so that only the index holds them.
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for c := 0; c < convs; c += 1000 {
		evs := foreignStory(1000, 28000)
		shift(evs, c)
		for _, ev := range evs {
			x.Add(ev)
		}
		m.SetIndex(x)
		if c == 0 {
			h.waitFor("→ server 127.0.0.1:12345 S seq=0", "(inferred)")
		}
	}
	x.Flush()
	m.SetIndex(x)
	m.SetStatus(func(s *Status) { s.Live = false; s.Packets = convs * 10 })
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	rows := x.Rows()
	if want := convs * 15; rows != want {
		t.Fatalf("%d rows, want %d", rows, want)
	}
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d events, %d rows: heap in use grew by %d MiB (%d bytes per row)", x.Events(), rows, grown>>20, grown/int64(rows))
	if grown > 100<<20 {
		t.Errorf("the index of %d rows takes %d MiB of heap", rows, grown>>20)
	}

	h.runes("G")
	s := h.waitFor(fmt.Sprintf("row %d/%d", rows, rows))
	if !strings.Contains(s, fmt.Sprintf("Connection %d: normal open and close", convs)) {
		t.Errorf("the last row is not the last summary:\n%s", s)
	}
	// A far packet: the last data segment of conversation 20000.
	far := 20000*15 + 7 // rows per conversation: 10 packets, 4 inferred calls, 1 note; +7: the server's data
	h.do(func() { h.d.moveTo(far) })
	s = h.waitFor(fmt.Sprintf("row %d/", far+1), "Frame 200006", "P. seq=1:31 ack=10 len=30")
	for _, want := range []string{"absolute 4242", "connection", "20001", "TCP"} {
		if !strings.Contains(s, want) {
			t.Errorf("the detail of row %d lacks %q:\n%s", far, want, s)
		}
	}
	if !slices.Contains(inspected, 200006) {
		t.Errorf("Inspect asked for frames %v, not 200006", inspected)
	}
	// Search: the next summary of connection 29999 from the top.
	h.runes("g/")
	h.runes("connection 29999:")
	h.key(tcell.KeyEnter, 0)
	if row, text := h.selected(); row != 29998*15+14 || !strings.Contains(text, "Connection 29999:") {
		t.Errorf("find selected row %d %q, want %d", row, text, 29998*15+14)
	}
	// The connection filter: its fourteen rows (the summary is the
	// fifteenth), from the far end of the list.
	h.do(func() {
		h.d.filter = 29999
		h.d.refilter()
	})
	h.waitFor("conn 29999 only")
	h.do(func() {
		if n := h.d.count(); n != 15 {
			t.Errorf("connection 29999 has %d rows, want 15", n)
		}
	})
}

// shift renumbers a story of conversations as conversations from c on.
func shift(evs []trace.Event, c int) {
	dt := time.Duration(c) * 10 * 7 * time.Microsecond
	for i := range evs {
		switch ev := evs[i]; {
		case ev.Packet != nil:
			ev.Packet.Frame += c * 10
			ev.Packet.Conn += c
			ev.Packet.Time = ev.Packet.Time.Add(dt)
		case ev.Call != nil:
			ev.Call.Frames[0] += c * 10
			ev.Call.Start = ev.Call.Start.Add(dt)
		case ev.State != nil:
			ev.State.Conn += c
			ev.State.Time = ev.State.Time.Add(dt)
		case ev.Note != nil:
			ev.Note.Conn += c
			ev.Note.Time = ev.Note.Time.Add(dt)
			ev.Note.Text = strings.Replace(ev.Note.Text, fmt.Sprintf("Connection %d:", ev.Note.Conn-c), fmt.Sprintf("Connection %d:", ev.Note.Conn), 1)
			evs[i].Explain = ev.Note.Text
		}
	}
}

// TestWindowText: the detail's window is scaled when both SYNs offered
// window scaling, said not to be when they were captured without it, and
// unknown when they were not captured; in an index, which keeps no
// options, the SYNs' options come from reading them again.
func TestWindowText(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	pkt := func(i int, src, dst trace.Endpoint, flags, opts string, win int) trace.Event {
		return trace.PacketEvent(&trace.Packet{Frame: i + 1, Time: at.Add(time.Duration(i) * time.Millisecond), Proto: "tcp",
			Src: src, Dst: dst, Flags: flags, Options: opts, Win: win, Conn: 1})
	}
	conv := func(cOpts, sOpts string, withSYNs bool) []trace.Event {
		evs := []trace.Event{
			pkt(0, client, server, "S", cOpts, 65495), pkt(1, server, client, "S.", sOpts, 65483),
			pkt(2, client, server, ".", "", 512), pkt(3, client, server, "P.", "", 512),
		}
		if !withSYNs {
			return evs[2:]
		}
		return evs
	}
	for _, tc := range []struct {
		name       string
		evs        []trace.Event
		want       string
		wantOpts   string // what inspect says of the SYNs, for the index
		indexTells bool
	}{
		{"both scaled", conv("mss 65495,wscale 7", "mss 65495,wscale 7", true), "512 × 128 = 65536 bytes (window scale 7 from its SYN)", "mss 65495,wscale 7", true},
		{"neither scaled", conv("mss 65495", "mss 65495", true), "512 bytes (not scaled: neither SYN offered scaling)", "mss 65495", true},
		{"one scaled", conv("mss 65495,wscale 7", "mss 65495", true), "512 bytes (not scaled: only one SYN offered scaling)", "", false},
		{"no handshake", conv("", "", false), "512 (scaling unknown: the handshake was not captured)", "", true},
	} {
		v := newView(tc.evs)
		p := tc.evs[len(tc.evs)-1].Packet
		if got := windowText(v, p, nil); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if !tc.indexTells {
			continue
		}
		x := NewIndex()
		x.AddAll(tc.evs)
		x.Flush()
		xv := x.snapshot()
		var asked []int
		inspect := func(frame int) *Inspection {
			asked = append(asked, frame)
			return &Inspection{Packet: &trace.Packet{Options: tc.wantOpts}}
		}
		if got := windowText(xv, p, inspect); got != tc.want {
			t.Errorf("%s, in an index: %q, want %q (the SYNs read again: %v)", tc.name, got, tc.want, asked)
		}
	}
}
