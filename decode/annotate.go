package decode

import (
	"sort"
	"time"

	"github.com/sockscope/sockscope/decode/narrate"
	"github.com/sockscope/sockscope/trace"
)

// AnnotateOptions tune Annotate.
type AnnotateOptions struct {
	// Lang is the language of the narration (Event.Explain), the
	// connection summaries and the notes; "" is English.
	Lang narrate.Lang

	// NoExplain leaves Event.Explain empty: the narration is the costliest
	// part of the annotation, and the text ladder without --explain does
	// not show it.
	NoExplain bool

	// InferCalls adds, to a timeline without any recorded call (a capture
	// made by another tool), the calls the TCP segments imply, marked
	// Call.Inferred: a SYN → "connect() called", a SYN-ACK → "listening
	// socket", a FIN → "close() or shutdown(SHUT_WR)", a RST → "abortive
	// close or no listener".
	InferCalls bool
}

// Kernel samples are compared with the states inferred a little before and
// after them: a sample is read after its call returned, when the kernel
// may not yet have processed a segment the capture already holds (on
// loopback the capture timestamp precedes the receiver's processing), and
// the two clocks' readings are taken microseconds apart.
const (
	kernelLag  = 10 * time.Millisecond // a sample may show a state this much older than the inferred one
	kernelLead = time.Millisecond      // … or one this much newer
)

// Annotate ties a timeline's calls to the packets they caused or consumed,
// sets Wireshark's analysis flags on TCP packets, numbers the connections
// of the kernel's own state reports, checks them against the states
// inferred from the segments (a warning note for each disagreement), adds
// a summary note at the end of each connection and narrates every event in
// opts.Lang.
//
// evs is a time-ordered timeline as a Decoder's events merged with the
// recorded calls and kernel states make it. Annotate returns a new slice
// with new calls, packets, states and notes: the input is not modified. It
// is pure: no I/O, no clock. A Stream does the same work in bounded memory,
// a piece of the timeline at a time.
//
// The ties, by stream offset and 4-tuple, never by time alone:
//   - send/recv on TCP: Call.Bytes are the relative stream offsets
//     [start, end) it moved (the first data byte is 1, as Wireshark numbers
//     them), counted over the earlier calls on the same connection; every
//     segment carrying one of those bytes is tied to it.
//   - sendto/recvfrom (and send/recv on UDP): their datagram, by 4-tuple,
//     in order.
//   - connect: its SYN (and any retransmitted SYN, and the RST of a
//     refused connection); accept: the handshake it picked up;
//     close/shutdown: its FIN or RST; a recv that returned 0: the peer's FIN;
//     an ICMP error: the datagram it answers, and the call that saw the error.
//
// Packet.By is trace.ByCall when a call put it on the wire, trace.ByKernel
// when the kernel sent it on its own (pure and delayed ACKs, the SYN-ACK,
// retransmissions, window updates, keep-alives, a RST answering a closed
// port); it stays "" for packets of programs that recorded no calls.
func Annotate(evs []trace.Event, opts AnnotateOptions) []trace.Event {
	out := make([]trace.Event, len(evs))
	for i, ev := range evs {
		out[i] = cloneEvent(ev)
	}
	a := newAnnotator(opts)
	out, retired := a.chunk(out, func(*connInfo) bool { return true })
	a.forget(retired)
	return out
}

// cloneEvent copies the record an event points to, without the fields
// Annotate computes.
func cloneEvent(ev trace.Event) trace.Event {
	out := trace.Event{Kind: ev.Kind}
	switch {
	case ev.Call != nil:
		c := *ev.Call
		c.Bytes, c.Frames = [2]uint32{}, nil
		out.Call = &c
	case ev.Packet != nil:
		p := *ev.Packet
		p.Analysis, p.Calls, p.By = nil, nil, ""
		out.Packet = &p
	case ev.State != nil:
		s := *ev.State
		out.State = &s
	case ev.Note != nil:
		n := *ev.Note
		out.Note = &n
	}
	return out
}

