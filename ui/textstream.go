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
	return &TextStream{w: bufio.NewWriterSize(w, 64<<10), opts: opts, limit: limit}
}

// Event adds the next event, in time order. The stream keeps pointers to
// the event's records until it has printed it.
func (t *TextStream) Event(ev trace.Event) error {
	if t.err != nil {
		return t.err
	}
	if t.flat == nil {
		t.held = append(t.held, ev)
		if len(t.held) <= t.limit {
			return nil
		}
		t.flat = newFlatStream(t.w, t.opts.Explain, t.held[0].Time())
		t.w.WriteString(padLeft("", timeWidth) + "  ── more than " + strconv.Itoa(t.limit) +
			" events: too many for a ladder, so one line per event (--filter or --conn choose fewer)\n")
		for _, ev := range t.held {
			t.flat.event(ev)
		}
		t.held = nil
	} else {
		t.flat.event(ev)
	}
	return t.flushErr()
}

func (t *TextStream) flushErr() error {
	if t.w.Buffered() > 32<<10 {
		if err := t.w.Flush(); err != nil {
			t.err = err
		}
	}
	return t.err
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
	}
	return t.w.Flush()
}

// flatStream is Layout and writeFlat done as the events come: it folds a
// packet's state changes into its row, shows a call that other events
// overtook as entry and return, and names lanes as their endpoints
// appear.
type flatStream struct {
	w       *bufio.Writer
	explain bool
	start   time.Time
	lanes   *laneIndex
	states  map[stateKey]trace.State // states of ends without a flatConn
	conns   map[int]*flatConn
	queue   []trace.Event // events not laid out yet: a packet waits for its state changes, a call for the next event
	pending []pendingReturn
	line    []byte
	labels  []string      // the lanes' labels, as far as made
	packet  *trace.Packet // the packet row being printed
}

// maxStreamKeys bounds the lane and state maps of a flatStream; past it
// they start afresh (a lane seen before gets a new role from its next
// packet).
const maxStreamKeys = 1 << 16

func newFlatStream(w *bufio.Writer, explain bool, start time.Time) *flatStream {
	return &flatStream{w: w, explain: explain, start: start, lanes: newLaneIndex(nil), states: map[stateKey]trace.State{}, conns: map[int]*flatConn{}}
}

func (f *flatStream) event(ev trace.Event) {
	f.queue = append(f.queue, ev)
	for f.ready() {
		f.layOut()
	}
}

// ready reports whether the first queued event can be laid out: what
// follows it is known far enough.
func (f *flatStream) ready() bool {
	if len(f.queue) < 2 {
		return false
	}
	if p := f.queue[0].Packet; p != nil {
		// Its state changes follow it; the first other event ends them.
		for _, ev := range f.queue[1:] {
			if !foldsInto(ev, p) {
				return true
			}
		}
		return false
	}
	return true
}

func foldsInto(ev trace.Event, p *trace.Packet) bool {
	s := ev.State
	return s != nil && s.Source == trace.SourceInferred && s.Time.Equal(p.Time) && s.Conn == p.Conn
}

func (f *flatStream) close() {
	for len(f.queue) > 0 {
		f.layOut()
	}
	f.flushReturns(time.Time{}, true)
}

