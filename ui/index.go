package ui

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// Index holds a long timeline compactly for the dashboard: one small
// fixed-size record per ladder row (about 56 bytes) instead of the events,
// packets and rows themselves (about 1.5 KB per event). The rows are laid
// out as Layout lays them out, one event at a time as a producer adds them;
// the dashboard renders the rows it shows from their records. What a record
// leaves out of a packet (absolute numbers, options, payload) the
// dashboard asks Options.Inspect for, which re-reads the frame from the
// file; the narration of a selected row the narrator makes again from its
// connection's frames (SetNarrator). Rare events (recorded calls and their returns,
// kernel states, odd packets) are kept whole.
//
// A producer calls Add and Flush from one goroutine; the dashboard reads
// snapshots of it (Model.SetIndex). Records are only ever appended.
type Index struct {
	mu sync.RWMutex

	chunks [][]crow // rows, in chunks of chunkRows (never reallocated)
	n      int      // rows committed

	extras []extra
	text   []byte // note texts; a new backing array when full, so old notes keep theirs
	texts  [][]byte

	eps   []trace.Endpoint
	epID  map[trace.Endpoint]int32
	flags []string
	flagN map[string]uint8

	// lanes
	lanes    []Lane
	program  []bool // the lane is a program's (recorded calls)
	serves   []bool
	laneRev  int // changes when a lane is added or moves
	byName   map[string]int32
	epLane   []int32 // endpoint id → lane, -1 none
	byPair   map[[2]int32]int32
	byPort   map[uint16]int32
	anyProgs bool

	conns    []cconn
	otherSt  map[[2]int32]uint8
	pairConn map[[2]int32]int32 // for recorded calls: (local, remote) → connection
	frameRow [][]int32          // frame number → row, in chunks

	calls   map[int]int32 // recorded call id → extra
	kstates map[int][]int32

	start   time.Time
	started bool

	narr *narrations // makes the narration it does not keep (SetNarrator)

	snapLadder *Ladder // the lanes of the last snapshot
	snapPos    []int32
	snapRev    int

	// What waits for the next event: a packet row (its state changes
	// follow it), a recorded call (split or not).
	pend      crow
	pendEv    trace.Event
	pendKind  uint8 // 0 none, pendPacket, pendCall
	returns   []pendRet
	committed int // events added
}

const chunkRows = 1 << 13

// cconn is one connection, compactly (connInfo is 144 bytes).
type cconn struct {
	first, last    int64 // times of its first and last packets
	client, server int32 // endpoints, -1 until known
	row            int32 // its first row, -1 until laid out
	packets        int32
	state          [2]uint8 // each end's state (client, server) after the last event
	proto          uint8
}

func (c *cconn) info(id int, eps []trace.Endpoint) connInfo {
	ci := connInfo{ID: id, Proto: protoCodes[c.proto], Packets: int(c.packets), First: time.Unix(0, c.first), Last: time.Unix(0, c.last)}
	if c.client >= 0 {
		ci.Client, ci.Server = eps[c.client], eps[c.server]
	}
	if c.packets == 0 {
		ci.Proto, ci.First, ci.Last = "", time.Time{}, time.Time{}
	}
	return ci
}

// growConns makes connection ids up to n exist.
func (x *Index) growConns(n int) {
	for len(x.conns) < n {
		x.conns = append(x.conns, cconn{client: -1, server: -1, row: -1})
	}
}

// crow is one row, compactly.
type crow struct {
	t          int64 // unix nanoseconds
	frame      int32
	conn       int32
	a, b       int32 // packets: source, destination endpoint; inferred calls: local, remote; notes: text offset, length; extras: index
	rseq, rack uint32
	plen       int32
	win        uint16
	anal       uint16
	kind       uint8
	flags      uint8 // packets: interned flags; inferred calls: which; notes: level
	st         uint8 // sender's state << 4 | receiver's
	by         uint8
	proto      uint8
	texts      uint8 // notes: which text slab
}

const (
	kPacket uint8 = iota + 1
	kInferred
	kNote
	kExtra
)

const (
	pendPacket = 1
	pendCall   = 2
)

type extra struct {
	row Row // From, To, Lane are lane ids
	ev  trace.Event
}