// connInfo is what Annotate knows of one connection or flow. It outlives
// the pieces of a Stream: pkts holds the packets of the current piece, the
// rest accumulates over all of them.
type connInfo struct {
	id             int
	proto          string
	client, server trace.Endpoint
	pkts           []*trace.Packet // of the current piece, in frame order
	first          time.Time
	sawSYN         bool // the client's SYN was captured: relative offsets are stream offsets
	sawSYNACK      bool

	key       flowKey   // its 4-tuple's
	sameTuple *connInfo // the next connection on the same 4-tuple (annotator.byTuple)

	npkts int       // packets over all pieces
	last  time.Time // the time of the last packet, in frame order
	sum   summaryAcc
}

// sockKey is one end of one connection.
type sockKey struct {
	conn int
	ep   trace.Endpoint
}

// transition is an inferred state change of one end.
type transition struct {
	at       time.Time
	from, to trace.State
}

// annotator holds the annotation's state. The fields under "this piece"
// describe the events being annotated; the others persist from piece to
// piece of a Stream (Annotate has a single piece).
type annotator struct {
	lang      narrate.Lang
	noExplain bool
	infer     bool

	// This piece.
	evs     []trace.Event
	packets []*trace.Packet // frame order
	calls   []*trace.Call   // id order
	byFrame map[int]*trace.Packet
	touched []*connInfo // connections with packets in this piece

	// Persistent.
	anyCalls bool          // a call was recorded
	allCalls []*trace.Call // every call so far, in the order seen
	callByID map[int]*trace.Call
	conns    connTable[connInfo]
	byTuple  map[flowKey]*connInfo     // the first connection on each 4-tuple; the others follow by sameTuple
	owner    map[trace.Endpoint]string // the lane whose socket uses the address
	analysis connTable[connAnalysis]
	narr     *narrator

	sent, recvd map[sockKey]uint32 // stream bytes moved so far by send and recv
	claimed     map[int]bool       // frames already tied to a close/shutdown or a datagram call
	inferred    map[sockKey][]transition
	accepted    map[int]time.Time      // accept call id → when its handshake completed
	local       map[int]trace.Endpoint // call id → the concrete local address
}

func newAnnotator(opts AnnotateOptions) *annotator {
	a := &annotator{
		lang: opts.Lang, noExplain: opts.NoExplain, infer: opts.InferCalls,
		byFrame: map[int]*trace.Packet{}, callByID: map[int]*trace.Call{},
		byTuple: map[flowKey]*connInfo{}, owner: map[trace.Endpoint]string{},
		sent: map[sockKey]uint32{}, recvd: map[sockKey]uint32{},
		claimed: map[int]bool{}, inferred: map[sockKey][]transition{}, accepted: map[int]time.Time{},
		local: map[int]trace.Endpoint{},
	}
	if a.lang == "" {
		a.lang = narrate.English
	}
	a.narr = &narrator{a: a, l: a.lang, sides: map[sockKey]*narrSide{}, lastPkt: map[int]*trace.Packet{}}
	return a
}

// chunk annotates one piece of a timeline, evs, in place: the events of
// the piece in time order, those before it already annotated. It returns
// the piece with the notes (and inferred calls) it added, in time order,
// and the connections retired: those for which retire returned true, which
// get their summary note now. The caller forgets them once it is done
// with the piece.
func (a *annotator) chunk(evs []trace.Event, retire func(*connInfo) bool) ([]trace.Event, []*connInfo) {
	a.begin(evs)
	a.analyzeTCP()
	a.assignKernelConns()
	a.tieCalls()
	a.markKernel()
	a.accumulate()
	added := a.checkKernel()
	var retired []*connInfo
	for _, ci := range a.sortedConns() {
		if retire(ci) {
			retired = append(retired, ci)
		}
	}
	added = a.appendSummaries(added, retired)
	if a.infer && !a.anyCalls {
		evs = a.inferCalls(evs)
	}
	if len(added) > 0 {
		evs = insertSorted(evs, added)
	}
	if !a.noExplain {
		a.narrateAll(evs)
	}
	return evs, retired
}

// insertSorted returns evs with added put in time order, each after the
// events of its time, as a stable sort of evs followed by added would.
// When evs is in time order (as a piece is), that is a merge.
func insertSorted(evs, added []trace.Event) []trace.Event {
	sorted := true
	for i := 1; i < len(evs); i++ {
		if evs[i].Time().Before(evs[i-1].Time()) {
			sorted = false
			break
		}
	}
	if !sorted {
		evs = append(evs, added...)
		trace.SortEvents(evs)
		return evs
	}
	trace.SortEvents(added)
	out := make([]trace.Event, 0, len(evs)+len(added))
	i := 0
	for _, ad := range added {
		t := ad.Time()
		j := i
		for j < len(evs) && !evs[j].Time().After(t) {
			j++
		}
		out = append(out, evs[i:j]...)
		out = append(out, ad)
		i = j
	}
	return append(out, evs[i:]...)
}

