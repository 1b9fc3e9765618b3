package ui

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/sockscope/sockscope/trace"
)

// NarrateQuery asks for a piece of an indexed timeline to be annotated
// again, with its narration (Event.Explain), when the user selects a row
// whose narration the Index did not keep.
type NarrateQuery struct {
	// Conn is the connection the frames belong to in the whole timeline;
	// 0 for a packet of no connection, or for a note alone.
	Conn int
	// Frames are the numbers of the frames to decode again, in order: the
	// connection's first ones, up to (at least) the selected one; a lone
	// packet's frame.
	Frames []int
	// Recorded are events to annotate with them, in time order: the calls
	// and kernel states a program recorded about the connection; or a
	// note, alone.
	Recorded []trace.Event
}

// NarrateFunc annotates what a query names as the whole timeline's
// annotation did, but alone, and returns the annotated events with their
// narration. The dashboard calls it off its own goroutine, one query at a
// time; it may take a while (it reads the file).
type NarrateFunc func(NarrateQuery) ([]trace.Event, error)

// MaxNarratedFrames bounds the frames one query decodes again: a
// connection longer than that is narrated up to its MaxNarratedFrames-th
// frame, and its later rows say that they are too far into it.
const MaxNarratedFrames = 20000

// narratedAhead is how many frames past the selected one a query takes
// along, when the connection is too long to take whole: the next rows
// find their narration ready.
const narratedAhead = 1024

// narratedConns is how many connections' narrations are kept.
const narratedConns = 8

// Narration is a row's narration as the detail pane shows it: the event's
// narration, then for a packet those of the state changes folded into its
// row; or why there is none. Pending: it is being made.
type Narration struct {
	Paragraphs []string
	Pending    bool
}

// SetNarrator lets the dashboard make the narration the index does not
// keep (packets, inferred calls, folded state changes, notes), one
// connection at a time, when a row of it is selected.
func (x *Index) SetNarrator(fn NarrateFunc) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if fn == nil {
		x.narr = nil
		return
	}
	x.narr = &narrations{fn: fn}
}

// narrations are the narrations made so far, and the one being made.
type narrations struct {
	fn NarrateFunc

	mu     sync.Mutex
	cache  []*narrEntry // most recently used first
	want   *narrJob     // the latest asked for, not yet started
	busy   bool         // a worker runs
	notify func()       // a narration is ready (Model.SetIndex sets it)

	gen atomic.Uint64 // narrations made
}

// narrKey names what one query narrates.
type narrKey struct {
	conn  int // a connection's rows
	frame int // … or a packet of none: its frame
	note  int // … or a note alone: its row + 1
}

type narrEntry struct {
	key      narrKey
	whole    bool // every frame of the connection
	upTo     int  // … or those up to this frame
	tooLong  int  // frames from this one on are past MaxNarratedFrames (0: none)
	packets  map[int][]string
	inferred map[[2]int]string // (frame, inferred kind) → narration
	calls    map[int]string    // recorded calls, by id
	states   map[kstateKey]string
	note     string
	err      error
}

// covers reports whether the entry holds what's narration (or says why
// not): a recorded call's and a kernel state's only when it took the
// whole connection.
func (e *narrEntry) covers(what narrWhat) bool {
	f := what.frame
	return e.whole || f > 0 && f <= e.upTo || e.tooLong > 0 && (f == 0 || f >= e.tooLong)
}

type narrJob struct {
	key  narrKey
	what narrWhat // the selected row's event
	iv   *indexView
	row  int
}

// narrWhat names a row's event among those of its query: a packet's or
// an inferred call's frame (and kind), a recorded call's id, a kernel
// state.
type narrWhat struct {
	frame, kind int
	call        int
	state       kstateKey
}

// kstateKey names a kernel state among a connection's events.
type kstateKey struct {
	t  int64
	ep trace.Endpoint
	to trace.State
}