type pendRet struct {
	call  *trace.Call
	extra int32
	lane  int32
}

var (
	stateCodes = []trace.State{trace.StateUnknown, trace.StateEstablished, trace.StateSynSent, trace.StateSynRecv,
		trace.StateFinWait1, trace.StateFinWait2, trace.StateTimeWait, trace.StateClosed, trace.StateCloseWait,
		trace.StateLastAck, trace.StateListen, trace.StateClosing}
	analysisBits = []string{trace.AnalysisRetransmission, trace.AnalysisFastRetransmission, trace.AnalysisDupAck,
		trace.AnalysisOutOfOrder, trace.AnalysisLostSegment, trace.AnalysisZeroWindow, trace.AnalysisWindowUpdate,
		trace.AnalysisKeepAlive, trace.AnalysisKeepAliveAck, trace.AnalysisReset}
	inferredKinds = []string{"", trace.InferredConnect, trace.InferredListen, trace.InferredClose, trace.InferredAbort}
	noteLevels    = []string{"info", "warning", "error"}
	byCodes       = []string{"", trace.ByCall, trace.ByKernel}
	protoCodes    = []string{"tcp", "udp"}
)

func codeOf(list []string, s string) (uint8, bool) {
	for i, x := range list {
		if x == s {
			return uint8(i), true
		}
	}
	return 0, false
}

func stateCode(s trace.State) (uint8, bool) {
	for i, x := range stateCodes {
		if x == s {
			return uint8(i), true
		}
	}
	return 0, false
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{
		epID: map[trace.Endpoint]int32{}, flagN: map[string]uint8{},
		byName: map[string]int32{}, byPair: map[[2]int32]int32{}, byPort: map[uint16]int32{},
		otherSt: map[[2]int32]uint8{}, pairConn: map[[2]int32]int32{},
		calls: map[int]int32{}, kstates: map[int][]int32{},
	}
}

// Events is how many events were added.
func (x *Index) Events() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.committed
}

// Rows is how many rows are ready to be shown.
func (x *Index) Rows() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n
}

// Add lays out the next event, in time order.
func (x *Index) Add(ev trace.Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.add(ev)
}

// AddAll lays out the next events, in time order, taking the lock once.
func (x *Index) AddAll(evs []trace.Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, ev := range evs {
		x.add(ev)
	}
}

func (x *Index) add(ev trace.Event) {
	x.committed++
	t := ev.Time()
	if !x.started {
		x.start, x.started = t, true
	}
	// A packet's state changes follow it at the same instant: fold them.
	if s := ev.State; s != nil && x.pendKind == pendPacket && s.Source == trace.SourceInferred &&
		s.Time.Equal(x.pendEv.Packet.Time) && s.Conn == x.pendEv.Packet.Conn {
		x.setState(s)
		x.pendFold()
		return
	}
	x.commitPending(t, false)
	x.flushReturns(t, false)
	switch {
	case ev.Call != nil:
		c := ev.Call
		if c.Inferred != "" {
			x.addInferred(c)
			return
		}
		lane := x.addProgramCall(c)
		if c.End.IsZero() {
			x.addExtra(Row{Kind: RowCall, Time: c.Start, Lane: int(lane), Text: callText(c, c.Op.Blocking())}, ev, c)
			return
		}
		x.pendEv, x.pendKind = ev, pendCall
	case ev.Packet != nil:
		x.pendEv, x.pendKind = ev, pendPacket
		x.preparePacket(ev.Packet)
	case ev.State != nil:
		s := ev.State
		x.setState(s)
		if s.Source == trace.SourceKernel {
			lane := x.laneOfEndpoint(x.ep(s.Endpoint))
			i := x.addExtra(Row{Kind: RowState, Time: s.Time, Lane: int(lane), Text: stateName(s.From) + " → " + string(s.To) + " (kernel)"}, ev, nil)
			x.kstates[s.Conn] = append(x.kstates[s.Conn], i)
		}
	case ev.Note != nil:
		x.addNote(ev)
	}
}

// Flush lays out what waits for a next event: call it at the end.
func (x *Index) Flush() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.commitPending(time.Time{}, true)
	x.flushReturns(time.Time{}, true)
}

