package ui

import (
	"bufio"
	"io"
	"strconv"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// DefaultLadderLimit is how many events a TextStream holds to draw them as
// a ladder; a longer timeline is printed one line per event as it comes.
const DefaultLadderLimit = 1 << 14

// TextStream prints a timeline given one event at a time, in bounded
// memory. It holds the first events: if the timeline ends within
// LadderLimit events, it prints exactly what WriteText prints of their
// Layout (a ladder, or the flat list for more lanes than fit). A longer
// timeline is printed in the flat format, one line per event, as the
// events come, after a line that says so; lanes are then named as their
// endpoints first appear.
type TextStream struct {
	out   io.Writer
	w     *bufio.Writer
	opts  TextOptions
	limit int
	held  []trace.Event
	flat  *flatStream // nil until the timeline proved too long
	err   error
}

// NewTextStream returns a stream printing to w; limit is the LadderLimit
// (0: DefaultLadderLimit).
func NewTextStream(w io.Writer, opts TextOptions, limit int) *TextStream {
	if limit <= 0 {
		limit = DefaultLadderLimit
	}
	return &TextStream{out: w, w: bufio.NewWriterSize(w, 64<<10), opts: opts, limit: limit}
}

// Event adds the next event, in time order. The stream keeps pointers to
// the event's records until it has printed it.
func (t *TextStream) Event(ev trace.Event) error {
	if t.err != nil {
		return t.err
	}
	if t.flat == nil {
		if len(t.held) == cap(t.held) {
			// Double the room, up to what is held at most: append would
			// grow a long slice by a quarter at a time.
			held := make([]trace.Event, len(t.held), min(max(2*cap(t.held), 64), t.limit+1))
			copy(held, t.held)
			t.held = held
		}
		t.held = append(t.held, ev)
		if len(t.held) <= t.limit {
			return nil
		}
		t.flat = newFlatStream(t.opts.Explain, t.held[0].Time())
		t.w.WriteString(padLeft("", timeWidth) + "  ── more than " + strconv.Itoa(t.limit) +
			" events: too many for a ladder, so one line per event (--filter or --conn choose fewer)\n")
		for _, ev := range t.held {
			t.flat.event(ev)
			if len(t.flat.buf) > flatFlush { // the buffer keeps its size
				t.writeFlat()
			}
		}
		t.held = nil
	} else {
		t.flat.event(ev)
	}
	return t.flushErr()
}

// Call, Packet, State and Note are Event of an event of that one record
// and no narration (trace.CallEvent(c) …): once the stream prints as the
// events come, the record goes to the printer without an Event made.
func (t *TextStream) Call(c *trace.Call) error {
	if t.flat == nil || t.err != nil {
		return t.Event(trace.CallEvent(c))
	}
	t.flat.addCall(c)
	return t.flushErr()
}

// Packet: see Call.
func (t *TextStream) Packet(p *trace.Packet) error {
	if t.flat == nil || t.err != nil {
		return t.Event(trace.PacketEvent(p))
	}
	t.flat.addPacket(p)
	return t.flushErr()
}

// State: see Call.
func (t *TextStream) State(s *trace.StateChange) error {
	if t.flat == nil || t.err != nil {
		return t.Event(trace.StateEvent(s))
	}
	t.flat.addState(s)
	return t.flushErr()
}

// Note: see Call.
func (t *TextStream) Note(n *trace.Note) error {
	if t.flat == nil || t.err != nil {
		return t.Event(trace.NoteEvent(n))
	}
	t.flat.addNote(n)
	return t.flushErr()
}

// HoldsOnlyTheLast reports whether the stream prints events as they come,
// holding the records of the last event given (and of the state changes
// of its frame) at most: the records of earlier events may be reused.
func (t *TextStream) HoldsOnlyTheLast() bool { return t.flat != nil }

func (t *TextStream) flushErr() error {
	if len(t.flat.buf) > flatFlush {
		t.writeFlat()
	}
	return t.err
}

// flatFlush is how many bytes of rows a flatStream gathers before they
// are written.
const flatFlush = 32 << 10

// writeFlat writes the flat rows gathered, after what the buffered writer
// holds (the line that says why there is no ladder).
func (t *TextStream) writeFlat() {
	if t.err == nil {
		t.err = t.w.Flush()
	}
	if t.err == nil {
		_, t.err = t.out.Write(t.flat.buf)
	}
	t.flat.buf = t.flat.buf[:0]
}

// Close prints what is held and flushes.
func (t *TextStream) Close() error {
	if t.err != nil {
		return t.err
	}
	if t.flat == nil {
		if err := WriteText(t.w, Layout(t.held), t.opts); err != nil {
			return err
		}
		t.held = nil
	} else {
		t.flat.close()
		if t.writeFlat(); t.err != nil {
			return t.err
		}
	}
	return t.w.Flush()
}

// flatStream is Layout and writeFlat done as the events come: it folds a
// packet's state changes into its row, shows a call that other events
// overtook as entry and return, and names lanes as their endpoints
// appear.
//
// It holds one event back: a packet until the first event that is not
// one of its state changes, a call until the next event says whether it
// was overtaken. The rows are appended to buf, for the TextStream to
// write: the events of a foreign capture cost no allocation in steady
// state.
type flatStream struct {
	buf     []byte
	explain bool
	start   time.Time
	since   sinceStart // t.Sub(start), faster
	lanes   *laneIndex
	states  map[stateKey]trace.State // states of ends without a flatConn
	conns   map[int]*flatConn
	lastID  int         // the conn id lastFC is filed under in conns,
	lastFC  *flatConn   // if not nil: consecutive packets share their conn
	free    []*flatConn // forgotten conns, for reuse
	pending []pendingReturn

	// The event not laid out yet: what it is, its record (in the field
	// of its kind; the others are left as they were) and its narration
	// (when narrations are printed); after a packet, the state changes
	// that follow it at its instant, and their narrations.
	held         heldKind
	call         *trace.Call
	packet       *trace.Packet
	state        *trace.StateChange
	note         *trace.Note
	explainText  string
	folds        []*trace.StateChange
	foldExplains []string

	// The lanes' labels, as far as made (a label is fixed when first
	// needed), one after another in labelText: label i ends at labelEnd[i].
	labelText []byte
	labelEnd  []int

	rel     relFormat   // the time column
	eps     epTable     // byEp's IPv4 endpoints
	epLanes [256]epLane // byEp's answers for other endpoints, by epSlot
}

// maxStreamKeys bounds the lane and state maps of a flatStream; past it
// they start afresh (a lane seen before gets a new role from its next
// packet).
const maxStreamKeys = 1 << 16

func newFlatStream(explain bool, start time.Time) *flatStream {
	return &flatStream{buf: make([]byte, 0, flatFlush+8<<10), explain: explain, start: start, since: newSinceStart(start),
		lanes: newLaneIndex(nil), states: map[stateKey]trace.State{}, conns: map[int]*flatConn{}}
}

// heldKind says what a flatStream holds.
type heldKind uint8

const (
	heldNothing heldKind = iota
	heldCall
	heldPacket
	heldState
	heldNote
	heldEmpty // an event without a record: it prints nothing
)

// event takes the next event: a state change of the held packet is kept
// with it; any other event lays out the held one and is held in turn.
// (Only the record and the narration are kept: fewer pointers to write.)
func (f *flatStream) event(ev trace.Event) {
	if ev.State != nil && f.foldsInto(ev.State) {
		f.fold(ev.State, ev.Explain)
		return
	}
	switch {
	case ev.Call != nil:
		f.hold(heldCall, ev.Call.Start, ev.Explain)
		f.call = ev.Call
	case ev.Packet != nil:
		f.hold(heldPacket, ev.Packet.Time, ev.Explain)
		f.packet = ev.Packet
	case ev.State != nil:
		f.hold(heldState, ev.State.Time, ev.Explain)
		f.state = ev.State
	case ev.Note != nil:
		f.hold(heldNote, ev.Note.Time, ev.Explain)
		f.note = ev.Note
	default:
		f.hold(heldEmpty, time.Time{}, ev.Explain)
	}
}

// The events of one record and no narration, as event takes them, without
// an Event to make and take apart.

func (f *flatStream) addCall(c *trace.Call) {
	f.hold(heldCall, c.Start, "")
	f.call = c
}

func (f *flatStream) addPacket(p *trace.Packet) {
	f.hold(heldPacket, p.Time, "")
	f.packet = p
}

func (f *flatStream) addState(s *trace.StateChange) {
	if f.foldsInto(s) {
		f.fold(s, "")
		return
	}
	f.hold(heldState, s.Time, "")
	f.state = s
}

func (f *flatStream) addNote(n *trace.Note) {
	f.hold(heldNote, n.Time, "")
	f.note = n
}

// hold lays out the held event (t is when the next event is: a call asks
// whether it was overtaken) and holds an event of kind k in its place; the
// caller then sets its record.
func (f *flatStream) hold(k heldKind, t time.Time, explain string) {
	switch f.held {
	case heldNothing:
	case heldCall:
		f.layOutCall(t, true)
	default:
		f.layOut(time.Time{}, true)
	}
	f.held = k
	if f.explain {
		f.explainText = explain
	}
}

// foldsInto reports whether s is a state change of the held packet, shown
// in its row.
func (f *flatStream) foldsInto(s *trace.StateChange) bool {
	return f.held == heldPacket && s.Source == trace.SourceInferred && s.Time.Equal(f.packet.Time) && s.Conn == f.packet.Conn
}

// fold keeps s, a state change of the held packet, with it.
func (f *flatStream) fold(s *trace.StateChange, explain string) {
	f.folds = append(f.folds, s)
	if f.explain {
		f.foldExplains = append(f.foldExplains, explain)
	}
}

func (f *flatStream) close() {
	if f.held != heldNothing {
		f.layOut(time.Time{}, false)
	}
	f.flushReturns(time.Time{}, true)
}

// layOut lays out and prints the held event (with the state changes
// folded into it); next is the time of the event after them, if hasNext.
func (f *flatStream) layOut(next time.Time, hasNext bool) {
	switch f.held {
	case heldCall:
		f.layOutCall(next, hasNext)
	case heldPacket:
		f.layOutPacket()
	case heldState:
		f.layOutState()
	case heldNote:
		f.layOutNote()
	}
	f.held = heldNothing
}

// returnsBefore prints the return rows of pending calls that returned
// before t.
func (f *flatStream) returnsBefore(t time.Time) {
	if len(f.pending) > 0 {
		f.flushReturns(t, false)
	}
}

func (f *flatStream) layOutCall(next time.Time, hasNext bool) {
	c := f.call
	f.returnsBefore(c.Start)
	lane := f.callLane(c)
	b := f.begin(c.Start)
	b = f.appendName(b, lane)
	b = append(b, ": "...)
	switch {
	case !c.End.IsZero() && hasNext && next.Before(c.End):
		// Other events overtook it: its entry now, its return later.
		b = append(b, c.Signature()...)
		b = append(b, " …"...)
		f.end(b, "")
		f.pending = append(f.pending, pendingReturn{call: c, lane: lane, explain: f.explainText})
	case c.Inferred != "":
		b = append(b, c.Inferred...)
		b = append(b, " (inferred)"...)
		f.end(b, f.explainText)
	default:
		b = append(b, callText(c, c.Op.Blocking())...)
		f.end(b, f.explainText)
	}
}

func (f *flatStream) layOutPacket() {
	p := f.packet
	f.returnsBefore(p.Time)
	fc, side := f.conn(p)
	for _, s := range f.folds {
		if fc != nil {
			f.setStateOf(fc, s) // the fold's conn is the packet's
		} else {
			f.setState(s)
		}
	}
	b := f.begin(p.Time)
	if fc != nil {
		if len(fc.names[side]) == 0 {
			n := f.appendName(fc.names[side], fc.lane[side])
			n = append(n, " → "...)
			n = f.appendName(n, fc.lane[1-side])
			fc.names[side] = append(n, "  "...)
		}
		b = append(b, fc.names[side]...)
		b = AppendPacketLabel(b, p)
		if p.Proto == "tcp" {
			from, to := fc.state[side], fc.state[1-side]
			if from != "" || to != "" {
				sf := &fc.states[side]
				if len(sf.text) == 0 || from != sf.from || to != sf.to {
					sf.from, sf.to, sf.text = from, to, appendStates(sf.text[:0], from, to)
				}
				b = append(b, sf.text...)
			}
		}
	} else {
		var fromState, toState trace.State
		var from, to int
		if q := p.Quoted; q[0].IsValid() {
			// An ICMP error travels back from where the datagram it
			// quotes was going to the socket that sent it.
			from, to = f.laneOf(q[1], q[0]), f.laneOf(q[0], q[1])
		} else {
			from, to = f.laneOf(p.Src, p.Dst), f.laneOf(p.Dst, p.Src)
		}
		if p.Proto == "tcp" {
			fromState = f.states[stateKey{p.Conn, p.Src}]
			toState = f.states[stateKey{p.Conn, p.Dst}]
		}
		b = f.appendName(b, from)
		b = append(b, " → "...)
		b = f.appendName(b, to)
		b = append(b, "  "...)
		b = AppendPacketLabel(b, p)
		if fromState != "" || toState != "" {
			b = appendStates(b, fromState, toState)
		}
	}
	f.end(b, f.explainText)
	if f.explain {
		for _, x := range f.foldExplains {
			if x != "" {
				f.writeExplain(x)
			}
		}
		f.foldExplains = f.foldExplains[:0]
	}
	f.folds = f.folds[:0] // the records left behind are overwritten by the next ones
}

// appendStates appends the states of a packet's ends after its label.
func appendStates(b []byte, from, to trace.State) []byte {
	b = append(b, "  ["...)
	b = append(b, stateName(from)...)
	b = append(b, " | "...)
	b = append(b, stateName(to)...)
	return append(b, ']')
}

func (f *flatStream) layOutState() {
	s := f.state
	f.returnsBefore(s.Time)
	f.setState(s)
	if s.Source == trace.SourceKernel {
		b := f.begin(s.Time)
		b = f.appendName(b, f.laneOfEndpoint(s.Endpoint))
		b = append(b, ": "...)
		b = append(b, stateName(s.From)...)
		b = append(b, " → "...)
		b = append(b, s.To...)
		b = append(b, " (kernel)"...)
		f.end(b, f.explainText)
	}
}

func (f *flatStream) layOutNote() {
	n := f.note
	f.returnsBefore(n.Time)
	b := f.begin(n.Time)
	b = append(b, "── "...)
	switch n.Level {
	case "warning":
		b = append(b, "warning: "...)
	case "error":
		b = append(b, "error: "...)
	}
	b = append(b, n.Text...)
	explain := f.explainText
	if explain == n.Text {
		explain = ""
	}
	f.end(b, explain)
	if n.Topic == trace.TopicSummary {
		f.forgetConn(n.Conn)
	}
}

// callLane is the lane of a call's program (made the first time it acts),
// or for an inferred call the lane of its endpoint.
func (f *flatStream) callLane(c *trace.Call) int {
	x := f.lanes
	if c.Inferred != "" {
		if i := f.laneOfEndpoint(c.Local); i >= 0 {
			return i
		}
		role := "host"
		switch c.Inferred {
		case trace.InferredConnect:
			role = "client"
		case trace.InferredListen:
			role = "server"
		}
		i := f.addLane(c.Local, role)
		if _, ok := epKey(c.Local); !ok {
			f.epLanes[epSlot(c.Local)] = epLane{c.Local, i + 1}
		}
		return i
	}
	i := x.addProgramCall(c)
	if k, ok := epKey(c.Local); ok && f.eps.get(k) < 0 {
		// byEp holds no lane of addLane's for an IPv4 endpoint: one there
		// was filed by addProgramCall, for an endpoint without a lane.
		if j, ok := x.byEp[c.Local]; ok {
			f.eps.put(k, j)
		}
	}
	return i
}

// addLane is lanes.add, except that an IPv4 endpoint is filed in eps
// instead of byEp (the flat stream looks such endpoints up there only, and
// a new entry in byEp, hashing an Endpoint, cost more than the rest of a
// new lane); it returns the new lane.
func (f *flatStream) addLane(ep trace.Endpoint, role string) int {
	i := len(f.lanes.lanes)
	if k, ok := epKey(ep); ok {
		f.lanes.lanes = append(f.lanes.lanes, Lane{Name: role, Endpoint: ep})
		f.eps.put(k, i)
		return i
	}
	f.lanes.add(ep, role)
	return i
}

// epLane is a lane found by its endpoint in lanes.byEp, whose entries do
// not change until the lanes start afresh.
type epLane struct {
	ep    trace.Endpoint
	lane1 int // the lane + 1; 0 for an empty slot
}

func epSlot(ep trace.Endpoint) int {
	a := ep.Addr().As16()
	return int((uint(ep.Port())*0x9e37 ^ uint(a[15]) ^ uint(a[14])<<5) % uint(len(flatStream{}.epLanes)))
}

// laneOf is lanes.laneOf, through laneOfEndpoint.
func (f *flatStream) laneOf(local, remote trace.Endpoint) int {
	if len(f.lanes.byPair) > 0 {
		if i, ok := f.lanes.byPair[[2]trace.Endpoint{local, remote}]; ok {
			return i
		}
	}
	return f.laneOfEndpoint(local)
}

// laneOfEndpoint is lanes.laneOfEndpoint, through eps, or remembering what
// byEp said.
func (f *flatStream) laneOfEndpoint(ep trace.Endpoint) int {
	if k, ok := epKey(ep); ok {
		if i := f.eps.get(k); i >= 0 {
			return i
		}
		return f.lanes.laneOfUnfiled(ep)
	}
	e := &f.epLanes[epSlot(ep)]
	if e.lane1 != 0 && e.ep == ep {
		return e.lane1 - 1
	}
	if i, ok := f.lanes.byEp[ep]; ok {
		*e = epLane{ep, i + 1}
		return i
	}
	return f.lanes.laneOfEndpoint(ep)
}

// flatConn is what a flatStream keeps of a connection with ports: its
// ends' lanes and states; by side of the sender, the names its rows start
// with (made at its first row: the lanes' labels are fixed then) and the
// states its last row ended with.
type flatConn struct {
	ep     [2]trace.Endpoint
	lane   [2]int
	state  [2]trace.State
	names  [2][]byte // "from → to  "
	states [2]statesText
}

// statesText is appendStates of from and to.
type statesText struct {
	from, to trace.State
	text     []byte
}

func (c *flatConn) side(ep trace.Endpoint) int {
	if ep == c.ep[0] {
		return 0
	}
	return 1
}

// conn is the connection of a TCP or UDP packet (made, with its lanes, at
// its first packet), and the side of its sender; nil for other packets.
func (f *flatStream) conn(p *trace.Packet) (*flatConn, int) {
	if p.Conn == 0 || (p.Proto != "tcp" && p.Proto != "udp") {
		return nil, 0
	}
	old := f.connOf(p.Conn)
	if old != nil {
		if p.Src == old.ep[0] && p.Dst == old.ep[1] {
			return old, 0
		}
		if p.Src == old.ep[1] && p.Dst == old.ep[0] {
			return old, 1
		}
	}
	// A lane found stays that endpoint's when another is added.
	from := f.laneOf(p.Src, p.Dst)
	if from < 0 {
		from = f.addLane(p.Src, roleOf(p, true))
	}
	to := f.laneOf(p.Dst, p.Src)
	if to < 0 {
		to = f.addLane(p.Dst, roleOf(p, false))
	}
	var fc *flatConn
	if old != nil {
		fc = old // the conn id's earlier connection is replaced
	} else if n := len(f.free); n > 0 {
		fc, f.free = f.free[n-1], f.free[:n-1]
	} else {
		fc = new(flatConn)
	}
	*fc = flatConn{ep: [2]trace.Endpoint{p.Src, p.Dst}, lane: [2]int{from, to}, names: [2][]byte{fc.names[0][:0], fc.names[1][:0]},
		states: [2]statesText{{text: fc.states[0].text[:0]}, {text: fc.states[1].text[:0]}}}
	fc.state[0], fc.state[1] = f.states[stateKey{p.Conn, p.Src}], f.states[stateKey{p.Conn, p.Dst}]
	if len(f.conns) >= maxStreamKeys {
		f.clearConns()
	}
	f.conns[p.Conn] = fc
	f.lastID, f.lastFC = p.Conn, fc
	return fc, 0
}

// connOf is conns[id].
func (f *flatStream) connOf(id int) *flatConn {
	if f.lastFC != nil && f.lastID == id {
		return f.lastFC
	}
	fc := f.conns[id]
	if fc != nil {
		f.lastID, f.lastFC = id, fc
	}
	return fc
}

func (f *flatStream) clearConns() {
	clear(f.conns)
	f.lastFC = nil
}

func (f *flatStream) setState(s *trace.StateChange) {
	f.setStateOf(f.connOf(s.Conn), s)
}

// setStateOf sets a state of fc, the flatConn of s.Conn (or nil).
func (f *flatStream) setStateOf(fc *flatConn, s *trace.StateChange) {
	if fc != nil && (s.Endpoint == fc.ep[0] || s.Endpoint == fc.ep[1]) {
		side := fc.side(s.Endpoint)
		fc.state[side] = shownAfter(fc.state[side], s)
		return
	}
	if len(f.states) >= maxStreamKeys {
		clear(f.states)
	}
	k := stateKey{s.Conn, s.Endpoint}
	f.states[k] = shownAfter(f.states[k], s)
}

// forgetConn drops a finished connection's states, and the lanes when
// there are too many.
func (f *flatStream) forgetConn(conn int) {
	if fc := f.connOf(conn); fc != nil {
		delete(f.conns, conn)
		f.lastFC = nil
		if len(f.states) > 0 {
			delete(f.states, stateKey{conn, fc.ep[0]})
			delete(f.states, stateKey{conn, fc.ep[1]})
		}
		f.free = append(f.free, fc)
	}
	if len(f.lanes.lanes) >= maxStreamKeys {
		// Programs' lanes (named by calls) stay; endpoint lanes go.
		f.lanes = newLaneIndex(nil)
		f.labelText, f.labelEnd = f.labelText[:0], f.labelEnd[:0]
		f.epLanes = [256]epLane{}
		f.eps.reset()
		f.clearConns()
	}
}

// flushReturns prints the return rows of pending calls that returned
// before t (all of them when all is set), in return order.
func (f *flatStream) flushReturns(t time.Time, all bool) {
	for len(f.pending) > 0 {
		best := -1
		for k, p := range f.pending {
			if (all || p.call.End.Before(t)) && (best < 0 || p.call.End.Before(f.pending[best].call.End)) {
				best = k
			}
		}
		if best < 0 {
			return
		}
		p := f.pending[best]
		b := f.begin(p.call.End)
		b = f.appendName(b, p.lane)
		b = append(b, ": … "...)
		b = append(b, p.call.Op...)
		b = append(b, ' ')
		b = append(b, p.call.Result()...)
		b = append(b, stateSuffix(p.call.State)...)
		b = append(b, durationSuffix(p.call)...)
		f.end(b, p.explain)
		f.pending = append(f.pending[:best], f.pending[best+1:]...)
	}
}

// begin starts a row, with its time, after the rows in buf.
func (f *flatStream) begin(t time.Time) []byte {
	b := f.rel.append(f.buf, f.since.of(t))
	return append(b, "  "...)
}

// end ends the row begun in b, with its narration under it.
func (f *flatStream) end(b []byte, explain string) {
	f.buf = append(b, '\n')
	if f.explain && explain != "" {
		f.writeExplain(explain)
	}
}

// appendName appends the label of lane i, "?" when there is none.
func (f *flatStream) appendName(b []byte, i int) []byte {
	lanes := f.lanes.lanes
	if i < 0 || i >= len(lanes) {
		return append(b, '?')
	}
	if i >= len(f.labelEnd) {
		// Labels are fixed as the first row after their lane was made
		// needs any of them: later addresses do not rename a lane.
		for k := len(f.labelEnd); k < len(lanes); k++ {
			f.labelText = appendLabel(f.labelText, lanes[k])
			f.labelEnd = append(f.labelEnd, len(f.labelText))
		}
	}
	start := 0
	if i > 0 {
		start = f.labelEnd[i-1]
	}
	return append(b, f.labelText[start:f.labelEnd[i]]...)
}

// appendLabel appends l.Label().
func appendLabel(b []byte, l Lane) []byte {
	b = append(b, l.Name...)
	if !l.Endpoint.Addr().IsValid() {
		return b
	}
	n := len(b)
	b = append(b, ' ')
	b = l.Endpoint.AppendTo(b)
	if string(b[n+1:]) == l.Name {
		return b[:n] // a lane named by its address
	}
	return b
}
