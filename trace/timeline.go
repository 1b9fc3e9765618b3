package trace

import (
	"sort"
	"sync"
)

// Timeline is the ordered record of a session. Producers (the scenario, the
// capture, the decoder) append from any goroutine; consumers take snapshots.
// Events are kept in time order; events with equal times keep the order in
// which they were appended.
type Timeline struct {
	mu      sync.Mutex
	events  []Event
	version uint64
}

// Append adds events, keeping the timeline in time order.
func (t *Timeline) Append(evs ...Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ev := range evs {
		at := ev.Time()
		// Events mostly arrive in order: search from the end.
		i := len(t.events)
		for i > 0 && t.events[i-1].Time().After(at) {
			i--
		}
		t.events = append(t.events, Event{})
		copy(t.events[i+1:], t.events[i:])
		t.events[i] = ev
	}
	t.version++
}

// Snapshot returns a copy of the events in time order.
func (t *Timeline) Snapshot() []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Event(nil), t.events...)
}

// Len is the number of events.
func (t *Timeline) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.events)
}

// Version changes whenever events are appended; a consumer redraws when it differs
// from the version it last saw.
func (t *Timeline) Version() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.version
}

// SortEvents orders evs by time, keeping the given order among equal times.
func SortEvents(evs []Event) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time().Before(evs[j].Time()) })
}
