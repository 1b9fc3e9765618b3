package ui

import (
	"sort"
	"sync"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// Status is what the dashboard's header says about the session.
type Status struct {
	Source     string    // the scenario's name or the file's path
	Where      string    // "sandbox", "host loopback", "file"
	Packets    int       // frames captured (or read) so far
	Dropped    uint64    // packets the kernel dropped
	DropsKnown bool      // Dropped was reported (a finished live capture)
	Started    time.Time // wall clock when the run started; zero for a replay
	Ended      time.Time // wall clock when the run ended; zero while it runs
	Live       bool      // events may still arrive
	Message    string    // a closing remark: "the scenario did not finish cleanly"
}

// StepPrompt is the call a scenario in step mode waits to make.
type StepPrompt struct {
	Lane string
	Op   trace.Op
	Line int
}

// Model is what producers hand the dashboard: the session's events, its
// status and, in step mode, the call waiting for a key. Producers (the
// record reader, a replay's file reader) call its setters from any
// goroutine; they never touch the terminal. The dashboard polls Version on
// its ticker and redraws when it changed.
type Model struct {
	mu      sync.Mutex
	version uint64
	view    *view
	status  Status
	step    *StepPrompt
}

// NewModel returns a model with no events yet.
func NewModel(st Status) *Model {
	return &Model{status: st, view: newView(nil), version: 1}
}

// SetEvents replaces the session's events with a new snapshot, in time
// order. The ladder and the indexes the panes need are computed here, in
// the caller's goroutine, so that the dashboard only swaps a pointer. The
// snapshot must not be modified afterwards.
func (m *Model) SetEvents(evs []trace.Event) {
	v := newView(evs)
	m.mu.Lock()
	m.view = v
	m.version++
	m.mu.Unlock()
}

// SetIndex shows a snapshot of a long timeline held compactly: the rows
// its producer has added so far. Call it again as it grows; it is cheap
// (no row is copied).
func (m *Model) SetIndex(x *Index) {
	x.setNarrationNotify(m.touch)
	v := x.snapshot()
	m.mu.Lock()
	m.view = v
	m.version++
	m.mu.Unlock()
}

// touch makes the dashboard look again (a narration is ready).
func (m *Model) touch() {
	m.mu.Lock()
	m.version++
	m.mu.Unlock()
}

// SetStatus changes the status under the model's lock.
func (m *Model) SetStatus(change func(*Status)) {
	m.mu.Lock()
	change(&m.status)
	m.version++
	m.mu.Unlock()
}

// SetStep shows the call a stepping scenario waits to make; nil clears it.
func (m *Model) SetStep(p *StepPrompt) {
	m.mu.Lock()
	m.step = p
	m.version++
	m.mu.Unlock()
}

// Version changes whenever anything in the model does.
func (m *Model) Version() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version
}

func (m *Model) get() (uint64, *view, Status, *StepPrompt) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version, m.view, m.status, m.step
}

// connInfo is one connection as the dashboard lists it.
type connInfo struct {
	ID             int
	Proto          string
	Client, Server trace.Endpoint // the SYN's (or first datagram's) sender and receiver
	Packets        int
	First, Last    time.Time
}

// view is one immutable snapshot: events, their ladder and indexes. A
// view of an Index (ix set) holds no events: its rows are rendered from
// the index's records on demand, through the accessors below.
type view struct {
	events []trace.Event
	ladder *Ladder
	conns  []connInfo // conns[i].ID == i+1
	// rowConns is the connection of each ladder row, 0 for none (a
	// listener's calls, notes about the whole capture).
	rowConns []int32
	// states lists, per connection (0: listeners and sockets without
	// one), the indexes of its state-change events, in time order.
	states map[int][]int32
	// frameRow maps frame numbers to the row of their packet (-1: none).
	frameRow []int32
	// calls maps call ids to their event index.
	calls map[int]int32

	ix *indexView
}

