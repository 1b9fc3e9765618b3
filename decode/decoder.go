package decode

import (
	"github.com/sockscope/sockscope/trace"
)

// Decoder turns frames into packets, connections and TCP state changes. Feed
// it the frames of one capture in order. A Decoder is not safe for
// concurrent use.
type Decoder struct {
	ld    *layerDecoder
	conns []*conn
	byKey map[flowKey]*conn
	m     machine
	seg   segment // the segment being tracked

	// last is the connection of the last packet tracked, tried before
	// byKey: a capture's packets mostly come in runs of one connection.
	// It is always byKey's entry for its own 4-tuple, or nil.
	last *conn

	// Slabs from which packets, payload copies, state changes and event
	// slices are carved, so that Feed costs no allocation per packet in
	// steady state. Nothing carved out is ever reused. Each slab is
	// carved from its index on (the slice itself changes only when a new
	// slab is made: a slice header stored per packet costs a write
	// barrier while the collector runs).
	packets []trace.Packet
	states  []trace.StateChange
	events  []trace.Event
	bytes   []byte
	pi, si  int // the next free packet and state change
	ei, bi  int // the next free event and byte
}

// NewDecoder returns a decoder that has seen no frame yet.
func NewDecoder() *Decoder {
	return &Decoder{ld: newLayerDecoder(), byKey: make(map[flowKey]*conn)}
}

const slabLen = 256

// packetSlabLen is the length of a packet slab: 64 packets fit in a small
// object (under 32 KiB), which is cheaper to allocate than a large one.
const packetSlabLen = 64

// Feed decodes frame number frameNo (1-based, as the caller counts them) and
// returns its packet event followed by the state changes it caused, each
// with the packet's time, its connection id and SourceInferred. A frame that
// fails to decode still yields a packet, with Error set (whatever was
// decoded before the failure is kept). The events, and the packet and state
// changes they point to, belong to the caller: the decoder never touches
// them again, and the payload is a copy of at most trace.MaxData bytes.
func (d *Decoder) Feed(f *trace.Frame, frameNo int) []trace.Event {
	p := d.newPacket()
	p.Frame, p.Time = frameNo, f.Time
	flags, payload, ok := d.ld.decode(p, f.LinkType, f.Data)
	if len(payload) > 0 {
		p.Payload = d.copyBytes(payload)
	}

	n := 1
	if ok {
		d.m.changes = d.m.changes[:0]
		d.track(p, flags)
		n += len(d.m.changes)
	}
	// The events are written straight into their slab: no scratch slice
	// copied over (a copy of pointers costs write barriers while the
	// collector runs).
	if len(d.events)-d.ei < n {
		d.events, d.ei = make([]trace.Event, max(slabLen, n)), 0
	}
	out := d.events[d.ei : d.ei+n : d.ei+n]
	d.ei += n
	// The slab is zeroed and each event written once: setting the fields
	// trace.PacketEvent and trace.StateEvent set is the same as assigning
	// their results, without a barrier for every pointer of the Event
	// (TestFeedEventsAreTraceEvents holds it).
	out[0].Kind, out[0].Packet = trace.KindPacket, p
	for i := 1; i < n; i++ {
		ch := &d.m.changes[i-1]
		sc := d.newState()
		sc.Time, sc.Endpoint, sc.Conn = p.Time, ch.ep.addr, p.Conn
		sc.From, sc.To, sc.Source = ch.from, ch.to, trace.SourceInferred
		out[i].Kind, out[i].State = trace.KindState, sc
	}
	return out
}

func (d *Decoder) newPacket() *trace.Packet {
	if d.pi == len(d.packets) {
		d.packets, d.pi = make([]trace.Packet, packetSlabLen), 0
	}
	p := &d.packets[d.pi]
	d.pi++
	return p
}

func (d *Decoder) newState() *trace.StateChange {
	if d.si == len(d.states) {
		d.states, d.si = make([]trace.StateChange, slabLen/4), 0
	}
	s := &d.states[d.si]
	d.si++
	return s
}

// copyBytes copies at most trace.MaxData bytes of b; nil for none.
func (d *Decoder) copyBytes(b []byte) []byte {
	n := min(len(b), trace.MaxData)
	if n == 0 {
		return nil
	}
	if len(d.bytes)-d.bi < n {
		d.bytes, d.bi = make([]byte, 64<<10), 0
	}
	start := d.bi
	d.bi += copy(d.bytes[start:], b[:n])
	return d.bytes[start:d.bi:d.bi]
}
