package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// handoffEvents: every kind of event, some of them narrated (from the
// middle of a batch on), and events that are not one record of their kind:
// two records, a kind that is not their record's, none.
func handoffEvents(n int) []trace.Event {
	var evs []trace.Event
	for i := range n {
		t := time.Unix(0, int64(i))
		var ev trace.Event
		switch i % 7 {
		case 0:
			ev = trace.PacketEvent(&trace.Packet{Frame: i + 1, Time: t})
		case 1:
			ev = trace.StateEvent(&trace.StateChange{Time: t})
		case 2:
			ev = trace.CallEvent(&trace.Call{Start: t})
		case 3:
			ev = trace.NoteEvent(&trace.Note{Time: t})
		case 4:
			ev = trace.PacketEvent(&trace.Packet{Frame: i + 1, Time: t})
			if i%3 == 0 {
				ev.State = &trace.StateChange{Time: t}
			}
		case 5:
			ev = trace.StateEvent(&trace.StateChange{Time: t})
			if i%3 == 0 {
				ev.Kind = trace.KindNote
			}
		default:
			if i%3 == 0 {
				ev = trace.Event{Kind: trace.KindCall}
			} else {
				ev = trace.CallEvent(&trace.Call{Start: t})
			}
		}
		if i > 1500 && i%5 != 0 {
			ev.Explain = fmt.Sprintf("event %d", i)
		}
		evs = append(evs, ev)
	}
	return evs
}

// TestHandoffShowsEveryEventAsItCame: the events are shown in order, each
// the very event queued, and the frames shown are released.
func TestHandoffShowsEveryEventAsItCame(t *testing.T) {
	evs := handoffEvents(5 * handoffBatch)
	var got []trace.Event
	h := newHandoff(func(ev trace.Event) error { got = append(got, ev); return nil }, func() bool { return true })
	for _, ev := range evs {
		if err := h.event(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.wait(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) {
		t.Fatalf("%d events shown, %d queued", len(got), len(evs))
	}
	for i := range evs {
		if got[i] != evs[i] {
			t.Fatalf("event %d shown as %+v, queued as %+v", i, got[i], evs[i])
		}
	}
	last := 0
	for _, ev := range evs {
		if ev.Packet != nil {
			last = ev.Packet.Frame
		}
	}
	if r := h.Released(); r != last-1 {
		t.Errorf("released up to frame %d, want %d (the last frame shown may still be held)", r, last-1)
	}
}

// TestHandoffFramesAreEvents: frame queues what event queues of the
// frame's call and events, one after another, whether the batch is
// narrated or not, and when a frame does not fit in what is left of a
// batch.
func TestHandoffFramesAreEvents(t *testing.T) {
	evs := handoffEvents(5 * handoffBatch)
	var got []trace.Event
	h := newHandoff(func(ev trace.Event) error { got = append(got, ev); return nil }, func() bool { return true })
	var want []trace.Event
	for i := 0; i < len(evs); {
		// A frame: perhaps a call, then up to 9 events (a packet and its
		// state changes, in a replay; any kind here).
		var call *trace.Call
		if i%4 == 0 {
			call = &trace.Call{Start: time.Unix(0, int64(i)), Inferred: trace.InferredConnect}
			want = append(want, trace.CallEvent(call))
		}
		n := min(1+i%9, len(evs)-i)
		want = append(want, evs[i:i+n]...)
		if err := h.frame(call, evs[i:i+n]); err != nil {
			t.Fatal(err)
		}
		i += n
	}
	if err := h.wait(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d events shown, %d queued", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d shown as %+v, queued as %+v", i, got[i], want[i])
		}
	}
}

// TestHandoffStopsAtShowsError: the first error of show is returned to
// the reading side, and nothing is shown after it.
func TestHandoffStopsAtShowsError(t *testing.T) {
	evs := handoffEvents(20 * handoffBatch)
	shown := 0
	failing := errors.New("disk full")
	h := newHandoff(func(ev trace.Event) error {
		if shown++; shown == 1500 {
			return failing
		}
		if shown > 1500 {
			t.Errorf("event %d shown after the error", shown)
		}
		return nil
	}, nil)
	var err error
	for _, ev := range evs {
		if err = h.event(ev); err != nil {
			break
		}
	}
	if werr := h.wait(); !errors.Is(werr, failing) || !errors.Is(err, failing) {
		t.Errorf("event: %v, wait: %v; want %v", err, werr, failing)
	}
	if h.Released() != 0 {
		t.Errorf("released up to frame %d without holdsLast", h.Released())
	}
}
