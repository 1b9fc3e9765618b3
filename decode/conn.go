package decode

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// flowKey identifies a connection's 4-tuple in either direction: a is the
// lesser endpoint. It holds no pointer and no padding, so a map hashes it
// as plain memory (netip.AddrPort, with its zone handle, was hashed field
// by field). Zones are left out: the decoder's addresses have none.
type flowKey struct {
	a, b   [16]byte // addresses, IPv4 ones in their IPv6-mapped form
	pa, pb uint16   // ports
	kind   uint16   // keyTCP, keyAIs4, keyBIs4
}

const (
	keyTCP  = 1 << iota // a TCP connection, not a UDP (or other) flow
	keyAIs4             // a is an IPv4 address (not an IPv6-mapped one)
	keyBIs4
)

func keyOf(tcp bool, src, dst netip.AddrPort) flowKey {
	k := flowKey{a: src.Addr().As16(), b: dst.Addr().As16(), pa: src.Port(), pb: dst.Port()}
	is4a, is4b := src.Addr().Is4(), dst.Addr().Is4()
	if c := bytes.Compare(k.a[:], k.b[:]); c > 0 || c == 0 && (k.pa > k.pb || k.pa == k.pb && is4a && !is4b) {
		k.a, k.b, k.pa, k.pb = k.b, k.a, k.pb, k.pa
		is4a, is4b = is4b, is4a
	}
	if tcp {
		k.kind |= keyTCP
	}
	if is4a {
		k.kind |= keyAIs4
	}
	if is4b {
		k.kind |= keyBIs4
	}
	return k
}

// conn is one TCP connection or UDP flow.
type conn struct {
	id    int
	proto string
	tcp   bool        // proto == "tcp"
	ends  [2]endpoint // [0] the client, [1] the server

	last time.Time // the time of its last packet
	key  flowKey   // its 4-tuple's

	// Wireshark's relative sequence numbers: each direction counts from
	// its base, the ISN when the SYN was seen, else one before the first
	// sequence number seen (or one before the first ACK of it).
	base    [2]seq
	baseSet [2]bool
}

// between reports whether c is the connection between a and b, in either
// direction.
func (c *conn) between(a, b netip.AddrPort) bool {
	e0, e1 := &c.ends[0].addr, &c.ends[1].addr
	return *e0 == a && *e1 == b || *e0 == b && *e1 == a
}

// side returns the index in ends of the endpoint at ap: 0 or 1.
func (c *conn) side(ap netip.AddrPort) int {
	if c.ends[0].addr == ap {
		return 0
	}
	return 1
}

// finished reports whether a new SYN on the tuple starts a new
// connection: both ends closed or in TIME_WAIT (after a RST, or a close).
func (c *conn) finished() bool {
	for i := range c.ends {
		switch c.ends[i].state {
		case trace.StateClosed, trace.StateTimeWait:
		default:
			return false
		}
	}
	return true
}

// relative sets p.RSeq and p.RAck as Wireshark's tcp.seq and tcp.ack show
// them, for a segment sent by side from.
func (c *conn) relative(p *trace.Packet, s *segment, from int) {
	to := 1 - from
	if !c.baseSet[from] {
		c.base[from] = s.seq
		if !s.has(flagSYN) {
			c.base[from]-- // the SYN was not captured: its data starts at 1
		}
		c.baseSet[from] = true
	}
	if s.has(flagACK) && !c.baseSet[to] {
		c.base[to] = s.ack - 1
		c.baseSet[to] = true
	}
	p.RSeq = uint32(s.seq - c.base[from])
	if s.has(flagACK) {
		p.RAck = uint32(s.ack - c.base[to])
	}
}

// Conns returns the connections and flows seen so far, by id (those
// forgotten aside).
func (d *Decoder) Conns() []trace.Conn {
	out := make([]trace.Conn, 0, len(d.conns))
	for _, c := range d.conns {
		if c != nil {
			out = append(out, trace.Conn{ID: c.id, Proto: c.proto, Client: c.ends[0].addr, Server: c.ends[1].addr})
		}
	}
	return out
}

// Forget drops what the decoder keeps of connection conn, to bound its
// memory on long captures: a later packet on its 4-tuple opens a new
// connection. Ids are never reused.
func (d *Decoder) Forget(conn int) {
	if conn < 1 || conn > len(d.conns) || d.conns[conn-1] == nil {
		return
	}
	c := d.conns[conn-1]
	if d.byKey[c.key] == c {
		delete(d.byKey, c.key)
	}
	if d.last == c {
		d.last = nil
	}
	d.conns[conn-1] = nil
	if len(d.free) < maxFree {
		d.free = append(d.free, c) // nothing outside the decoder points to a conn
	}
	d.live--
	for d.liveFrom < len(d.conns) && d.conns[d.liveFrom] == nil {
		d.liveFrom++
	}
}