func (x *Index) ep(e trace.Endpoint) int32 {
	if id, ok := x.epID[e]; ok {
		return id
	}
	id := int32(len(x.eps))
	x.eps = append(x.eps, e)
	x.epID[e] = id
	x.epLane = append(x.epLane, -1)
	return id
}

func (x *Index) appendRow(r crow) int32 {
	if x.n%chunkRows == 0 && x.n/chunkRows == len(x.chunks) {
		x.chunks = append(x.chunks, make([]crow, chunkRows))
	}
	i := x.n
	x.chunks[i/chunkRows][i%chunkRows] = r
	x.n++
	if r.kind == kPacket || r.kind == kExtra && r.frame > 0 {
		x.setFrameRow(int(r.frame), int32(i))
	}
	if c := r.conn; r.kind != kInferred && c > 0 && int(c) <= len(x.conns) && x.conns[c-1].row < 0 {
		x.conns[c-1].row = int32(i)
	}
	return int32(i)
}

func (x *Index) setFrameRow(f int, row int32) {
	if f <= 0 {
		return
	}
	for f/chunkRows >= len(x.frameRow) {
		ch := make([]int32, chunkRows)
		for i := range ch {
			ch[i] = -1
		}
		x.frameRow = append(x.frameRow, ch)
	}
	x.frameRow[f/chunkRows][f%chunkRows] = row
}

func (x *Index) rowOfFrame(f int) int {
	if f <= 0 || f/chunkRows >= len(x.frameRow) {
		return -1
	}
	r := int(x.frameRow[f/chunkRows][f%chunkRows])
	if r >= x.n {
		return -1
	}
	return r
}

func (x *Index) at(i int) *crow { return &x.chunks[i/chunkRows][i%chunkRows] }

// keep copies what an extra holds out of the producer's slabs.
func keep(ev trace.Event) trace.Event {
	switch {
	case ev.Call != nil:
		c := *ev.Call
		c.Data = append([]byte(nil), c.Data...)
		c.Frames = append([]int(nil), c.Frames...)
		ev.Call = &c
	case ev.Packet != nil:
		p := *ev.Packet
		p.Payload = append([]byte(nil), p.Payload...)
		p.Analysis = append([]string(nil), p.Analysis...)
		p.Calls = append([]int(nil), p.Calls...)
		ev.Packet = &p
	case ev.State != nil:
		s := *ev.State
		ev.State = &s
	case ev.Note != nil:
		n := *ev.Note
		ev.Note = &n
	}
	return ev
}

// addExtra appends a row kept whole; c is a recorded call to file by id.
func (x *Index) addExtra(r Row, ev trace.Event, c *trace.Call) int32 {
	ev = keep(ev)
	i := int32(len(x.extras))
	x.extras = append(x.extras, extra{row: r, ev: ev})
	cr := crow{t: r.Time.UnixNano(), kind: kExtra, a: i}
	switch {
	case ev.Packet != nil:
		cr.frame, cr.conn = int32(ev.Packet.Frame), int32(ev.Packet.Conn)
		x.countPacket(ev.Packet)
	case ev.State != nil:
		cr.conn = int32(ev.State.Conn)
	case ev.Note != nil:
		cr.conn = int32(ev.Note.Conn)
	case ev.Call != nil:
		cr.conn = -1 // resolved when shown: its packets may come later
		if c != nil && r.Kind == RowCall {
			x.calls[c.ID] = i
		}
	}
	x.appendRow(cr)
	return i
}