// begin indexes a piece: its packets, calls and inferred transitions, and
// the connections they belong to.
func (a *annotator) begin(evs []trace.Event) {
	a.evs = evs
	a.packets, a.calls = a.packets[:0], a.calls[:0]
	clear(a.byFrame)
	for _, ci := range a.touched {
		ci.pkts = ci.pkts[:0]
	}
	a.touched = a.touched[:0]
	for _, ev := range evs {
		switch {
		case ev.Packet != nil:
			a.packets = append(a.packets, ev.Packet)
		case ev.Call != nil && ev.Call.Inferred == "":
			a.calls = append(a.calls, ev.Call)
		}
	}
	if !sort.SliceIsSorted(a.packets, func(i, j int) bool { return a.packets[i].Frame < a.packets[j].Frame }) {
		sort.SliceStable(a.packets, func(i, j int) bool { return a.packets[i].Frame < a.packets[j].Frame })
	}
	sort.SliceStable(a.calls, func(i, j int) bool { return a.calls[i].ID < a.calls[j].ID })
	for _, p := range a.packets {
		if !a.noExplain {
			a.byFrame[p.Frame] = p // for the narration of calls
		}
		if ci := a.register(p); ci != nil {
			if len(ci.pkts) == 0 {
				a.touched = append(a.touched, ci)
			}
			ci.pkts = append(ci.pkts, p)
		}
	}
	for _, ev := range evs {
		if s := ev.State; s != nil && s.Source == trace.SourceInferred {
			k := sockKey{s.Conn, s.Endpoint}
			a.inferred[k] = append(a.inferred[k], transition{s.Time, s.From, s.To})
			if ci := a.conns.get(s.Conn); ci != nil && s.To == trace.StateClosing && (s.Endpoint == ci.client || s.Endpoint == ci.server) {
				ci.sum.closing = true
			}
		}
	}
	for _, c := range a.calls {
		a.anyCalls = true
		a.allCalls = append(a.allCalls, c)
		a.callByID[c.ID] = c
		local := a.concreteLocal(c)
		a.local[c.ID] = local
		if local.Addr().IsValid() && local.Port() != 0 {
			if _, ok := a.owner[local]; !ok {
				a.owner[local] = c.Lane
			}
		}
	}
}

// endPiece lets go of the piece last annotated, for a Stream that will
// annotate no other piece (eager.go).
func (a *annotator) endPiece() {
	for _, ci := range a.touched {
		ci.pkts = nil
	}
	a.evs, a.packets, a.calls, a.touched = nil, nil, nil, nil
	a.byFrame = map[int]*trace.Packet{} // clearing the piece's big one costs its size

}

// register counts p in its connection's connInfo, which it makes for the
// connection's first packet; nil for a packet of no connection.
func (a *annotator) register(p *trace.Packet) *connInfo {
	if p.Conn == 0 {
		return nil
	}
	ci := a.conns.get(p.Conn)
	if ci == nil {
		ci = a.conns.take()
		*ci = connInfo{id: p.Conn, proto: p.Proto, client: p.Src, server: p.Dst, first: p.Time, key: keyOf(p.Proto == "tcp", p.Src, p.Dst)}
		if p.Proto == "tcp" {
			f := flagBits(p.Flags)
			if f&flagSYN != 0 && f&flagACK != 0 {
				ci.client, ci.server = p.Dst, p.Src
			}
			ci.sawSYN = f&flagSYN != 0 && f&flagACK == 0
		}
		a.conns.put(p.Conn, ci)
		if c := a.byTuple[ci.key]; c == nil {
			a.byTuple[ci.key] = ci
		} else {
			for c.sameTuple != nil {
				c = c.sameTuple
			}
			c.sameTuple = ci
		}
	}
	if p.Proto == "tcp" {
		f := flagBits(p.Flags)
		if f&flagSYN != 0 && f&flagACK != 0 && p.Src == ci.server {
			ci.sawSYNACK = true
		}
	}
	ci.npkts++
	ci.last = p.Time
	return ci
}

