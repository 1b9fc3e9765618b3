package ui

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sockscope/sockscope/trace"
)

var (
	t0     = time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	client = netip.MustParseAddrPort("127.0.0.1:40000")
	server = netip.MustParseAddrPort("127.0.0.1:12345")
)

func at(us int) time.Time { return t0.Add(time.Duration(us) * time.Microsecond) }

// handshake is a connect() that blocks across the three-way handshake, and
// the server's accept() that returns after it.
func handshake() []trace.Event {
	evs := []trace.Event{
		trace.CallEvent(&trace.Call{ID: 1, Lane: "server", Op: trace.OpListen, FD: 3, Local: server, Backlog: 5, Start: at(0), End: at(1), State: trace.StateListen}),
		trace.CallEvent(&trace.Call{ID: 2, Lane: "server", Op: trace.OpAccept, FD: 3, Local: server, Remote: client, Ret: 4, Start: at(2), End: at(40)}),
		trace.CallEvent(&trace.Call{ID: 3, Lane: "client", Op: trace.OpConnect, FD: 3, Local: client, Remote: server, Start: at(10), End: at(35), State: trace.StateEstablished}),
	}
	pk := func(us int, src, dst netip.AddrPort, flags string, rseq, rack uint32) trace.Event {
		return trace.PacketEvent(&trace.Packet{Time: at(us), Proto: "tcp", Src: src, Dst: dst, Flags: flags, RSeq: rseq, RAck: rack, Win: 65495, Conn: 1})
	}
	st := func(us int, ep netip.AddrPort, from, to trace.State) trace.Event {
		return trace.StateEvent(&trace.StateChange{Time: at(us), Endpoint: ep, Conn: 1, From: from, To: to, Source: trace.SourceInferred})
	}
	evs = append(evs,
		pk(20, client, server, "S", 0, 0), st(20, client, trace.StateClosed, trace.StateSynSent), st(20, server, trace.StateListen, trace.StateSynRecv),
		pk(25, server, client, "S.", 0, 1), st(25, client, trace.StateSynSent, trace.StateEstablished),
		pk(30, client, server, ".", 1, 1), st(30, server, trace.StateSynRecv, trace.StateEstablished),
	)
	trace.SortEvents(evs)
	return evs
}

func TestLayoutFoldsStatesIntoTheirPackets(t *testing.T) {
	l := Layout(handshake())
	if len(l.Lanes) != 2 || l.Lanes[0].Label() != "client 127.0.0.1:40000" || l.Lanes[1].Label() != "server 127.0.0.1:12345" {
		t.Fatalf("lanes = %+v", l.Lanes)
	}
	var packets []Row
	for _, r := range l.Rows {
		if r.Kind == RowPacket {
			packets = append(packets, r)
		}
		if r.Kind == RowState {
			t.Errorf("an inferred state got a row of its own: %+v", r)
		}
	}
	want := []struct {
		from, to           int
		label              string
		fromState, toState trace.State
	}{
		{0, 1, "S seq=0 win=65495", trace.StateSynSent, trace.StateSynRecv},
		{1, 0, "S. seq=0 ack=1 win=65495", trace.StateSynRecv, trace.StateEstablished},
		{0, 1, ". ack=1", trace.StateEstablished, trace.StateEstablished},
	}
	if len(packets) != len(want) {
		t.Fatalf("%d packet rows, want %d", len(packets), len(want))
	}
	evs := handshake()
	for i, w := range want {
		p := packets[i]
		if evs[p.Event].Packet == nil {
			t.Errorf("packet row %d points at a %s event, not at its packet", i, evs[p.Event].Kind)
		}
		if p.From != w.from || p.To != w.to || p.Text != w.label || p.FromState != w.fromState || p.ToState != w.toState {
			t.Errorf("packet %d = %d→%d %q [%s|%s], want %d→%d %q [%s|%s]", i, p.From, p.To, p.Text, p.FromState, p.ToState, w.from, w.to, w.label, w.fromState, w.toState)
		}
	}
}

