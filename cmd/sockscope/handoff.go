package main

import (
	"sync"
	"sync/atomic"

	"github.com/sockscope/sockscope/trace"
)

// handoff runs a replay's two halves on two cores: the events a
// decode.Stream emits are gathered in batches and shown (filtered,
// formatted, written) by another goroutine, while the reading goroutine
// decodes and annotates the next frames. The events point to records the
// Stream does not touch again until it is told the frame was released
// (Released, for the reading goroutine to pass on to Stream.Release): so
// they may cross goroutines.
type handoff struct {
	show      func(trace.Event) error
	holdsLast func() bool  // show holds no record but its last event's
	released  atomic.Int64 // frames up to this one were shown and are held no more
	batch     []trace.Event
	full      chan []trace.Event
	free      chan []trace.Event
	done      chan struct{}

	mu  sync.Mutex
	err error // the first error of show: the reading side stops on it
}

const (
	handoffBatch   = 1024 // events per batch
	handoffBatches = 8    // batches in flight
)

// newHandoff starts the goroutine that passes every event to show, in
// order. holdsLast, if not nil, tells whether show holds the records of the
// last event only: then the frames shown before it are released.
func newHandoff(show func(trace.Event) error, holdsLast func() bool) *handoff {
	h := &handoff{
		show: show, holdsLast: holdsLast, full: make(chan []trace.Event, handoffBatches),
		free: make(chan []trace.Event, handoffBatches+1), done: make(chan struct{}),
	}
	for range handoffBatches + 1 {
		h.free <- make([]trace.Event, 0, handoffBatch)
	}
	h.batch = <-h.free
	go h.run()
	return h
}

func (h *handoff) run() {
	defer close(h.done)
	for b := range h.full {
		if h.failed() == nil {
			for _, ev := range b {
				if err := h.show(ev); err != nil {
					h.mu.Lock()
					h.err = err
					h.mu.Unlock()
					break
				}
			}
		}
		last := 0
		for _, ev := range b {
			if ev.Packet != nil {
				last = max(last, ev.Packet.Frame)
			}
		}
		clear(b)
		if last > 1 && h.holdsLast != nil && h.holdsLast() {
			h.released.Store(int64(last - 1)) // show may still hold frame last's records
		}
		h.free <- b[:0]
	}
}

func (h *handoff) failed() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// event queues ev; it returns show's error once there was one.
func (h *handoff) event(ev trace.Event) error {
	h.batch = append(h.batch, ev)
	if len(h.batch) == cap(h.batch) {
		h.full <- h.batch
		h.batch = <-h.free
		return h.failed()
	}
	return nil
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
