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

	// Slabs from which packets, payload copies, state changes and event
	// slices are carved, so that Feed costs no allocation per packet in
	// steady state. Nothing carved out is ever reused.
	packets []trace.Packet
	states  []trace.StateChange
	events  []trace.Event
	bytes   []byte
	scratch []trace.Event
}

// NewDecoder returns a decoder that has seen no frame yet.
func NewDecoder() *Decoder {
	return &Decoder{ld: newLayerDecoder(), byKey: make(map[flowKey]*conn)}
}

const slabLen = 256

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
	flags, ok := d.ld.decode(p, f.LinkType, f.Data)
	p.Payload = d.copyBytes(p.Payload)

	d.scratch = append(d.scratch[:0], trace.PacketEvent(p))
	if ok {
		d.m.changes = d.m.changes[:0]
		d.track(p, flags)
		for _, ch := range d.m.changes {
			sc := d.newState()
			*sc = trace.StateChange{Time: p.Time, Endpoint: ch.ep.addr, Conn: p.Conn, From: ch.from, To: ch.to, Source: trace.SourceInferred}
			d.scratch = append(d.scratch, trace.StateEvent(sc))
		}
	}
	n := len(d.scratch)
	if len(d.events) < n {
		d.events = make([]trace.Event, max(slabLen, n))
	}
	out := d.events[:n:n]
	d.events = d.events[n:]
	copy(out, d.scratch)
	return out
}

func (d *Decoder) newPacket() *trace.Packet {
	if len(d.packets) == 0 {
		d.packets = make([]trace.Packet, slabLen)
	}
	p := &d.packets[0]
	d.packets = d.packets[1:]
	return p
}

func (d *Decoder) newState() *trace.StateChange {
	if len(d.states) == 0 {
		d.states = make([]trace.StateChange, slabLen/4)
	}
	s := &d.states[0]
	d.states = d.states[1:]
	return s
}

// copyBytes copies at most trace.MaxData bytes of b; nil for none.
func (d *Decoder) copyBytes(b []byte) []byte {
	n := min(len(b), trace.MaxData)
	if n == 0 {
		return nil
	}
	if cap(d.bytes)-len(d.bytes) < n {
		d.bytes = make([]byte, 0, 64<<10)
	}
	start := len(d.bytes)
	d.bytes = append(d.bytes, b[:n]...)
	return d.bytes[start:len(d.bytes):len(d.bytes)]
}