// preparePacket fills the pending row for a packet.
func (x *Index) preparePacket(p *trace.Packet) {
	src, dst := x.ep(p.Src), x.ep(p.Dst)
	if trace.HasPorts(p.Proto) {
		if x.laneOf(src, dst) < 0 {
			x.addEndpointLane(src, roleOf(p, true))
		}
		if x.laneOf(dst, src) < 0 {
			x.addEndpointLane(dst, roleOf(p, false))
		}
	}
	x.pend = crow{t: p.Time.UnixNano(), frame: int32(p.Frame), conn: int32(p.Conn), a: src, b: dst, rseq: p.RSeq, rack: p.RAck, plen: int32(p.Len), kind: kPacket}
	x.pendFold()
	if q := p.Quoted; q[0].IsValid() {
		x.pend.kind = kExtra
		return
	}
	proto, ok := codeOf(protoCodes, p.Proto)
	by, ok2 := codeOf(byCodes, p.By)
	if !ok || !ok2 || p.Conn <= 0 || p.Error != "" || p.Info != "" || len(p.Calls) > 0 || p.Win < 0 || p.Win > 0xffff || p.Len < 0 {
		x.pend.kind = kExtra
		return
	}
	x.pend.proto, x.pend.by, x.pend.win = proto, by, uint16(p.Win)
	for _, a := range p.Analysis {
		b, ok := codeOf(analysisBits, a)
		if !ok {
			x.pend.kind = kExtra
			return
		}
		x.pend.anal |= 1 << b
	}
	f, ok := x.flagN[p.Flags]
	if !ok {
		if len(x.flags) >= 255 {
			x.pend.kind = kExtra
			return
		}
		f = uint8(len(x.flags))
		x.flags = append(x.flags, p.Flags)
		x.flagN[p.Flags] = f
	}
	x.pend.flags = f
}

// pendFold sets the pending packet row's states: each end's after it.
func (x *Index) pendFold() {
	p := x.pendEv.Packet
	if p.Proto != "tcp" {
		return
	}
	x.pend.st = x.stateOf(int32(p.Conn), x.pend.a)<<4 | x.stateOf(int32(p.Conn), x.pend.b)
}

func (x *Index) commitPending(next time.Time, last bool) {
	switch x.pendKind {
	case pendPacket:
		p := x.pendEv.Packet
		if x.pend.kind == kExtra {
			row := Row{Kind: RowPacket, Time: p.Time, From: int(x.laneOf(x.pend.a, x.pend.b)), To: int(x.laneOf(x.pend.b, x.pend.a)), Text: PacketLabel(p)}
			if q := p.Quoted; q[0].IsValid() {
				row.From, row.To = int(x.laneOf(x.ep(q[1]), x.ep(q[0]))), int(x.laneOf(x.ep(q[0]), x.ep(q[1])))
			}
			if p.Proto == "tcp" {
				row.FromState, row.ToState = stateCodes[x.pend.st>>4], stateCodes[x.pend.st&15]
			}
			x.addExtra(row, x.pendEv, nil)
		} else {
			x.countPacket(p)
			x.appendRow(x.pend)
		}
	case pendCall:
		c := x.pendEv.Call
		lane := x.addProgramCall(c)
		if !last && next.Before(c.End) {
			i := x.addExtra(Row{Kind: RowCall, Time: c.Start, Lane: int(lane), Text: c.Signature() + " …"}, x.pendEv, c)
			x.returns = append(x.returns, pendRet{call: x.extras[i].ev.Call, extra: i, lane: lane})
		} else {
			x.addExtra(Row{Kind: RowCall, Time: c.Start, Lane: int(lane), Text: callText(c, c.Op.Blocking())}, x.pendEv, c)
		}
	}
	x.pendKind, x.pendEv = 0, trace.Event{}
}

func (x *Index) flushReturns(t time.Time, all bool) {
	for {
		best := -1
		for k, p := range x.returns {
			if (all || p.call.End.Before(t)) && (best < 0 || p.call.End.Before(x.returns[best].call.End)) {
				best = k
			}
		}
		if best < 0 {
			return
		}
		p := x.returns[best]
		c := p.call
		ev := x.extras[p.extra].ev
		x.extras = append(x.extras, extra{row: Row{Kind: RowReturn, Time: c.End, Lane: int(p.lane),
			Text: "… " + string(c.Op) + " " + c.Result() + stateSuffix(c.State) + durationSuffix(c)}, ev: ev})
		x.appendRow(crow{t: c.End.UnixNano(), kind: kExtra, a: int32(len(x.extras) - 1), conn: -1})
		x.returns = append(x.returns[:best], x.returns[best+1:]...)
	}
}