func TestBlockingCallsShowEntryAndReturn(t *testing.T) {
	l := Layout(handshake())
	var texts []string
	for _, r := range l.Rows {
		texts = append(texts, r.Text)
	}
	got := strings.Join(texts, "\n")
	// connect is entered before the SYN and returns after the final ACK;
	// accept returns last.
	order := []string{"listen(3, 5) = 0 [LISTEN]", "accept(3) …", "connect(3, 127.0.0.1:12345) …", "S seq=0", "S. seq=0", ". ack=1", "… connect = 0 [ESTABLISHED] (25µs)", "… accept = 4 from 127.0.0.1:40000 (38µs)"}
	pos := 0
	for _, want := range order {
		i := strings.Index(got[pos:], want)
		if i < 0 {
			t.Fatalf("%q missing or out of order in:\n%s", want, got)
		}
		pos += i + len(want)
	}
}

func TestTextArrowsPointFromSenderToReceiver(t *testing.T) {
	var sb strings.Builder
	if err := WriteText(&sb, Layout(handshake()), TextOptions{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(sb.String(), "\n")
	find := func(s string) string {
		for _, l := range lines {
			if strings.Contains(l, s) {
				return l
			}
		}
		t.Fatalf("no line with %q in:\n%s", s, sb.String())
		return ""
	}
	// The client is the left lane although the server acted first: the
	// client's SYN points right, the SYN-ACK left.
	if syn := find("S seq=0"); !strings.Contains(syn, "▶") || strings.Contains(syn, "◀") ||
		strings.Index(syn, "SYN_SENT") > strings.Index(syn, "SYN_RECV") {
		t.Errorf("SYN row: %q", syn)
	}
	if synack := find("S. seq=0 ack=1 win=65495"); !strings.Contains(synack, "◀") || !strings.HasSuffix(synack, "SYN_RECV") ||
		!strings.Contains(synack, "ESTABLISHED ◀") {
		t.Errorf("SYN-ACK row: %q", synack)
	}
	if !strings.HasPrefix(lines[0], "   rel (s)  client 127.0.0.1:40000") || !strings.Contains(lines[0], "server 127.0.0.1:12345") {
		t.Errorf("heading: %q", lines[0])
	}
}

// TestUDPUnreachableLanes: a socket bound to the wildcard address owns the
// packets that show its port with a real address, and the ICMP error goes
// back from the port nobody listens on to the socket that sent the datagram.
func TestUDPUnreachableLanes(t *testing.T) {
	wild := netip.MustParseAddrPort("0.0.0.0:40000")
	sender := netip.MustParseAddrPort("127.0.0.1:40000")
	dead := netip.MustParseAddrPort("127.0.0.1:9")
	lo := netip.AddrPortFrom(sender.Addr(), 0)
	evs := []trace.Event{
		trace.CallEvent(&trace.Call{ID: 1, Lane: "client2", Op: trace.OpSocket, Start: at(0), End: at(1)}),
		trace.CallEvent(&trace.Call{ID: 2, Lane: "client1", Op: trace.OpSendto, FD: 3, Local: wild, Remote: dead, Proto: "udp", Len: 4, Ret: 4, Start: at(2), End: at(3)}),
		trace.PacketEvent(&trace.Packet{Time: at(4), Proto: "udp", Src: sender, Dst: dead, Len: 4, Conn: 1}),
		trace.PacketEvent(&trace.Packet{Time: at(5), Proto: "icmp", Src: lo, Dst: lo, Info: "port unreachable", Quoted: [2]trace.Endpoint{sender, dead}}),
	}
	l := Layout(evs)
	var names []string
	for _, ln := range l.Lanes {
		names = append(names, ln.Label())
	}
	if got := strings.Join(names, " | "); got != "client1 0.0.0.0:40000 | client2 | host 127.0.0.1:9" {
		t.Fatalf("lanes: %s", got)
	}
	var rows []Row
	for _, r := range l.Rows {
		if r.Kind == RowPacket {
			rows = append(rows, r)
		}
	}
	if len(rows) != 2 || rows[0].From != 0 || rows[0].To != 2 || rows[1].From != 2 || rows[1].To != 0 {
		t.Errorf("arrows: %+v", rows)
	}
}

// TestAStaleKernelReadingLeavesTheArrowsStates is the end of a tcp-echo run
// as a user namespace recorded it: the client's close() returned in
// FIN_WAIT1, the server's FIN took the client to TIME_WAIT, and only then
// did the kernel's answer about the client (asked after close returned)
// arrive: ESTABLISHED → FIN_WAIT1. Its row says so, but the client's last
// ACK leaves from TIME_WAIT, in the ladder, the flat text and the
// dashboard alike; a kernel reading that starts from the state shown still
// moves it.
func TestAStaleKernelReadingLeavesTheArrowsStates(t *testing.T) {
	pk := func(us int, src, dst netip.AddrPort, flags string, rseq, rack uint32) trace.Event {
		return trace.PacketEvent(&trace.Packet{Time: at(us), Proto: "tcp", Src: src, Dst: dst, Flags: flags, RSeq: rseq, RAck: rack, Win: 65495, Conn: 1})
	}
	st := func(us int, ep netip.AddrPort, from, to trace.State, src trace.Source) trace.Event {
		return trace.StateEvent(&trace.StateChange{Time: at(us), Endpoint: ep, Conn: 1, From: from, To: to, Source: src})
	}
	inf, kern := trace.SourceInferred, trace.SourceKernel
	evs := append(handshake(),
		pk(50, client, server, "F.", 1, 1), st(50, client, trace.StateEstablished, trace.StateFinWait1, inf), st(50, server, trace.StateEstablished, trace.StateCloseWait, inf),
		pk(60, server, client, "F.", 1, 2), st(60, server, trace.StateCloseWait, trace.StateLastAck, inf), st(60, client, trace.StateFinWait1, trace.StateTimeWait, inf),
		st(62, client, trace.StateEstablished, trace.StateFinWait1, kern), // asked at 52, answered at 62
		pk(65, client, server, ".", 2, 2), st(65, server, trace.StateLastAck, trace.StateClosed, inf),
		st(80, client, trace.StateTimeWait, trace.StateClosed, kern), // the timer: from the state shown
		pk(90, client, server, "R", 2, 0),
	)
	trace.SortEvents(evs)

	l := Layout(evs)
	var kernelRows, arrows []string
	for _, r := range l.Rows {
		switch r.Kind {
		case RowState:
			kernelRows = append(kernelRows, r.Text)
		case RowPacket:
			arrows = append(arrows, string(r.FromState)+" "+r.Text+" "+string(r.ToState))
		}
	}
	if want := []string{"ESTABLISHED → FIN_WAIT1 (kernel)", "TIME_WAIT → CLOSED (kernel)"}; strings.Join(kernelRows, "; ") != strings.Join(want, "; ") {
		t.Errorf("kernel rows %q, want %q", kernelRows, want)
	}
	if n := len(arrows); n != 7 || arrows[5] != "TIME_WAIT . ack=2 CLOSED" || arrows[6] != "CLOSED R seq=2 CLOSED" {
		t.Errorf("Layout's arrows %q: want the last ACK from TIME_WAIT, the RST after the timer from CLOSED", arrows)
	}

	text := stream(t, evs, TextOptions{}, goldenStreamLimit) // flat
	for _, want := range []string{". ack=2  [TIME_WAIT | CLOSED]", "R seq=2  [CLOSED | CLOSED]", "ESTABLISHED → FIN_WAIT1 (kernel)"} {
		if !strings.Contains(text, want) {
			t.Errorf("flat text lacks %q:\n%s", want, text)
		}
	}

	m := NewModel(Status{})
	m.SetIndex(indexOf(evs))
	_, compact, _, _ := m.get()
	if want, got := rowsOf(newView(evs)), rowsOf(compact); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the dashboard's rows:\n%s\nwant Layout's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
