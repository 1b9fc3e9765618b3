package ui

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// RowKind says what a ladder row shows.
type RowKind int

// The kinds of row.
const (
	RowCall   RowKind = iota // a call, entered (and, if nothing happened meanwhile, returned)
	RowReturn                // a blocking call returning after other events
	RowPacket                // a packet: an arrow between two lanes
	RowState                 // a state the kernel reported, on its lane
	RowNote                  // a remark spanning the ladder
)

// Lane is one column of the ladder: a program's socket(s), labelled with
// the address they use.
type Lane struct {
	Name     string // "client", "server", or an address for foreign captures
	Endpoint trace.Endpoint
}

// Label is the lane's heading: "client 127.0.0.1:40046".
func (l Lane) Label() string {
	ep := trace.FormatEndpoint(l.Endpoint, true)
	if ep == "" || ep == l.Name {
		return l.Name
	}
	return l.Name + " " + ep
}

// Row is one line of the ladder.
type Row struct {
	Kind  RowKind
	Time  time.Time
	Event int // index of the event in the laid-out slice

	Lane int    // calls, returns, kernel states: the lane; -1 when unknown
	From int    // packets: the sending lane, -1 when unknown
	To   int    // packets: the receiving lane, -1 when unknown
	Text string // the call, the arrow's label, the note

	// Packets: each end's TCP state after the packet ("" when not TCP).
	FromState, ToState trace.State

	// Explain is the narration of the row's events (Event.Explain): a
	// packet's, then those of the state changes folded into it; a split
	// call's goes with its return row.
	Explain []string
}

// Ladder is a laid-out timeline.
type Ladder struct {
	Lanes []Lane
	Rows  []Row
	Start time.Time // the time of the first event, for relative times
}

// Layout lays events out as a ladder: it assigns lanes to the programs'
// sockets and packet endpoints, folds the inferred state changes into the
// packet rows that caused them, and splits blocking calls into entry and
// return rows when other events happen in between. It is pure.
func Layout(evs []trace.Event) *Ladder {
	l := &Ladder{}
	if len(evs) > 0 {
		l.Start = evs[0].Time()
	}
	lanes := newLaneIndex(evs)
	l.Lanes = lanes.lanes

	states := map[stateKey]trace.State{}
	var pending []pendingReturn
	for i := 0; i < len(evs); i++ {
		ev := evs[i]
		// Emit returns of blocking calls that came back before this event.
		pending = flushReturns(l, pending, ev.Time(), false)
		switch {
		case ev.Call != nil:
			c := ev.Call
			lane := lanes.byName[c.Lane]
			if c.Inferred != "" {
				lane = lanes.laneOfEndpoint(c.Local)
			}
			// A call that other events overtook shows its entry and its
			// return apart: a blocking recv, but also a send that returns
			// only after loopback delivered its bytes.
			if split := !c.End.IsZero() && otherEventBefore(evs, i, c.End); split {
				l.Rows = append(l.Rows, Row{Kind: RowCall, Time: c.Start, Event: i, Lane: lane, Text: c.Signature() + " …"})
				pending = append(pending, pendingReturn{call: c, event: i, lane: lane, explain: ev.Explain})
			} else {
				l.Rows = append(l.Rows, Row{Kind: RowCall, Time: c.Start, Event: i, Lane: lane, Text: callText(c, c.Op.Blocking()), Explain: explainLines(ev.Explain)})
			}
		case ev.Packet != nil:
			p, at := ev.Packet, i
			explain := explainLines(ev.Explain)
			// Apply the state changes this packet caused (they follow it
			// at the same instant) so that the row shows the states after it.
			for i+1 < len(evs) && evs[i+1].State != nil && evs[i+1].State.Source == trace.SourceInferred &&
				evs[i+1].State.Time.Equal(p.Time) && evs[i+1].State.Conn == p.Conn {
				i++
				s := evs[i].State
				states[stateKey{s.Conn, s.Endpoint}] = s.To
				explain = append(explain, explainLines(evs[i].Explain)...)
			}
			row := Row{Kind: RowPacket, Time: p.Time, Event: at, From: lanes.laneOf(p.Src, p.Dst), To: lanes.laneOf(p.Dst, p.Src), Text: PacketLabel(p), Explain: explain}
			if q := p.Quoted; q[0].IsValid() {
				// An ICMP error travels back from where the datagram it
				// quotes was going to the socket that sent it; on
				// loopback the addresses alone cannot tell the lanes apart.
				row.From, row.To = lanes.laneOf(q[1], q[0]), lanes.laneOf(q[0], q[1])
			}
			if p.Proto == "tcp" {
				row.FromState = states[stateKey{p.Conn, p.Src}]
				row.ToState = states[stateKey{p.Conn, p.Dst}]
			}
			l.Rows = append(l.Rows, row)
		case ev.State != nil:
			s := ev.State
			k := stateKey{s.Conn, s.Endpoint}
			states[k] = shownAfter(states[k], s)
			if s.Source == trace.SourceKernel {
				l.Rows = append(l.Rows, Row{Kind: RowState, Time: s.Time, Event: i, Lane: lanes.laneOfEndpoint(s.Endpoint),
					Text: fmt.Sprintf("%s → %s (kernel)", stateName(s.From), s.To), Explain: explainLines(ev.Explain)})
			}
		case ev.Note != nil:
			row := Row{Kind: RowNote, Time: ev.Note.Time, Event: i, Lane: -1, Text: noteText(ev.Note)}
			if ev.Explain != ev.Note.Text {
				row.Explain = explainLines(ev.Explain)
			}
			l.Rows = append(l.Rows, row)
		}
	}
	flushReturns(l, pending, time.Time{}, true)
	return l
}