// rowNarrationKey is what row k needs narrated: its query's key and what
// it is among the query's events; ok is false for rows that need none or
// whose narration the index keeps.
func (iv *indexView) rowNarrationKey(k int) (key narrKey, what narrWhat, ok bool) {
	x := iv.x
	r := x.at(k)
	switch r.kind {
	case kPacket:
		return narrKey{conn: int(r.conn)}, narrWhat{frame: int(r.frame)}, true
	case kInferred:
		conn := 0
		if p := x.rowOfFrame(int(r.frame)); p >= 0 && p < iv.n {
			conn = int(x.at(p).conn)
		}
		return narrKey{conn: conn}, narrWhat{frame: int(r.frame), kind: int(r.flags)}, conn > 0
	case kNote:
		if r.by == 1 { // its narration is its text
			return narrKey{}, narrWhat{}, false
		}
		return narrKey{note: k + 1}, narrWhat{}, true
	}
	e := &x.extras[r.a]
	switch ev := &e.ev; {
	case e.row.Kind == RowPacket && ev.Packet != nil:
		p := ev.Packet
		if p.Conn > 0 {
			return narrKey{conn: p.Conn}, narrWhat{frame: p.Frame}, true
		}
		return narrKey{frame: p.Frame}, narrWhat{frame: p.Frame}, p.Frame > 0
	case ev.Explain != "":
		return narrKey{}, narrWhat{}, false
	case ev.Note != nil:
		return narrKey{note: k + 1}, narrWhat{}, true
	case ev.Call != nil && ev.Call.Inferred == "":
		conn := x.callConnLocked(ev.Call)
		return narrKey{conn: conn}, narrWhat{call: ev.Call.ID}, conn > 0
	case ev.State != nil && ev.State.Source == trace.SourceKernel:
		s := ev.State
		return narrKey{conn: s.Conn}, narrWhat{state: kstateKey{s.Time.UnixNano(), s.Endpoint, s.To}}, s.Conn > 0
	}
	return narrKey{}, narrWhat{}, false
}

// narration is row k's narration, made again when the index did not keep
// it: at once from what was made before, or Pending while a worker makes
// it. ok is false when the row has nothing to narrate again (no
// narrator, a call or kernel state kept whole).
func (iv *indexView) narration(k int) (n Narration, ok bool) {
	x := iv.x
	x.mu.RLock()
	nr := x.narr
	if nr == nil || k < 0 || k >= iv.n {
		x.mu.RUnlock()
		return Narration{}, false
	}
	key, what, ok := iv.rowNarrationKey(k)
	x.mu.RUnlock()
	if !ok {
		return Narration{}, false
	}
	nr.mu.Lock()
	defer nr.mu.Unlock()
	if e := nr.lookupLocked(key, what); e != nil {
		return e.narrationOf(key, what), true
	}
	nr.want = &narrJob{key: key, what: what, iv: iv, row: k}
	if !nr.busy {
		nr.busy = true
		go x.narrate(nr)
	}
	return Narration{Pending: true}, true
}

// lookupLocked is the narration made of key that holds frame's, nil if
// none; it becomes the most recently used.
func (nr *narrations) lookupLocked(key narrKey, what narrWhat) *narrEntry {
	for i, e := range nr.cache {
		if e.key != key || key.conn > 0 && !e.covers(what) {
			continue
		}
		copy(nr.cache[1:i+1], nr.cache[:i])
		nr.cache[0] = e
		return e
	}
	return nil
}

// addLocked keeps a narration made, as the most recently used.
func (nr *narrations) addLocked(e *narrEntry) {
	nr.cache = append(nr.cache, nil)
	copy(nr.cache[1:], nr.cache)
	nr.cache[0] = e
	if len(nr.cache) > narratedConns {
		nr.cache[narratedConns] = nil
		nr.cache = nr.cache[:narratedConns]
	}
}