// layOut lays out and prints the first queued event (with the state
// changes folded into it).
func (f *flatStream) layOut() {
	ev := f.queue[0]
	n := 1
	f.flushReturns(ev.Time(), false)
	switch {
	case ev.Call != nil:
		c := ev.Call
		lane := f.callLane(c)
		if !c.End.IsZero() && len(f.queue) > 1 && f.queue[1].Time().Before(c.End) {
			f.row(Row{Kind: RowCall, Time: c.Start, Lane: lane, Text: c.Signature() + " …"})
			f.pending = append(f.pending, pendingReturn{call: c, lane: lane, explain: ev.Explain})
		} else {
			f.row(Row{Kind: RowCall, Time: c.Start, Lane: lane, Text: callText(c, c.Op.Blocking()), Explain: explainLines(ev.Explain)})
		}
	case ev.Packet != nil:
		p := ev.Packet
		explain := explainLines(ev.Explain)
		fc := f.conn(p)
		for n < len(f.queue) && foldsInto(f.queue[n], p) {
			s := f.queue[n].State
			f.setState(s)
			if f.explain {
				explain = append(explain, explainLines(f.queue[n].Explain)...)
			}
			n++
		}
		row := Row{Kind: RowPacket, Time: p.Time, Explain: explain}
		if fc != nil {
			from := fc.side(p.Src)
			row.From, row.To = fc.lane[from], fc.lane[1-from]
			if p.Proto == "tcp" {
				row.FromState, row.ToState = fc.state[from], fc.state[1-from]
			}
		} else {
			row.From, row.To = f.lanes.laneOf(p.Src, p.Dst), f.lanes.laneOf(p.Dst, p.Src)
			if q := p.Quoted; q[0].IsValid() {
				row.From, row.To = f.lanes.laneOf(q[1], q[0]), f.lanes.laneOf(q[0], q[1])
			}
			if p.Proto == "tcp" {
				row.FromState = f.states[stateKey{p.Conn, p.Src}]
				row.ToState = f.states[stateKey{p.Conn, p.Dst}]
			}
		}
		f.packet = p
		f.row(row)
		f.packet = nil
	case ev.State != nil:
		s := ev.State
		f.setState(s)
		if s.Source == trace.SourceKernel {
			f.row(Row{Kind: RowState, Time: s.Time, Lane: f.lanes.laneOfEndpoint(s.Endpoint),
				Text: stateName(s.From) + " → " + string(s.To) + " (kernel)", Explain: explainLines(ev.Explain)})
		}
	case ev.Note != nil:
		row := Row{Kind: RowNote, Time: ev.Note.Time, Lane: -1, Text: noteText(ev.Note)}
		if ev.Explain != ev.Note.Text {
			row.Explain = explainLines(ev.Explain)
		}
		f.row(row)
		if ev.Note.Topic == trace.TopicSummary {
			f.forgetConn(ev.Note.Conn)
		}
	}
	clear(f.queue[:n])
	f.queue = f.queue[n:]
	if len(f.queue) == 0 {
		f.queue = f.queue[:0:0]
	}
}

// callLane is the lane of a call's program (made the first time it acts),
// or for an inferred call the lane of its endpoint.
func (f *flatStream) callLane(c *trace.Call) int {
	x := f.lanes
	if c.Inferred != "" {
		if i := x.laneOfEndpoint(c.Local); i >= 0 {
			return i
		}
		role := "host"
		switch c.Inferred {
		case trace.InferredConnect:
			role = "client"
		case trace.InferredListen:
			role = "server"
		}
		x.add(c.Local, role)
		return x.byEp[c.Local]
	}
	return x.addProgramCall(c)
}

// flatConn is what a flatStream keeps of a connection with ports: its
// ends' lanes and states.
type flatConn struct {
	ep    [2]trace.Endpoint
	lane  [2]int
	state [2]trace.State
}

func (c *flatConn) side(ep trace.Endpoint) int {
	if ep == c.ep[0] {
		return 0
	}
	return 1
}

// conn is the connection of a TCP or UDP packet (made, with its lanes, at
// its first packet); nil for other packets.
func (f *flatStream) conn(p *trace.Packet) *flatConn {
	if p.Conn == 0 || !trace.HasPorts(p.Proto) {
		return nil
	}
	if fc := f.conns[p.Conn]; fc != nil && (fc.ep == [2]trace.Endpoint{p.Src, p.Dst} || fc.ep == [2]trace.Endpoint{p.Dst, p.Src}) {
		return fc
	}
	if f.lanes.laneOf(p.Src, p.Dst) < 0 {
		f.lanes.add(p.Src, roleOf(p, true))
	}
	if f.lanes.laneOf(p.Dst, p.Src) < 0 {
		f.lanes.add(p.Dst, roleOf(p, false))
	}
	fc := &flatConn{ep: [2]trace.Endpoint{p.Src, p.Dst}, lane: [2]int{f.lanes.laneOf(p.Src, p.Dst), f.lanes.laneOf(p.Dst, p.Src)}}
	fc.state[0], fc.state[1] = f.states[stateKey{p.Conn, p.Src}], f.states[stateKey{p.Conn, p.Dst}]
	if len(f.conns) >= maxStreamKeys {
		clear(f.conns)
	}
	f.conns[p.Conn] = fc
	return fc
}