type stateKey struct {
	conn int
	ep   trace.Endpoint
}

type pendingReturn struct {
	call    *trace.Call
	event   int
	lane    int
	explain string
}

func explainLines(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// flushReturns appends the return rows of pending calls that returned
// before t (all of them when all is set), in return order.
func flushReturns(l *Ladder, pending []pendingReturn, t time.Time, all bool) []pendingReturn {
	for {
		best := -1
		for k, p := range pending {
			if (all || p.call.End.Before(t)) && (best < 0 || p.call.End.Before(pending[best].call.End)) {
				best = k
			}
		}
		if best < 0 {
			return pending
		}
		p := pending[best]
		l.Rows = append(l.Rows, Row{Kind: RowReturn, Time: p.call.End, Event: p.event, Lane: p.lane,
			Text: "… " + string(p.call.Op) + " " + p.call.Result() + stateSuffix(p.call.State) + durationSuffix(p.call), Explain: explainLines(p.explain)})
		pending = append(pending[:best], pending[best+1:]...)
	}
}

// otherEventBefore reports whether any event after evs[i] happens before end.
func otherEventBefore(evs []trace.Event, i int, end time.Time) bool {
	return i+1 < len(evs) && evs[i+1].Time().Before(end)
}

func callText(c *trace.Call, showDuration bool) string {
	if c.Inferred != "" {
		return c.Inferred + " (inferred)"
	}
	s := c.String() + stateSuffix(c.State)
	if showDuration {
		s += durationSuffix(c)
	}
	return s
}

func stateSuffix(s trace.State) string {
	if s == trace.StateUnknown {
		return ""
	}
	return " [" + string(s) + "]"
}

func durationSuffix(c *trace.Call) string {
	d := c.Duration()
	if d <= 0 {
		return ""
	}
	return " (" + FormatDuration(d) + ")"
}

// shownAfter is the state the ladder shows for s's endpoint once s is
// applied to shown, the state it showed. An inferred change always moves
// it. A kernel reading moves it when it starts from the state shown, or
// when none is: one that starts elsewhere was read before packets the
// ladder already showed (the scenario asks the kernel after a call
// returns, and the answer can come after the next segment was captured:
// a client that the peer's FIN took to TIME_WAIT is then read as still in
// FIN_WAIT1), or it disagrees with the packets, which the annotator's
// warning note reports. Its row says what the kernel said either way.
func shownAfter(shown trace.State, s *trace.StateChange) trace.State {
	if s.Source == trace.SourceKernel && shown != trace.StateUnknown && s.From != shown {
		return shown
	}
	return s.To
}

func stateName(s trace.State) string {
	if s == trace.StateUnknown {
		return "?"
	}
	return string(s)
}

func noteText(n *trace.Note) string {
	switch n.Level {
	case "warning":
		return "warning: " + n.Text
	case "error":
		return "error: " + n.Text
	}
	return n.Text
}

// FormatDuration renders a duration compactly: "12µs", "1.4ms", "2.05s".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// PacketLabel is the arrow's text, tcpdump style with Wireshark's relative
// numbers: "S seq=0 win=65495", "P. seq=1:6 ack=1 len=5", "UDP len=5".
func PacketLabel(p *trace.Packet) string {
	return string(AppendPacketLabel(nil, p))
}

// AppendPacketLabel appends PacketLabel(p) to b. The streamed text writes
// one per packet: the flags are read in one pass, the numbers written in
// place (appendUint).
func AppendPacketLabel(b []byte, p *trace.Packet) []byte {
	switch p.Proto {
	case "tcp":
		var syn, fin, ack bool
		for i := 0; i < len(p.Flags); i++ {
			switch p.Flags[i] {
			case 'S':
				syn = true
			case 'F':
				fin = true
			case '.':
				ack = true
			}
			b = append(b, p.Flags[i])
		}
		if p.Len > 0 {
			b = append(b, " seq="...)
			b = appendUint(b, uint64(p.RSeq))
			b = append(b, ':')
			b = appendUint(b, uint64(p.RSeq+uint32(p.Len)))
		} else if syn || fin || !ack {
			b = append(b, " seq="...)
			b = appendUint(b, uint64(p.RSeq))
		}
		if ack {
			b = append(b, " ack="...)
			b = appendUint(b, uint64(p.RAck))
		}
		if syn {
			b = append(b, " win="...)
			b = appendInt(b, p.Win)
		}
		if p.Len > 0 {
			b = append(b, " len="...)
			b = appendInt(b, p.Len)
		}
	case "udp":
		b = append(b, "UDP len="...)
		b = appendInt(b, p.Len)
	default:
		b = append(b, strings.ToUpper(p.Proto)...)
		if p.Info != "" {
			b = append(b, ' ')
			b = append(b, p.Info...)
		}
	}
	if p.Error != "" {
		b = append(b, " ["...)
		b = append(b, p.Error...)
		b = append(b, ']')
	}
	return b
}

// laneIndex maps programs and endpoints to lanes.
type laneIndex struct {
	lanes  []Lane
	byName map[string]int
	byPair map[[2]trace.Endpoint]int // (local, remote) of a program's socket
	byEp   map[trace.Endpoint]int
	byPort map[uint16]int // sockets bound to the wildcard address (0.0.0.0:port, [::]:port)
}

func newLaneIndex(evs []trace.Event) *laneIndex {
	x := &laneIndex{byName: map[string]int{}, byPair: map[[2]trace.Endpoint]int{}, byEp: map[trace.Endpoint]int{}, byPort: map[uint16]int{}}
	// Programs' lanes first, in the order they first act.
	for _, ev := range evs {
		c := ev.Call
		if c == nil || c.Inferred != "" {
			continue
		}
		x.addProgramCall(c)
	}
	x.serversLast(evs)
	// Then endpoints no program owns (foreign captures, the other side of
	// a --host run): the SYN's sender is a client, its peer a server.
	for _, ev := range evs {
		p := ev.Packet
		if p == nil || !trace.HasPorts(p.Proto) {
			continue
		}
		if x.laneOf(p.Src, p.Dst) < 0 {
			x.add(p.Src, roleOf(p, true))
		}
		if x.laneOf(p.Dst, p.Src) < 0 {
			x.add(p.Dst, roleOf(p, false))
		}
	}
	return x
}

// addProgramCall makes the lane of a recorded call's program the first time
// it acts, and files the addresses its socket uses under that lane.
func (x *laneIndex) addProgramCall(c *trace.Call) int {
	i, ok := x.byName[c.Lane]
	if !ok {
		i = len(x.lanes)
		x.byName[c.Lane] = i
		x.lanes = append(x.lanes, Lane{Name: c.Lane})
	}
	if c.Local.Addr().IsValid() && c.Local.Port() != 0 {
		if !x.lanes[i].Endpoint.IsValid() {
			x.lanes[i].Endpoint = c.Local
		}
		if _, taken := x.byEp[c.Local]; !taken {
			x.byEp[c.Local] = i
		}
		if _, taken := x.byPort[c.Local.Port()]; !taken && c.Local.Addr().IsUnspecified() {
			x.byPort[c.Local.Port()] = i
		}
		if c.Remote.IsValid() {
			x.byPair[[2]trace.Endpoint{c.Local, c.Remote}] = i
		}
	}
	return i
}

// serversLast moves the lanes of programs that listen or accept to the
// right, as the textbooks draw it: clients on the left, servers on the right.
func (x *laneIndex) serversLast(evs []trace.Event) {
	serves := map[string]bool{}
	for _, ev := range evs {
		// A lane serves when it listens or accepts, or when the scenario
		// calls it a server (a UDP server only binds and waits).
		if c := ev.Call; c != nil && c.Inferred == "" && (c.Op == trace.OpListen || c.Op == trace.OpAccept || strings.HasPrefix(c.Lane, "server")) {
			serves[c.Lane] = true
		}
	}
	var order []Lane
	for _, last := range []bool{false, true} {
		var group []Lane
		for _, l := range x.lanes {
			if serves[l.Name] == last {
				group = append(group, l)
			}
		}
		// client1, client2, … in their numbers' order, whoever acted first.
		sort.SliceStable(group, func(i, j int) bool { return naturalLess(group[i].Name, group[j].Name) })
		order = append(order, group...)
	}
	x.lanes = order
	renumber := map[int]int{}
	for i, l := range order {
		renumber[x.byName[l.Name]] = i
		x.byName[l.Name] = i
	}
	for k, v := range x.byPair {
		x.byPair[k] = renumber[v]
	}
	for k, v := range x.byEp {
		x.byEp[k] = renumber[v]
	}
	for k, v := range x.byPort {
		x.byPort[k] = renumber[v]
	}
}

// naturalLess orders "client2" before "client10"; names without a number
// keep their order.
func naturalLess(a, b string) bool {
	pa, na := splitNumber(a)
	pb, nb := splitNumber(b)
	if pa != pb || na < 0 || nb < 0 {
		return false
	}
	return na < nb
}

func splitNumber(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, err := strconv.Atoi(s[i:])
	if err != nil {
		return s, -1
	}
	return s[:i], n
}

func roleOf(p *trace.Packet, sender bool) string {
	if p.Flags == "S" {
		if sender {
			return "client"
		}
		return "server"
	}
	return "host"
}

func (x *laneIndex) add(ep trace.Endpoint, role string) {
	x.byEp[ep] = len(x.lanes)
	x.lanes = append(x.lanes, Lane{Name: role, Endpoint: ep})
}

// laneOf finds the lane of the socket at local talking to remote.
func (x *laneIndex) laneOf(local, remote trace.Endpoint) int {
	if i, ok := x.byPair[[2]trace.Endpoint{local, remote}]; ok {
		return i
	}
	return x.laneOfEndpoint(local)
}

func (x *laneIndex) laneOfEndpoint(ep trace.Endpoint) int {
	if i, ok := x.byEp[ep]; ok {
		return i
	}
	return x.laneOfUnfiled(ep)
}