// sortedConns lists the live connections by id.
func (a *annotator) sortedConns() []*connInfo {
	out := make([]*connInfo, 0, a.conns.len())
	a.conns.each(func(ci *connInfo) { out = append(out, ci) })
	return out
}

// forget drops the state of retired connections.
func (a *annotator) forget(retired []*connInfo) {
	for _, ci := range retired {
		a.conns.drop(ci.id)
		a.analysis.drop(ci.id)
		k := ci.key
		switch head := a.byTuple[k]; {
		case head == ci && ci.sameTuple == nil:
			delete(a.byTuple, k)
		case head == ci:
			a.byTuple[k] = ci.sameTuple
		default:
			for c := head; c != nil; c = c.sameTuple {
				if c.sameTuple == ci {
					c.sameTuple = ci.sameTuple
					break
				}
			}
		}
		for _, ep := range [2]trace.Endpoint{ci.client, ci.server} {
			sk := sockKey{ci.id, ep}
			delete(a.inferred, sk)
			delete(a.sent, sk)
			delete(a.recvd, sk)
			a.narr.forget(sk)
		}
		delete(a.narr.lastPkt, ci.id)
		ci.pkts = nil
	}
}

// concreteLocal is the address a call's socket used on the wire: its
// Local, or for a socket bound to the wildcard address (0.0.0.0:35839, an
// unbound UDP socket after its first sendto) the address the packets on
// that port show, talking to Remote when it is known.
func (a *annotator) concreteLocal(c *trace.Call) trace.Endpoint {
	l := c.Local
	if !l.Addr().IsUnspecified() || l.Port() == 0 {
		return l
	}
	for _, p := range a.packets {
		for _, e := range [][2]trace.Endpoint{{p.Src, p.Dst}, {p.Dst, p.Src}} {
			if e[0].Port() == l.Port() && e[0].Addr().Is4() == l.Addr().Is4() && (!c.Remote.IsValid() || e[1] == c.Remote) {
				return e[0]
			}
		}
	}
	return l
}

// loc is the concrete local address of call c (see concreteLocal).
func (a *annotator) loc(c *trace.Call) trace.Endpoint {
	if l, ok := a.local[c.ID]; ok {
		return l
	}
	return c.Local
}

// findConn is the connection on the 4-tuple (local, remote) that had begun
// by time at: the latest such, or the first if none had.
func (a *annotator) findConn(proto string, local, remote trace.Endpoint, at time.Time) *connInfo {
	if !local.IsValid() || !remote.IsValid() {
		return nil
	}
	best := a.byTuple[keyOf(proto == "tcp", local, remote)]
	if best == nil {
		return nil
	}
	for c := best.sameTuple; c != nil; c = c.sameTuple {
		if !c.first.After(at) {
			best = c
		}
	}
	return best
}

// findOpened is the TCP connection a connect entered at time at opened: the
// first on the 4-tuple that began at or after at (its SYN leaves after the
// call was entered), else the latest that began before (a capture that
// missed the SYN). On a 4-tuple used again, the connection before is not
// the one.
func (a *annotator) findOpened(local, remote trace.Endpoint, at time.Time) *connInfo {
	if !local.IsValid() || !remote.IsValid() {
		return nil
	}
	var last *connInfo
	for c := a.byTuple[keyOf(true, local, remote)]; c != nil; c = c.sameTuple {
		if !c.first.Before(at) {
			return c
		}
		last = c
	}
	return last
}

// assignKernelConns gives the kernel's state reports (which know the
// 4-tuple, not the capture's numbering) their connection ids.
func (a *annotator) assignKernelConns() {
	for _, ev := range a.evs {
		s := ev.State
		if s == nil || s.Source != trace.SourceKernel || s.Conn != 0 {
			continue
		}
		if c := a.findConn("tcp", s.Endpoint, s.Peer, s.Time); c != nil {
			s.Conn = c.id
		}
	}
}