func newView(evs []trace.Event) *view {
	v := &view{events: evs, ladder: Layout(evs), states: map[int][]int32{}, calls: map[int]int32{}}
	pairConn := map[[2]trace.Endpoint]int{}
	for i := range evs {
		ev := &evs[i]
		switch {
		case ev.Packet != nil:
			p := ev.Packet
			if p.Conn <= 0 {
				continue
			}
			for len(v.conns) < p.Conn {
				v.conns = append(v.conns, connInfo{ID: len(v.conns) + 1})
			}
			c := &v.conns[p.Conn-1]
			if c.Packets == 0 {
				c.Proto, c.Client, c.Server, c.First = p.Proto, p.Src, p.Dst, p.Time
				if p.Proto == "tcp" && p.Flags == "S." { // the capture began mid-handshake
					c.Client, c.Server = p.Dst, p.Src
				}
			}
			c.Packets++
			c.Last = p.Time
			pairConn[[2]trace.Endpoint{p.Src, p.Dst}] = p.Conn
			pairConn[[2]trace.Endpoint{p.Dst, p.Src}] = p.Conn
		case ev.State != nil:
			v.states[ev.State.Conn] = append(v.states[ev.State.Conn], int32(i))
		case ev.Call != nil:
			v.calls[ev.Call.ID] = int32(i)
		}
	}
	v.rowConns = make([]int32, len(v.ladder.Rows))
	for k := range v.ladder.Rows {
		r := &v.ladder.Rows[k]
		ev := &evs[r.Event]
		switch {
		case ev.Packet != nil:
			v.rowConns[k] = int32(ev.Packet.Conn)
			if f := ev.Packet.Frame; f > 0 && f < 1<<28 {
				for len(v.frameRow) <= f {
					v.frameRow = append(v.frameRow, -1)
				}
				v.frameRow[f] = int32(k)
			}
		case ev.State != nil:
			v.rowConns[k] = int32(ev.State.Conn)
		case ev.Note != nil:
			v.rowConns[k] = int32(ev.Note.Conn)
		case ev.Call != nil:
			v.rowConns[k] = int32(callConn(ev.Call, pairConn))
		}
	}
	return v
}

// callConn is the connection a call's socket belongs to, 0 if none.
func callConn(c *trace.Call, pairConn map[[2]trace.Endpoint]int) int {
	if !c.Remote.IsValid() || !c.Local.IsValid() {
		return 0
	}
	return pairConn[[2]trace.Endpoint{c.Local, c.Remote}]
}

// count is the number of rows.
func (v *view) count() int {
	if v.ix != nil {
		return v.ix.n
	}
	return len(v.ladder.Rows)
}

// row is row k (0 ≤ k < count). The caller must not modify it.
func (v *view) row(k int) *Row {
	if v.ix != nil {
		r, _ := v.ix.materialize(k)
		return r
	}
	return &v.ladder.Rows[k]
}

// rowAndEvent is row k and its event.
func (v *view) rowAndEvent(k int) (*Row, *trace.Event) {
	if v.ix != nil {
		return v.ix.materialize(k)
	}
	r := &v.ladder.Rows[k]
	return r, &v.events[r.Event]
}

// rowTime is row k's time, without rendering the row.
func (v *view) rowTime(k int) time.Time {
	if v.ix != nil {
		return v.ix.rowTime(k)
	}
	return v.ladder.Rows[k].Time
}

// rowPlace is what the connection filter needs of row k: its kind, its
// lane (calls, states) or lanes (packets), its connection.
func (v *view) rowPlace(k int) (kind RowKind, lane, from, to, conn int) {
	if v.ix != nil {
		return v.ix.place(k)
	}
	r := &v.ladder.Rows[k]
	return r.Kind, r.Lane, r.From, r.To, int(v.rowConns[k])
}

// rowConn is the connection of row k, 0 for none.
func (v *view) rowConn(k int) int {
	if v.ix != nil {
		_, _, _, _, c := v.ix.place(k)
		return c
	}
	return int(v.rowConns[k])
}

// rowEvent is the event a row shows.
func (v *view) rowEvent(row int) *trace.Event {
	if row < 0 || row >= v.count() {
		return nil
	}
	if v.ix != nil {
		_, ev := v.ix.materialize(row)
		return ev
	}
	return &v.events[v.ladder.Rows[row].Event]
}

// rowOfFrame is the row of a frame's packet, -1 if none.
func (v *view) rowOfFrame(f int) int {
	if v.ix != nil {
		return v.ix.rowOfFrame(f)
	}
	if f > 0 && f < len(v.frameRow) {
		return int(v.frameRow[f])
	}
	return -1
}

// call is the recorded call of that id, nil if none.
func (v *view) call(id int) *trace.Call {
	if v.ix != nil {
		return v.ix.call(id)
	}
	if i, ok := v.calls[id]; ok {
		return v.events[i].Call
	}
	return nil
}

// connCount is the number of connections.
func (v *view) connCount() int {
	if v.ix != nil {
		return v.ix.connCount()
	}
	return len(v.conns)
}

// conn is connection id (1 ≤ id ≤ connCount).
func (v *view) conn(id int) connInfo {
	if v.ix != nil {
		return v.ix.conn(id)
	}
	return v.conns[id-1]
}

// stateHistory is the state changes of one end of a connection, in time
// order.
func (v *view) stateHistory(conn int, ep trace.Endpoint) []*trace.StateChange {
	if v.ix != nil {
		return v.ix.stateHistory(conn, ep)
	}
	var hist []*trace.StateChange
	for _, i := range v.states[conn] {
		if s := v.events[i].State; s.Endpoint == ep {
			hist = append(hist, s)
		}
	}
	return hist
}

// searchTime is the first row at or after t.
func (v *view) searchTime(t time.Time) int {
	return sort.Search(v.count(), func(i int) bool { return !v.rowTime(i).Before(t) })
}