// idleConns lists, by id, the live connections a stream gives up on at
// time t: UDP flows idle for flowIdle, TCP connections idle for connIdle,
// and while more than maxLive are live, those idle for a second.
func (d *Decoder) idleConns(t time.Time) []int {
	var ids []int
	live := d.live
	for _, c := range d.conns[d.liveFrom:] {
		if c == nil {
			continue
		}
		idle := t.Sub(c.last)
		switch {
		case !c.tcp && idle >= flowIdle, idle >= connIdle:
		case live > maxLive && idle >= time.Second:
			live--
		default:
			continue
		}
		ids = append(ids, c.id)
	}
	return ids
}

// State returns the current state of endpoint ep of connection conn as the
// segments so far imply it; StateUnknown for an unknown connection or
// endpoint, and for UDP flows.
func (d *Decoder) State(conn int, ep trace.Endpoint) trace.State {
	if conn < 1 || conn > len(d.conns) {
		return trace.StateUnknown
	}
	c := d.conns[conn-1]
	if c == nil || c.proto != "tcp" {
		return trace.StateUnknown
	}
	for i := range c.ends {
		if c.ends[i].addr == ep {
			return c.ends[i].state
		}
	}
	return trace.StateUnknown
}

// track assigns p to its connection, opening a new one when needed, and
// runs the state machine over TCP segments, which appends the state
// changes to d.m.changes.
func (d *Decoder) track(p *trace.Packet, flags byte) {
	tcp := p.Proto == "tcp"
	c := d.last
	if c == nil || c.tcp != tcp || !c.between(p.Src, p.Dst) {
		c = d.byKey[keyOf(tcp, p.Src, p.Dst)]
	}
	// The segment lives in the decoder: handlers are called through
	// function values, so a local one would escape to the heap.
	s := &d.seg
	*s = segment{}
	if tcp {
		*s = segment{flags: flags, seq: seq(p.Seq), ack: seq(p.Ack), len: uint32(max(p.Len, 0))}
	}
	syn := tcp && s.has(flagSYN) && !s.has(flagACK)
	if c == nil || syn && c.finished() && !c.sameSYN(s, p.Src) {
		c = d.open(keyOf(tcp, p.Src, p.Dst), p, s)
	}
	if d.last != c {
		d.last = c
	}
	p.Conn = c.id
	c.last = p.Time
	if !tcp {
		return
	}
	from := c.side(p.Src)
	c.relative(p, s, from)
	d.m.segmentSent(&c.ends[from], &c.ends[1-from], s)
}

// sameSYN reports whether s is a retransmission of the SYN that opened c.
func (c *conn) sameSYN(s *segment, src netip.AddrPort) bool {
	e := &c.ends[0]
	return e.addr == src && e.issSet && e.iss == s.seq && e.state == trace.StateSynSent
}

// open starts connection number len(d.conns)+1 with the packet p. A TCP
// connection that starts with a SYN has its client CLOSED and its server
// LISTEN, an assumption that emits no transition (the server end moves to
// SYN_RECV when it sends its SYN-ACK; a RST instead shows that nothing
// listened, and the assumption becomes CLOSED silently); one whose SYN was missed starts from the state the segment
// implies (SYN_SENT/SYN_RECV before a SYN-ACK, else ESTABLISHED), without
// emitting a transition for that assumption.
func (d *Decoder) open(k flowKey, p *trace.Packet, s *segment) *conn {
	var c *conn
	if n := len(d.free); n > 0 {
		c, d.free = d.free[n-1], d.free[:n-1]
	} else {
		c = new(conn)
	}
	*c = conn{id: len(d.conns) + 1, proto: p.Proto, tcp: p.Proto == "tcp", key: k}
	c.ends[0].addr, c.ends[1].addr = p.Src, p.Dst
	c.ends[0].peer, c.ends[1].peer = &c.ends[1], &c.ends[0]
	if p.Proto == "tcp" {
		switch {
		case s.has(flagSYN) && !s.has(flagACK):
			c.ends[0].state, c.ends[1].state = trace.StateClosed, trace.StateListen
		case s.has(flagSYN):
			// A SYN-ACK: its receiver is the client.
			c.ends[0].addr, c.ends[1].addr = p.Dst, p.Src
			c.ends[0].state, c.ends[1].state = trace.StateSynSent, trace.StateSynRecv
			c.ends[0].iss, c.ends[0].issSet = s.ack-1, true
		default:
			c.ends[0].state, c.ends[1].state = trace.StateEstablished, trace.StateEstablished
		}
	}
	d.conns = append(d.conns, c)
	d.live++
	d.byKey[k] = c
	return c
}

// Finished reports whether both ends of TCP connection conn are CLOSED or
// in TIME_WAIT, as the segments so far imply (true for a connection the
// decoder forgot; false for UDP flows, which never finish).
func (d *Decoder) Finished(conn int) bool {
	if conn < 1 || conn > len(d.conns) {
		return false
	}
	c := d.conns[conn-1]
	if c == nil {
		return true
	}
	return c.proto == "tcp" && c.finished()
}