func (x *Index) addInferred(c *trace.Call) {
	k, ok := codeOf(inferredKinds, c.Inferred)
	if !ok || len(c.Frames) != 1 {
		x.addExtra(Row{Kind: RowCall, Time: c.Start, Lane: int(x.laneOfEndpoint(x.ep(c.Local))), Text: callText(c, false)}, trace.CallEvent(c), nil)
		return
	}
	l, r := x.ep(c.Local), x.ep(c.Remote)
	if x.laneOfEndpoint(l) < 0 {
		// Its packet comes next and makes the lanes: make them now, as
		// that packet will.
		p := &trace.Packet{Proto: "tcp"}
		if c.Inferred == trace.InferredConnect {
			p.Flags = "S"
		}
		x.addEndpointLane(l, roleOf(p, true))
		if x.laneOf(r, l) < 0 {
			x.addEndpointLane(r, roleOf(p, false))
		}
	}
	// Its connection is its packet's, known once that packet is laid out.
	x.appendRow(crow{t: c.Start.UnixNano(), frame: int32(c.Frames[0]), conn: -1, a: l, b: r, kind: kInferred, flags: k})
}

func (x *Index) addNote(ev trace.Event) {
	n := ev.Note
	lvl, ok := codeOf(noteLevels, n.Level)
	if !ok || n.Topic == trace.TopicKernelDisagrees || len(n.Text) > 1<<16 || ev.Explain != "" && ev.Explain != n.Text {
		x.addExtra(Row{Kind: RowNote, Time: n.Time, Lane: -1, Text: noteText(n)}, ev, nil)
		return
	}
	if cap(x.text)-len(x.text) < len(n.Text) {
		x.text = make([]byte, 0, 1<<20)
		x.texts = append(x.texts, x.text)
	}
	off := len(x.text)
	x.text = append(x.text, n.Text...)
	x.texts[len(x.texts)-1] = x.text
	r := crow{t: n.Time.UnixNano(), conn: int32(n.Conn), a: int32(off), b: int32(len(n.Text)), kind: kNote, flags: lvl,
		texts: uint8(min(len(x.texts)-1, 255))}
	if len(x.texts) > 255 {
		// Too many notes for the slab numbers: keep it whole.
		x.addExtra(Row{Kind: RowNote, Time: n.Time, Lane: -1, Text: noteText(n)}, ev, nil)
		return
	}
	if ev.Explain == n.Text {
		r.by = 1
	}
	x.appendRow(r)
}

// countPacket keeps the connection list.
func (x *Index) countPacket(p *trace.Packet) {
	if p.Conn <= 0 || p.Conn > 1<<28 {
		return
	}
	x.growConns(p.Conn)
	c := &x.conns[p.Conn-1]
	if c.packets == 0 {
		c.first = p.Time.UnixNano()
		c.proto = 255
		if code, ok := codeOf(protoCodes, p.Proto); ok {
			c.proto = code
		}
		x.setEnds(c, p)
	}
	c.packets++
	c.last = p.Time.UnixNano()
	if x.anyProgs {
		s, d := x.ep(p.Src), x.ep(p.Dst)
		x.pairConn[[2]int32{s, d}] = int32(p.Conn)
		x.pairConn[[2]int32{d, s}] = int32(p.Conn)
	}
}

func (x *Index) stateOf(conn, ep int32) uint8 {
	if conn > 0 && int(conn) <= len(x.conns) {
		c := &x.conns[conn-1]
		switch ep {
		case c.client:
			return c.state[0]
		case c.server:
			return c.state[1]
		}
	}
	return x.otherSt[[2]int32{conn, ep}]
}

func (x *Index) setState(s *trace.StateChange) {
	conn, ep := int32(s.Conn), x.ep(s.Endpoint)
	code, ok := stateCode(shownAfter(stateCodes[x.stateOf(conn, ep)], s))
	if !ok {
		return
	}
	if conn > 0 && x.pendKind == pendPacket && int32(x.pendEv.Packet.Conn) == conn {
		// The pending packet's connection is known by now.
		x.countPending()
	}
	if conn > 0 && int(conn) <= len(x.conns) {
		c := &x.conns[conn-1]
		switch ep {
		case c.client:
			c.state[0] = code
			return
		case c.server:
			c.state[1] = code
			return
		}
	}
	x.otherSt[[2]int32{conn, ep}] = code
}