// tie records that call c and packet p belong together; cause says that
// the call put the packet on the wire.
func (a *annotator) tie(c *trace.Call, p *trace.Packet, cause bool) {
	if !containsInt(c.Frames, p.Frame) {
		c.Frames = append(c.Frames, p.Frame)
	}
	if !containsInt(p.Calls, c.ID) {
		p.Calls = append(p.Calls, c.ID)
	}
	if cause {
		p.By = trace.ByCall
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func hasFlag(p *trace.Packet, name string) bool {
	for _, f := range p.Analysis {
		if f == name {
			return true
		}
	}
	return false
}

// resent reports whether p carries sequence space sent before.
func resent(p *trace.Packet) bool {
	return hasFlag(p, trace.AnalysisRetransmission) || hasFlag(p, trace.AnalysisFastRetransmission)
}

func (a *annotator) tieCalls() {
	for _, c := range a.calls {
		tcp := c.Proto != "udp"
		switch c.Op {
		case trace.OpSend, trace.OpSendto:
			if tcp && c.Op == trace.OpSend {
				a.tieStream(c, true)
			} else if !tcp {
				a.tieDatagram(c, true)
			}
		case trace.OpRecv, trace.OpRecvfrom:
			if tcp && c.Op == trace.OpRecv {
				a.tieStream(c, false)
			} else if !tcp {
				a.tieDatagram(c, false)
			}
		case trace.OpConnect:
			if tcp {
				a.tieConnect(c)
			}
		case trace.OpAccept:
			a.tieAccept(c)
		case trace.OpClose, trace.OpShutdown:
			if tcp {
				a.tieClose(c)
			}
		}
	}
	a.tieICMP()
}

// msgPeek is MSG_PEEK: a recv that leaves the bytes in the buffer.
const msgPeek = 0x2

// tieStream ties a send (out) or recv to the segments that carried its
// bytes, by stream offset; a recv that returned 0 to the peer's FIN.
func (a *annotator) tieStream(c *trace.Call, out bool) {
	if c.Errno != "" || c.Ret < 0 {
		return
	}
	ci := a.findConn("tcp", a.loc(c), c.Remote, c.End)
	if ci == nil {
		return
	}
	src, dst := a.loc(c), c.Remote
	if !out {
		src, dst = c.Remote, a.loc(c)
	}
	if c.Ret == 0 {
		if !out {
			for _, p := range ci.pkts {
				if p.Src == src && flagBits(p.Flags)&flagFIN != 0 && !resent(p) {
					a.tie(c, p, false)
					break
				}
			}
		}
		return
	}
	// Offsets are stream offsets only when the sender's SYN was captured.
	if src == ci.client && !ci.sawSYN || src == ci.server && !ci.sawSYNACK {
		return
	}
	k := sockKey{ci.id, a.loc(c)}
	moved := a.sent
	if !out {
		moved = a.recvd
	}
	start := 1 + moved[k]
	end := start + uint32(c.Ret)
	if out || c.Flags&msgPeek == 0 {
		moved[k] += uint32(c.Ret)
	}
	c.Bytes = [2]uint32{start, end}
	for _, p := range ci.pkts {
		if p.Src != src || p.Dst != dst || p.Len <= 0 {
			continue
		}
		ps, pe := p.RSeq, p.RSeq+uint32(p.Len)
		if ps < end && start < pe {
			a.tie(c, p, out && !resent(p))
		}
	}
}

// tieDatagram ties sendto/recvfrom to their datagram: the first one on the
// 4-tuple not tied yet, sent after the call was entered (sendto) or
// received before it returned (recvfrom).
func (a *annotator) tieDatagram(c *trace.Call, out bool) {
	if c.Errno != "" || !c.Remote.IsValid() {
		return
	}
	src, dst := a.loc(c), c.Remote
	if !out {
		src, dst = c.Remote, a.loc(c)
	}
	for _, p := range a.packets {
		if p.Proto != "udp" || p.Src != src || p.Dst != dst || a.claimed[p.Frame*2+b2i(out)] {
			continue
		}
		if out && p.Time.Before(c.Start) || !out && !c.End.IsZero() && p.Time.After(c.End) {
			continue
		}
		a.claimed[p.Frame*2+b2i(out)] = true
		a.tie(c, p, out)
		return
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tieConnect ties connect to its SYN (a retransmitted SYN is the kernel's),
// and a refused connect to the RST that refused it.
func (a *annotator) tieConnect(c *trace.Call) {
	ci := a.findOpened(a.loc(c), c.Remote, c.Start)
	if ci == nil {
		return
	}
	first := true
	for _, p := range ci.pkts {
		f := flagBits(p.Flags)
		switch {
		case p.Src == a.loc(c) && f&flagSYN != 0 && f&flagACK == 0:
			a.tie(c, p, first)
			first = false
		case p.Src == c.Remote && f&flagRST != 0 && c.Errno == "ECONNREFUSED":
			a.tie(c, p, false)
			return
		}
	}
}

// tieAccept ties accept to the handshake of the connection it returned.
func (a *annotator) tieAccept(c *trace.Call) {
	if c.Errno != "" {
		return
	}
	ci := a.findConn("tcp", a.loc(c), c.Remote, c.End)
	if ci == nil {
		return
	}
	for _, p := range ci.pkts {
		f := flagBits(p.Flags)
		switch {
		case f&flagSYN != 0:
			a.tie(c, p, false)
		case p.Src == ci.client && f&flagACK != 0 && p.RAck >= 1:
			a.tie(c, p, false)
			a.accepted[c.ID] = p.Time
			return
		}
	}
}

// tieClose ties close/shutdown to the FIN or RST it sent: the first one
// from its end, not resent, sent after it was entered and not tied yet.
func (a *annotator) tieClose(c *trace.Call) {
	if c.Op == trace.OpShutdown && c.How == "SHUT_RD" || c.Errno != "" {
		return
	}
	ci := a.findConn("tcp", a.loc(c), c.Remote, c.Start)
	if ci == nil {
		return
	}
	for _, p := range ci.pkts {
		f := flagBits(p.Flags)
		if p.Src != a.loc(c) || f&(flagFIN|flagRST) == 0 || resent(p) || p.Time.Before(c.Start) || a.claimed[p.Frame*2] {
			continue
		}
		if f&flagFIN != 0 && a.finClaimed(ci, a.loc(c)) {
			continue
		}
		a.claimed[p.Frame*2] = true
		a.tie(c, p, true)
		return
	}
}

// finClaimed reports whether a call already sent ep's FIN on ci.
func (a *annotator) finClaimed(ci *connInfo, ep trace.Endpoint) bool {
	for _, p := range ci.pkts {
		if p.Src == ep && flagBits(p.Flags)&flagFIN != 0 && a.claimed[p.Frame*2] {
			return true
		}
	}
	return false
}

// tieICMP ties an ICMP error to the datagram it quotes (and so to the call
// that sent it), and to the first call on the sending socket that failed
// with the error after it arrived.
func (a *annotator) tieICMP() {
	for _, p := range a.packets {
		if p.Proto != "icmp" && p.Proto != "icmp6" {
			continue
		}
		src, dst := p.Quoted[0], p.Quoted[1]
		if !src.IsValid() {
			continue
		}
		var orig *trace.Packet
		for _, q := range a.packets {
			if q.Proto == "udp" && q.Src == src && q.Dst == dst && !q.Time.After(p.Time) && q.Frame < p.Frame {
				orig = q
			}
		}
		if orig != nil {
			for _, id := range orig.Calls {
				if c := a.callByID[id]; c != nil && a.loc(c) == src {
					a.tie(c, p, false)
				}
			}
		}
		for _, c := range a.calls {
			if a.loc(c) == src && c.Errno == "ECONNREFUSED" && !c.End.Before(p.Time) {
				a.tie(c, p, false)
				break
			}
		}
	}
}

// markKernel marks the packets the kernel sent on its own: every TCP
// segment a recorded program's socket sent that no call put on the wire;
// from anyone, the segments only a kernel sends (pure ACKs, SYN-ACKs,
// RSTs); and ICMP.
func (a *annotator) markKernel() {
	if !a.anyCalls {
		return
	}
	for _, p := range a.packets {
		if p.By != "" {
			continue
		}
		switch p.Proto {
		case "tcp":
			f := flagBits(p.Flags)
			kernelOnly := p.Len == 0 && f&flagFIN == 0 && !(f&flagSYN != 0 && f&flagACK == 0)
			if _, ours := a.owner[p.Src]; ours || kernelOnly {
				p.By = trace.ByKernel
			}
		case "icmp", "icmp6":
			// ICMP errors and echo replies come from a kernel.
			p.By = trace.ByKernel
		}
		// A UDP datagram always has a call behind it: one no call claimed
		// stays unattributed.
	}
}

// stateAt is the inferred state of k at time t, and whether one is known.
func (a *annotator) stateAt(k sockKey, t time.Time) (trace.State, bool) {
	ts := a.inferred[k]
	if len(ts) == 0 {
		return "", false
	}
	st := ts[0].from
	for _, tr := range ts {
		if tr.at.After(t) {
			break
		}
		st = tr.to
	}
	return st, true
}

// nextState is the first state k is inferred to enter after time t.
func (a *annotator) nextState(k sockKey, t time.Time) (trace.State, bool) {
	for _, tr := range a.inferred[k] {
		if tr.at.After(t) {
			return tr.to, true
		}
	}
	return "", false
}

// heldDuring lists the inferred states k was in at some time in [t0, t1].
func (a *annotator) heldDuring(k sockKey, t0, t1 time.Time) []trace.State {
	st, ok := a.stateAt(k, t0)
	if !ok {
		return nil
	}
	out := []trace.State{st}
	for _, tr := range a.inferred[k] {
		if tr.at.After(t0) && !tr.at.After(t1) {
			out = append(out, tr.to)
		}
	}
	return out
}

// checkKernel compares every state the kernel reported for a connected
// socket (its StateChange events, and the State of calls on connected TCP
// sockets) with the states inferred for that end around that time, and
// returns a warning note for each distinct disagreement.
func (a *annotator) checkKernel() []trace.Event {
	type sample struct {
		at     time.Time
		conn   int
		ep     trace.Endpoint
		state  trace.State
		callID int
	}
	var samples []sample
	for _, ev := range a.evs {
		switch {
		case ev.State != nil && ev.State.Source == trace.SourceKernel && ev.State.Conn != 0:
			s := ev.State
			samples = append(samples, sample{s.Time, s.Conn, s.Endpoint, s.To, 0})
		case ev.Call != nil && ev.Call.State != "" && ev.Call.Proto != "udp" && ev.Call.Remote.IsValid():
			c := ev.Call
			switch c.Op {
			case trace.OpSocket, trace.OpBind, trace.OpListen:
				continue
			}
			if ci := a.findConn("tcp", a.loc(c), c.Remote, c.End); ci != nil {
				samples = append(samples, sample{c.End, ci.id, a.loc(c), c.State, c.ID})
			}
		}
	}
	seen := map[string]bool{}
	var notes []trace.Event
	for _, s := range samples {
		k := sockKey{s.conn, s.ep}
		held := a.heldDuring(k, s.at.Add(-kernelLag), s.at.Add(kernelLead))
		if held == nil {
			continue
		}
		agree := false
		for _, st := range held {
			if st == s.state {
				agree = true
			}
		}
		// Linux enters FIN_WAIT1 and LAST_ACK in close() itself, before
		// the FIN leaves: queued data goes first, and the FIN (from which
		// the state is inferred) may be captured much later.
		if next, ok := a.nextState(k, s.at); ok && next == s.state && (next == trace.StateFinWait1 || next == trace.StateLastAck) {
			agree = true
		}
		if agree {
			continue
		}
		inf, _ := a.stateAt(k, s.at)
		key := s.ep.String() + string(s.state) + string(inf)
		if seen[key] {
			continue
		}
		seen[key] = true
		args := narrate.Args{"ep": a.epName(s.conn, s.ep), "kernel": string(s.state), "inferred": string(inf), "conn": s.conn}
		text := narrate.Say(a.lang, "note.kernel-disagrees", args)
		if s.callID != 0 {
			args["id"] = s.callID
			text = narrate.Say(a.lang, "note.kernel-disagrees.call", args)
		}
		notes = append(notes, trace.NoteEvent(&trace.Note{Time: s.at, Level: "warning", Text: text,
			Topic: trace.TopicKernelDisagrees, Conn: s.conn}))
	}
	return notes
}

// epName names an end for the narration: its program's lane if a call
// used the address, else its role in the connection.
func (a *annotator) epName(conn int, ep trace.Endpoint) string {
	if lane, ok := a.owner[ep]; ok {
		return narrate.Role(a.lang, lane)
	}
	if ci := a.conns.get(conn); ci != nil {
		if ep == ci.server {
			return narrate.Role(a.lang, "server")
		}
		if ep == ci.client {
			return narrate.Role(a.lang, "client")
		}
	}
	return ep.String()
}
