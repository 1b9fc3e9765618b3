package ui

import (
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

// view is one immutable snapshot: events, their ladder and indexes.
type view struct {
	events []trace.Event
	ladder *Ladder
	conns  []connInfo // conns[i].ID == i+1
	// rowConn is the connection of each ladder row, 0 for none (a listener's
	// calls, notes about the whole capture).
	rowConn []int32
	// states lists, per connection (0: listeners and sockets without
	// one), the indexes of its state-change events, in time order.
	states map[int][]int32
	// frameEvent maps frame numbers to the index of their packet event
	// (-1: none).
	frameEvent []int32
	// calls maps call ids to their event index.
	calls map[int]int32
}

func newView(evs []trace.Event) *view {
	v := &view{events: evs, ladder: Layout(evs), states: map[int][]int32{}, calls: map[int]int32{}}
	pairConn := map[[2]trace.Endpoint]int{}
	for i := range evs {
		ev := &evs[i]
		switch {
		case ev.Packet != nil:
			p := ev.Packet
			if p.Frame > 0 && p.Frame < 1<<28 {
				for len(v.frameEvent) <= p.Frame {
					v.frameEvent = append(v.frameEvent, -1)
				}
				v.frameEvent[p.Frame] = int32(i)
			}
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
	v.rowConn = make([]int32, len(v.ladder.Rows))
	for k := range v.ladder.Rows {
		r := &v.ladder.Rows[k]
		ev := &evs[r.Event]
		switch {
		case ev.Packet != nil:
			v.rowConn[k] = int32(ev.Packet.Conn)
		case ev.State != nil:
			v.rowConn[k] = int32(ev.State.Conn)
		case ev.Note != nil:
			v.rowConn[k] = int32(ev.Note.Conn)
		case ev.Call != nil:
			v.rowConn[k] = int32(callConn(ev.Call, pairConn))
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

// rowEvent is the event a row shows.
func (v *view) rowEvent(row int) *trace.Event {
	if row < 0 || row >= len(v.ladder.Rows) {
		return nil
	}
	return &v.events[v.ladder.Rows[row].Event]
}
