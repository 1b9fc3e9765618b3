package main

import (
	"time"

	"github.com/sockscope/sockscope/decode/filter"
	"github.com/sockscope/sockscope/trace"
)

// shower passes on the events a filter selects: the packets it matches,
// the state changes those packets caused, the calls tied to them (an
// inferred call goes with the packet that implies it; a call tied to no
// packet is shown when its socket's addresses pass the filter), the notes
// about their connections and the notes about the whole capture.
//
// A call comes before the packets it is tied to: events wait in a queue
// until the packets of the call at its head have been seen (or the queue
// grows too long).
type shower struct {
	sel      *filter.Filter
	next     func(trace.Event) error
	out      *sink        // instead of next: called directly, a replay's every event
	shown    int          // packets shown
	conns    map[int]bool // connections with a packet shown
	matched  map[int]bool // frames the filter passed (seen on the way in)
	maxFrame int          // the highest frame seen on the way in
	lastTime time.Time    // of the last event or return seen (for closing notes)
	lastSec  int64        // lastTime.Unix(), for seen
	lastNsec int          // lastTime.Nanosecond()
	lastPkt  *trace.Packet
	queue    []trace.Event
}

// maxShowQueue bounds the events a shower holds back.
const maxShowQueue = 1 << 14

func newShower(sel *filter.Filter, next func(trace.Event) error) *shower {
	return &shower{sel: sel, next: next, conns: map[int]bool{}, matched: map[int]bool{}, lastSec: time.Time{}.Unix()}
}

// newShowerTo is a shower that passes the events to out.
func newShowerTo(sel *filter.Filter, out *sink) *shower {
	return &shower{sel: sel, out: out, conns: map[int]bool{}, matched: map[int]bool{}, lastSec: time.Time{}.Unix()}
}

// pass hands ev on.
func (s *shower) pass(ev trace.Event) error {
	if s.out != nil {
		return s.out.event(ev)
	}
	return s.next(ev)
}

func (s *shower) event(ev trace.Event) error {
	if s.sel == nil {
		// Everything is shown: only the last time and the packets are
		// noted, reading each event's time where its kind keeps it.
		switch {
		case ev.Call != nil:
			s.seen(ev.Call.Start)
			s.seen(ev.Call.End) // closing notes come after the last return
			if ev.Packet != nil {
				s.shown++
			}
		case ev.Packet != nil:
			s.seen(ev.Packet.Time)
			s.shown++
		case ev.State != nil:
			s.seen(ev.State.Time)
		case ev.Note != nil:
			s.seen(ev.Note.Time)
		}
		return s.pass(ev)
	}
	s.seen(ev.Time())
	if c := ev.Call; c != nil {
		s.seen(c.End) // closing notes come after the last return
	}
	if p := ev.Packet; p != nil {
		s.maxFrame = max(s.maxFrame, p.Frame)
		if s.sel.Match(p) {
			s.matched[p.Frame] = true
		}
	}
	s.queue = append(s.queue, ev)
	return s.drain(false)
}

// seen notes a time an event happened at.
func (s *shower) seen(t time.Time) {
	// t.After(s.lastTime), compared in seconds and nanoseconds as After
	// does unless both times have a monotonic clock reading, which no
	// time read from a file has; After is not inlined.
	if sec := t.Unix(); sec > s.lastSec || sec == s.lastSec && t.Nanosecond() > s.lastNsec {
		s.lastTime, s.lastSec, s.lastNsec = t, sec, t.Nanosecond()
	}
}

// flush passes on what is held back.
func (s *shower) flush() error {
	if s.sel == nil {
		return nil
	}
	return s.drain(true)
}

func (s *shower) drain(all bool) error {
	for len(s.queue) > 0 {
		ev := s.queue[0]
		if c := ev.Call; c != nil && !all && len(s.queue) < maxShowQueue {
			for _, f := range c.Frames {
				if f > s.maxFrame {
					return nil // not seen yet
				}
			}
		}
		s.queue[0] = trace.Event{}
		s.queue = s.queue[1:]
		if s.shows(ev) {
			if err := s.pass(ev); err != nil {
				return err
			}
		}
	}
	s.queue = s.queue[:0:0]
	if len(s.matched) > 1<<18 && len(s.queue) == 0 {
		clear(s.matched) // bounded memory: a call tied to frames this old is rare
	}
	return nil
}

func (s *shower) shows(ev trace.Event) bool {
	switch {
	case ev.Packet != nil:
		p := ev.Packet
		if !s.matched[p.Frame] {
			s.lastPkt = nil
			return false
		}
		s.shown++
		s.lastPkt = p
		if p.Conn != 0 {
			s.conns[p.Conn] = true
		}
	case ev.State != nil:
		st := ev.State
		if st.Source == trace.SourceInferred {
			return s.lastPkt != nil && st.Conn == s.lastPkt.Conn && st.Time.Equal(s.lastPkt.Time)
		}
		return s.conns[st.Conn]
	case ev.Call != nil:
		c := ev.Call
		if len(c.Frames) == 0 {
			return s.sel.Match(&trace.Packet{Proto: c.Proto, Src: c.Local, Dst: c.Remote})
		}
		for _, f := range c.Frames {
			if s.matched[f] {
				return true
			}
		}
		return false
	case ev.Note != nil:
		return ev.Note.Conn == 0 || s.conns[ev.Note.Conn]
	}
	return true
}