// countPending makes sure the pending packet's connection exists before
// its states are filed by its ends.
func (x *Index) countPending() {
	p := x.pendEv.Packet
	if p.Conn > len(x.conns) || x.conns[p.Conn-1].packets == 0 {
		// Register the ends without counting the packet yet.
		x.growConns(p.Conn)
		x.setEnds(&x.conns[p.Conn-1], p)
	}
}

// setEnds names a connection's client and server by its first packet:
// its sender, unless it is a SYN-ACK (the capture began mid-handshake).
func (x *Index) setEnds(c *cconn, p *trace.Packet) {
	cl, sv := p.Src, p.Dst
	if p.Proto == "tcp" && p.Flags == "S." {
		cl, sv = p.Dst, p.Src
	}
	c.client, c.server = x.ep(cl), x.ep(sv)
}

// Lanes, as Layout assigns them, one event at a time: programs' lanes (in
// the order they first act, servers last), then endpoints no program owns
// in the order they appear.

func (x *Index) addLane(l Lane, program bool) int32 {
	i := int32(len(x.lanes))
	x.lanes = append(x.lanes, l)
	x.program = append(x.program, program)
	x.serves = append(x.serves, false)
	x.laneRev++
	return i
}

func (x *Index) addProgramCall(c *trace.Call) int32 {
	i, ok := x.byName[c.Lane]
	if !ok {
		i = x.addLane(Lane{Name: c.Lane}, true)
		x.byName[c.Lane] = i
		x.anyProgs = true
	}
	if !x.serves[i] && (c.Op == trace.OpListen || c.Op == trace.OpAccept || strings.HasPrefix(c.Lane, "server")) {
		x.serves[i] = true
		x.laneRev++
	}
	if c.Local.Addr().IsValid() && c.Local.Port() != 0 {
		if !x.lanes[i].Endpoint.IsValid() {
			x.lanes[i].Endpoint = c.Local
			x.laneRev++
		}
		l := x.ep(c.Local)
		if x.epLane[l] < 0 {
			x.epLane[l] = i
		}
		if _, taken := x.byPort[c.Local.Port()]; !taken && c.Local.Addr().IsUnspecified() {
			x.byPort[c.Local.Port()] = i
		}
		if c.Remote.IsValid() {
			x.byPair[[2]int32{l, x.ep(c.Remote)}] = i
		}
	}
	return i
}

func (x *Index) addEndpointLane(ep int32, role string) {
	x.epLane[ep] = x.addLane(Lane{Name: role, Endpoint: x.eps[ep]}, false)
}

func (x *Index) laneOf(local, remote int32) int32 {
	if x.anyProgs {
		if i, ok := x.byPair[[2]int32{local, remote}]; ok {
			return i
		}
	}
	return x.laneOfEndpoint(local)
}

func (x *Index) laneOfEndpoint(ep int32) int32 {
	if i := x.epLane[ep]; i >= 0 {
		return i
	}
	e := x.eps[ep]
	if i, ok := x.byPort[e.Port()]; ok && e.Port() != 0 {
		return i
	}
	if e.Port() == 0 {
		for i, l := range x.lanes {
			if l.Endpoint.Addr() == e.Addr() {
				return int32(i)
			}
		}
	}
	return -1
}

// laneOrder is the lanes' display order: programs first, those that serve
// last among them, then the others as they appeared. pos maps lane ids to
// positions.
func (x *Index) laneOrder() (lanes []Lane, pos []int32) {
	order := make([]int32, 0, len(x.lanes))
	for _, last := range []bool{false, true} {
		start := len(order)
		for i := range x.lanes {
			if x.program[i] && x.serves[i] == last {
				order = append(order, int32(i))
			}
		}
		g := order[start:]
		sort.SliceStable(g, func(a, b int) bool { return naturalLess(x.lanes[g[a]].Name, x.lanes[g[b]].Name) })
	}
	for i := range x.lanes {
		if !x.program[i] {
			order = append(order, int32(i))
		}
	}
	lanes = make([]Lane, len(order))
	pos = make([]int32, len(x.lanes))
	for p, i := range order {
		lanes[p] = x.lanes[i]
		pos[i] = int32(p)
	}
	return lanes, pos
}
