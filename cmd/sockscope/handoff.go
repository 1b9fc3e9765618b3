package main

import (
	"sync"
	"sync/atomic"

	"github.com/sockscope/sockscope/trace"
)

// handoff is the last stage of a replay's pipeline: the events a
// decode.Stream emits are gathered in batches and shown (filtered,
// formatted, written) by a goroutine of their own, while the stream
// annotates the next frames (on its own goroutine when pipelined, and the
// reading goroutine decodes the frames after those). The events point to
// records the Stream does not touch again until it is told the frame was
// released (Released, for the reading goroutine to pass on to
// Stream.Release): so they may cross goroutines. Only one goroutine calls
// event.
type handoff struct {
	show      func(trace.Event) error
	sh        *shower      // instead of show: called directly, every event of a replay
	holdsLast func() bool  // show holds no record but its last event's
	released  atomic.Int64 // frames up to this one were shown and are held no more
	batch     *batch
	full      chan *batch
	free      chan *batch
	done      chan struct{}

	mu  sync.Mutex
	err error // the first error of show: the reading side stops on it
}

const (
	handoffBatch   = 1024 // events per batch
	handoffBatches = 8    // batches in flight
)

// batch holds events on their way: an event that is the one record of its
// kind (every event a Stream emits) is that record alone, a quarter of an
// Event to copy; the others are kept whole.
type batch struct {
	recs     []any         // *trace.Call, *trace.Packet, *trace.StateChange, *trace.Note, or nil: the next event of whole
	explains []string      // the events' narrations, by recs, if narrated
	narrated bool          // an event had a narration
	whole    []trace.Event // the events not one record of their kind
	last     int           // the highest frame of its packets
}

// newHandoff starts the goroutine that passes every event to show, in
// order. holdsLast, if not nil, tells whether show holds the records of the
// last event only: then the frames shown before it are released.
func newHandoff(show func(trace.Event) error, holdsLast func() bool) *handoff {
	return startHandoff(&handoff{show: show, holdsLast: holdsLast})
}

// newHandoffTo is newHandoff with the shower sh's event as show.
func newHandoffTo(sh *shower, holdsLast func() bool) *handoff {
	return startHandoff(&handoff{sh: sh, holdsLast: holdsLast})
}

func startHandoff(h *handoff) *handoff {
	h.full, h.free, h.done = make(chan *batch, handoffBatches), make(chan *batch, handoffBatches+1), make(chan struct{})
	for range handoffBatches + 1 {
		h.free <- &batch{recs: make([]any, 0, handoffBatch)}
	}
	h.batch = <-h.free
	go h.run()
	return h
}

func (h *handoff) run() {
	defer close(h.done)
	for b := range h.full {
		if h.failed() == nil {
			if err := b.show(h); err != nil {
				h.mu.Lock()
				h.err = err
				h.mu.Unlock()
			}
		}
		if b.last > 1 && h.holdsLast != nil && h.holdsLast() {
			h.released.Store(int64(b.last - 1)) // show may still hold frame last's records
		}
		// The records a batch pointed to stay reachable until it is
		// filled again: a few batches' worth, which the Stream keeps
		// anyway. Not clearing them spares the reading goroutine's core
		// from taking back lines this one wrote.
		b.recs, b.explains, b.narrated, b.last = b.recs[:0], b.explains[:0], false, 0
		clear(b.whole)
		b.whole = b.whole[:0]
		h.free <- b
	}
}