func (f *flatStream) setState(s *trace.StateChange) {
	if fc := f.conns[s.Conn]; fc != nil && (s.Endpoint == fc.ep[0] || s.Endpoint == fc.ep[1]) {
		fc.state[fc.side(s.Endpoint)] = s.To
		return
	}
	if len(f.states) >= maxStreamKeys {
		clear(f.states)
	}
	f.states[stateKey{s.Conn, s.Endpoint}] = s.To
}

// forgetConn drops a finished connection's states, and the lanes when
// there are too many.
func (f *flatStream) forgetConn(conn int) {
	if fc := f.conns[conn]; fc != nil {
		delete(f.conns, conn)
		delete(f.states, stateKey{conn, fc.ep[0]})
		delete(f.states, stateKey{conn, fc.ep[1]})
	}
	if len(f.lanes.lanes) >= maxStreamKeys {
		// Programs' lanes (named by calls) stay; endpoint lanes go.
		f.lanes = newLaneIndex(nil)
		f.labels = f.labels[:0]
		clear(f.conns)
	}
}

func (f *flatStream) flushReturns(t time.Time, all bool) {
	for {
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
		f.row(Row{Kind: RowReturn, Time: p.call.End, Lane: p.lane,
			Text: "… " + string(p.call.Op) + " " + p.call.Result() + stateSuffix(p.call.State) + durationSuffix(p.call), Explain: explainLines(p.explain)})
		f.pending = append(f.pending[:best], f.pending[best+1:]...)
	}
}

// row prints one row as writeFlat does.
func (f *flatStream) row(r Row) {
	b := appendRel(f.line[:0], r.Time.Sub(f.start))
	b = append(b, "  "...)
	switch r.Kind {
	case RowPacket:
		b = f.appendName(b, r.From)
		b = append(b, " → "...)
		b = f.appendName(b, r.To)
		b = append(b, "  "...)
		if f.packet != nil {
			b = AppendPacketLabel(b, f.packet)
		} else {
			b = append(b, r.Text...)
		}
		if r.FromState != "" || r.ToState != "" {
			b = append(b, "  ["...)
			b = append(b, stateName(r.FromState)...)
			b = append(b, " | "...)
			b = append(b, stateName(r.ToState)...)
			b = append(b, ']')
		}
	case RowNote:
		b = append(b, "── "...)
		b = append(b, r.Text...)
	default:
		b = f.appendName(b, r.Lane)
		b = append(b, ": "...)
		b = append(b, r.Text...)
	}
	b = append(b, '\n')
	f.w.Write(b)
	f.line = b
	if f.explain {
		writeExplain(f.w, r.Explain)
	}
}

func (f *flatStream) appendName(b []byte, i int) []byte {
	if i < 0 || i >= len(f.lanes.lanes) {
		return append(b, '?')
	}
	for len(f.labels) < len(f.lanes.lanes) {
		f.labels = append(f.labels, f.lanes.lanes[len(f.labels)].Label())
	}
	return append(b, f.labels[i]...)
}

// appendRel appends seconds with six decimals, right-aligned in the time
// column, as fmt's "%10.6f" of d.Seconds() does.
func appendRel(b []byte, d time.Duration) []byte {
	start := len(b)
	b = strconv.AppendFloat(b, d.Seconds(), 'f', 6, 64)
	if n := len(b) - start; n < timeWidth {
		pad := timeWidth - n
		b = append(b, "          "[:pad]...)
		copy(b[start+pad:], b[start:start+n])
		for i := start; i < start+pad; i++ {
			b[i] = ' '
		}
	}
	return b
}