// narrationOf picks a row's narration out of its connection's.
func (e *narrEntry) narrationOf(key narrKey, what narrWhat) Narration {
	frame := what.frame
	switch {
	case e.err != nil:
		return Narration{Paragraphs: []string{"(no narration: " + e.err.Error() + ")"}}
	case e.tooLong > 0 && (frame == 0 && !e.whole || frame >= e.tooLong):
		return Narration{Paragraphs: []string{fmt.Sprintf("(no narration: this connection has more than %d packets before this row, too many to narrate here; `sockscope replay --conn %d --explain FILE` narrates it whole)", MaxNarratedFrames, key.conn)}}
	case what.call > 0:
		return Narration{Paragraphs: nonEmpty(e.calls[what.call])}
	case what.state != kstateKey{}:
		return Narration{Paragraphs: nonEmpty(e.states[what.state])}
	case frame == 0:
		return Narration{Paragraphs: nonEmpty(e.note)}
	case what.kind != 0:
		return Narration{Paragraphs: nonEmpty(e.inferred[[2]int{frame, what.kind}])}
	}
	return Narration{Paragraphs: e.packets[frame]}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// narrate makes the narrations asked for, the latest first, until none
// waits. It runs on its own goroutine.
func (x *Index) narrate(nr *narrations) {
	for {
		nr.mu.Lock()
		j := nr.want
		nr.want = nil
		if j == nil {
			nr.busy = false
			nr.mu.Unlock()
			return
		}
		if nr.lookupLocked(j.key, j.what) != nil {
			// The one made last holds it too (the next row of the same
			// connection).
			notify := nr.notify
			nr.mu.Unlock()
			nr.gen.Add(1)
			if notify != nil {
				notify()
			}
			continue
		}
		nr.mu.Unlock()
		e := x.narrateJob(nr.fn, j)
		nr.mu.Lock()
		nr.addLocked(e)
		notify := nr.notify
		nr.mu.Unlock()
		nr.gen.Add(1)
		if notify != nil {
			notify()
		}
	}
}

// narrateJob asks fn for one job's narration and files it.
func (x *Index) narrateJob(fn NarrateFunc, j *narrJob) (e *narrEntry) {
	e = &narrEntry{key: j.key, packets: map[int][]string{}, inferred: map[[2]int]string{}, calls: map[int]string{}, states: map[kstateKey]string{}}
	defer func() {
		if p := recover(); p != nil {
			e.err = fmt.Errorf("panic: %v", p)
		}
	}()
	var q NarrateQuery
	switch {
	case j.key.conn > 0:
		q.Conn = j.key.conn
		q.Frames, e.whole, e.upTo, e.tooLong = x.connFrames(j.iv, j.key.conn, j.what.frame)
		if len(q.Frames) > 0 {
			q.Recorded = x.connRecorded(j.iv, j.key.conn)
		}
	case j.what.frame > 0:
		q.Frames = []int{j.what.frame}
		e.whole = true
	default:
		_, ev := j.iv.materialize(j.row)
		ev.Explain = ""
		q.Recorded = []trace.Event{*ev}
		e.whole = true
	}
	if len(q.Frames) == 0 && len(q.Recorded) == 0 {
		return e
	}
	evs, err := fn(q)
	if err != nil {
		e.err = err
		return e
	}
	e.file(evs)
	return e
}

// file keeps the narrations of a query's events by what the rows name
// them with: a packet's frame (with the state changes it caused), an
// inferred call's frame and kind, the note.
func (e *narrEntry) file(evs []trace.Event) {
	for i := 0; i < len(evs); i++ {
		ev := &evs[i]
		switch {
		case ev.Packet != nil:
			p := ev.Packet
			paras := nonEmpty(ev.Explain)
			for i+1 < len(evs) && evs[i+1].State != nil && evs[i+1].State.Source == trace.SourceInferred &&
				evs[i+1].State.Time.Equal(p.Time) && evs[i+1].State.Conn == p.Conn {
				i++
				if s := evs[i].Explain; s != "" {
					paras = append(paras, s)
				}
			}
			e.packets[p.Frame] = paras
		case ev.Call != nil && ev.Call.Inferred != "" && len(ev.Call.Frames) == 1:
			if k, ok := codeOf(inferredKinds, ev.Call.Inferred); ok {
				e.inferred[[2]int{ev.Call.Frames[0], int(k)}] = ev.Explain
			}
		case ev.Call != nil && ev.Call.Inferred == "":
			e.calls[ev.Call.ID] = ev.Explain
		case ev.State != nil && ev.State.Source == trace.SourceKernel:
			s := ev.State
			e.states[kstateKey{s.Time.UnixNano(), s.Endpoint, s.To}] = ev.Explain
		case ev.Note != nil:
			switch {
			case e.key.note > 0 && ev.Explain != ev.Note.Text: // a note that says more than its text
				e.note = ev.Explain
			case e.key.conn > 0 && ev.Note.Topic == trace.TopicSummary && e.note == "":
				e.note = ev.Explain
			}
		}
	}
}

// connFrames are the frames of connection conn to narrate for the row of
// frame sel: all of them when they are at most MaxNarratedFrames, else
// those up to sel and a little further. tooLong is the first frame past
// MaxNarratedFrames when sel is past it.
func (x *Index) connFrames(iv *indexView, conn, sel int) (frames []int, whole bool, upTo, tooLong int) {
	x.mu.RLock()
	if conn > len(x.conns) || x.conns[conn-1].row < 0 {
		x.mu.RUnlock()
		return nil, true, 0, 0
	}
	k, total := int(x.conns[conn-1].row), int(x.conns[conn-1].packets)
	x.mu.RUnlock()
	limit := total
	if total > MaxNarratedFrames {
		limit = -1 // until sel, then narratedAhead more
	}
	ahead := -1
	// Look through the rows a slice at a time: the producer may be
	// waiting to add rows.
	for k < iv.n && len(frames) < total {
		x.mu.RLock()
		end := min(iv.n, k+1<<14)
		for ; k < end && len(frames) < total; k++ {
			f := 0
			switch r := x.at(k); r.kind {
			case kPacket:
				if int(r.conn) == conn {
					f = int(r.frame)
				}
			case kExtra:
				if p := x.extras[r.a].ev.Packet; p != nil && p.Conn == conn && x.extras[r.a].row.Kind == RowPacket {
					f = p.Frame
				}
			}
			if f == 0 {
				continue
			}
			if len(frames) == MaxNarratedFrames {
				// The rows from here on are too far into the connection:
				// narrate the first ones if the selected one is among them.
				x.mu.RUnlock()
				if ahead < 0 {
					return nil, false, 0, f
				}
				sort.Ints(frames)
				return frames, false, frames[len(frames)-1], f
			}
			frames = append(frames, f)
			if f == sel && limit < 0 {
				ahead = narratedAhead
			}
			if ahead >= 0 {
				if ahead == 0 {
					break
				}
				ahead--
			}
		}
		x.mu.RUnlock()
		if ahead == 0 {
			break
		}
	}
	sort.Ints(frames)
	if len(frames) == 0 {
		return nil, true, 0, 0
	}
	return frames, len(frames) >= total, frames[len(frames)-1], 0
}

// connRecorded are the events a program recorded about connection conn,
// in time order: the calls on its sockets (those whose two addresses are
// its ends) and the kernel's states of its ends. They tie its packets to
// the calls that sent them and name its ends by their programs' lanes.
func (x *Index) connRecorded(iv *indexView, conn int) []trace.Event {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []trace.Event
	if !x.anyProgs {
		return nil
	}
	for _, i := range x.calls {
		if ev := x.extras[i].ev; x.callConnLocked(ev.Call) == conn {
			out = append(out, ev)
		}
	}
	for _, i := range x.kstates[conn] {
		out = append(out, x.extras[i].ev)
	}
	sort.SliceStable(out, func(a, b int) bool {
		if ta, tb := out[a].Time(), out[b].Time(); !ta.Equal(tb) {
			return ta.Before(tb)
		}
		return out[a].Call != nil && out[b].Call != nil && out[a].Call.ID < out[b].Call.ID
	})
	for i := range out {
		out[i].Explain = ""
	}
	return out
}

// narrationGen counts the narrations made so far: the dashboard redraws
// the detail pane when it changes.
func (x *Index) narrationGen() uint64 {
	x.mu.RLock()
	nr := x.narr
	x.mu.RUnlock()
	if nr == nil {
		return 0
	}
	return nr.gen.Load()
}

// setNarrationNotify makes fn be called whenever a narration is ready.
func (x *Index) setNarrationNotify(fn func()) {
	x.mu.RLock()
	nr := x.narr
	x.mu.RUnlock()
	if nr == nil {
		return
	}
	nr.mu.Lock()
	nr.notify = fn
	nr.mu.Unlock()
}

// RowNarration is the narration of row k of the rows added so far, as the
// detail pane shows it under "What happened", made again now if it must
// be (through the narrator, which reads the file: it may take a while).
// ok is false for a row the index has nothing to narrate again for: no
// narrator, or a row kept whole (a recorded call, a kernel state).
func (x *Index) RowNarration(k int) (paras []string, ok bool) {
	iv := x.snapshot().ix
	x.mu.RLock()
	nr := x.narr
	if nr == nil || k < 0 || k >= iv.n {
		x.mu.RUnlock()
		return nil, false
	}
	key, what, ok := iv.rowNarrationKey(k)
	x.mu.RUnlock()
	if !ok {
		return nil, false
	}
	nr.mu.Lock()
	e := nr.lookupLocked(key, what)
	nr.mu.Unlock()
	if e == nil {
		e = x.narrateJob(nr.fn, &narrJob{key: key, what: what, iv: iv, row: k})
		nr.mu.Lock()
		nr.addLocked(e)
		nr.mu.Unlock()
	}
	return e.narrationOf(key, what).Paragraphs, true
}
