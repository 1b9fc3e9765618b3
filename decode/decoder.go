package decode

import (
	"github.com/sockscope/sockscope/trace"
)

// Decoder turns frames into packets, connections and TCP state changes. Feed
// it the frames of one capture in order. A Decoder is not safe for
// concurrent use.
type Decoder struct {
	ld       *layerDecoder
	conns    []*conn // by id - 1; nil once forgotten
	live     int     // connections not forgotten
	liveFrom int     // conns[:liveFrom] are all forgotten
	free     []*conn // forgotten connections, for open to use again
	byKey    map[flowKey]*conn
	m        machine
	seg      segment // the segment being tracked

	// last is the connection of the last packet tracked, tried before
	// byKey: a capture's packets mostly come in runs of one connection.
	// It is always byKey's entry for its own 4-tuple, or nil.
	last *conn

	// Slabs from which packets, payload copies, state changes and event
	// slices are carved, so that Feed costs no allocation per packet in
	// steady state. What is carved out is not written again until the
	// caller released its frame (Release); a slice of a slab changes only
	// when a new one is needed (a slice header stored per packet costs a
	// write barrier while the collector runs).
	packets slab[trace.Packet]
	states  slab[trace.StateChange]
	events  slab[trace.Event]
	bytes   slab[byte]
}

// NewDecoder returns a decoder that has seen no frame yet.
func NewDecoder() *Decoder {
	return &Decoder{
		ld: newLayerDecoder(), byKey: make(map[flowKey]*conn),
		packets: slab[trace.Packet]{size: packetSlabLen, zero: true},
		states:  slab[trace.StateChange]{size: slabLen / 4, zero: true},
		events:  slab[trace.Event]{size: slabLen, zero: true},
		bytes:   slab[byte]{size: 64 << 10},
	}
}

// Release tells the decoder that the caller holds no record (packet,
// state change, event, payload) of the frames numbered up to frame any
// more: the decoder may write new ones over them. Without it, what Feed
// returned is never written again.
func (d *Decoder) Release(frame int) {
	d.packets.release(frame)
	d.states.release(frame)
	d.events.release(frame)
	d.bytes.release(frame)
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
// them again (until the caller releases the frame, see Release), and the
// payload is a copy of at most trace.MaxData bytes.
func (d *Decoder) Feed(f *trace.Frame, frameNo int) []trace.Event {
	p := d.packets.one(frameNo)
	p.Frame, p.Time = frameNo, f.Time
	flags, payload, ok := d.ld.decode(p, f.LinkType, f.Data)
	if len(payload) > 0 {
		p.Payload = d.copyBytes(payload, frameNo)
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
	out := d.events.carve(n, frameNo)
	// The slab is zeroed and each event written once: setting the fields
	// trace.PacketEvent and trace.StateEvent set is the same as assigning
	// their results, without a barrier for every pointer of the Event
	// (TestFeedEventsAreTraceEvents holds it).
	out[0].Kind, out[0].Packet = trace.KindPacket, p
	for i := 1; i < n; i++ {
		ch := &d.m.changes[i-1]
		sc := d.states.one(frameNo)
		sc.Time, sc.Endpoint, sc.Conn = p.Time, ch.ep.addr, p.Conn
		sc.From, sc.To, sc.Source = ch.from, ch.to, trace.SourceInferred
		out[i].Kind, out[i].State = trace.KindState, sc
	}
	return out
}

// copyBytes copies at most trace.MaxData bytes of b, for frame; nil for
// none.
func (d *Decoder) copyBytes(b []byte, frame int) []byte {
	n := min(len(b), trace.MaxData)
	if n == 0 {
		return nil
	}
	out := d.bytes.carve(n, frame)
	copy(out, b)
	return out
}