// show passes every event of b to h's shower or show, in order, up to
// the first error.
func (b *batch) show(h *handoff) error {
	if sh := h.sh; sh != nil && sh.sel == nil && !b.narrated {
		return b.showAll(sh)
	}
	w := 0
	for i, r := range b.recs {
		var ev trace.Event
		switch r := r.(type) {
		case *trace.Packet:
			ev = trace.Event{Kind: trace.KindPacket, Packet: r}
		case *trace.StateChange:
			ev = trace.Event{Kind: trace.KindState, State: r}
		case *trace.Call:
			ev = trace.Event{Kind: trace.KindCall, Call: r}
		case *trace.Note:
			ev = trace.Event{Kind: trace.KindNote, Note: r}
		default:
			ev = b.whole[w]
			w++
		}
		if b.narrated {
			ev.Explain = b.explains[i]
		}
		var err error
		if h.sh != nil {
			err = h.sh.event(ev)
		} else {
			err = h.show(ev)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// showAll is show for a shower that shows everything, of a batch without
// narrations: each record goes to the sink's printer as it is, with the
// shower's count and last time kept as its event would keep them, but
// without an Event passed down through the shower and the sink.
func (b *batch) showAll(sh *shower) error {
	w := 0
	out := sh.out
	for _, r := range b.recs {
		var err error
		switch r := r.(type) {
		case *trace.Packet:
			sh.seen(r.Time)
			sh.shown++
			err = out.packet(r)
		case *trace.StateChange:
			if r.Time != sh.lastTime { // mostly the time of its packet, just seen
				sh.seen(r.Time)
			}
			err = out.state(r)
		case *trace.Call:
			sh.seen(r.Start)
			if !r.End.IsZero() { // an inferred call's is; the last time is never before it
				sh.seen(r.End)
			}
			err = out.call(r)
		case *trace.Note:
			sh.seen(r.Time)
			err = out.note(r)
		default:
			err = sh.event(b.whole[w])
			w++
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// add appends ev.
func (b *batch) add(ev trace.Event) {
	var r any
	switch {
	case ev.Packet != nil:
		b.last = max(b.last, ev.Packet.Frame)
		if ev.Kind == trace.KindPacket && ev.Call == nil && ev.State == nil && ev.Note == nil {
			r = ev.Packet
		}
	case ev.State != nil:
		if ev.Kind == trace.KindState && ev.Call == nil && ev.Note == nil {
			r = ev.State
		}
	case ev.Call != nil:
		if ev.Kind == trace.KindCall && ev.Note == nil {
			r = ev.Call
		}
	case ev.Note != nil:
		if ev.Kind == trace.KindNote {
			r = ev.Note
		}
	}
	if r == nil {
		b.whole = append(b.whole, ev)
	}
	if ev.Explain != "" && !b.narrated {
		b.narrated = true
		for range b.recs {
			b.explains = append(b.explains, "")
		}
	}
	if b.narrated {
		b.explains = append(b.explains, ev.Explain)
	}
	b.recs = append(b.recs, r)
}

func (h *handoff) failed() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// event queues ev; it returns show's error once there was one.
func (h *handoff) event(ev trace.Event) error {
	b := h.batch
	b.queue(ev)
	if len(b.recs) == cap(b.recs) {
		return h.send()
	}
	return nil
}

// queue appends ev: add, with the common cases (a packet, a state change
// of its frame, no narration) spelled out first.
func (b *batch) queue(ev trace.Event) {
	switch {
	case ev.Explain != "" || b.narrated:
		b.add(ev)
	case ev.State != nil && ev.Packet == nil && ev.Call == nil && ev.Note == nil && ev.Kind == trace.KindState:
		b.recs = append(b.recs, ev.State) // a packet's state changes follow it
	case ev.Packet != nil && ev.State == nil && ev.Call == nil && ev.Note == nil && ev.Kind == trace.KindPacket:
		b.last = max(b.last, ev.Packet.Frame)
		b.recs = append(b.recs, ev.Packet)
	default:
		b.add(ev)
	}
}

// frame queues the events of one frame (decode.StreamOptions.EmitFrame):
// the call inferred from it, if any, then its packet and the state changes
// it caused. It is event of each, in one call instead of one a record.
func (h *handoff) frame(call *trace.Call, evs []trace.Event) error {
	b := h.batch
	if cap(b.recs)-len(b.recs) < len(evs)+1 {
		// The frame does not fit: the batch goes as it is.
		if err := h.send(); err != nil {
			return err
		}
		b = h.batch
	}
	if call != nil {
		if b.narrated {
			b.add(trace.CallEvent(call))
		} else {
			b.recs = append(b.recs, call)
		}
	}
	for _, ev := range evs {
		b.queue(ev)
	}
	if len(b.recs) == cap(b.recs) {
		return h.send()
	}
	return nil
}

// send hands the batch on to be shown and takes a free one; it returns
// show's error once there was one.
func (h *handoff) send() error {
	h.full <- h.batch
	h.batch = <-h.free
	return h.failed()
}

// Released is the last frame whose records no one holds any more; for the
// reading goroutine.
func (h *handoff) Released() int { return int(h.released.Load()) }

// wait shows what is queued and returns once every event was shown, with
// show's first error. Use no other method after it.
func (h *handoff) wait() error {
	h.full <- h.batch
	close(h.full)
	<-h.done
	return h.failed()
}
