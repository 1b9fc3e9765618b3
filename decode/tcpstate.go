package decode

import "github.com/sockscope/sockscope/trace"

// segment is what the state machine sees of one TCP segment.
type segment struct {
	flags byte
	seq   seq
	ack   seq
	len   uint32 // payload bytes
}

func (s *segment) has(f byte) bool { return s.flags&f != 0 }

// end is the sequence number after the segment: SYN and FIN each occupy one.
func (s *segment) end() seq {
	e := s.seq.add(s.len)
	if s.has(flagSYN) {
		e++
	}
	if s.has(flagFIN) {
		e++
	}
	return e
}

// endpoint is one end of a TCP connection as the state machine tracks it.
type endpoint struct {
	addr  trace.Endpoint
	state trace.State
	peer  *endpoint // the other end

	iss    seq  // initial send sequence number, when issSet
	issSet bool // we saw this end's SYN (or inferred its ISN)
	finSeq seq  // the sequence number this end's FIN occupies, when finSet
	finSet bool
}

// ackedSYN reports whether ack acknowledges this end's SYN.
func (e *endpoint) ackedSYN(s *segment) bool {
	return e.issSet && s.has(flagACK) && e.iss.lt(s.ack)
}

// ackedFIN reports whether ack acknowledges this end's FIN.
func (e *endpoint) ackedFIN(s *segment) bool {
	return e.finSet && s.has(flagACK) && e.finSeq.lt(s.ack)
}

// sent records what a segment sent by this end tells about its sequence
// space: its ISN on a SYN, where its FIN sits.
func (e *endpoint) sent(s *segment) {
	if s.has(flagSYN) && !e.issSet {
		e.iss, e.issSet = s.seq, true
	}
	if s.has(flagFIN) && !e.finSet {
		e.finSeq, e.finSet = s.end()-1, true
	}
}

// A handler moves one endpoint through one segment, sent by it (out) or
// received by it (!out), and returns the endpoint's next state. There is one
// handler per state, as in gVisor's tcpconntrack; a handler may pass the
// segment on to the next state's handler when one segment causes two
// transitions (an ACK of our SYN that also carries the peer's FIN).
type handler func(e *endpoint, s *segment, out bool, m *machine) trace.State

// handlerFor returns the handler of a state, nil for none.
func handlerFor(st trace.State) handler {
	switch st {
	case trace.StateClosed:
		return closedHandler
	case trace.StateListen:
		return listenHandler
	case trace.StateSynSent:
		return synSentHandler
	case trace.StateSynRecv:
		return synRecvHandler
	case trace.StateEstablished:
		return establishedHandler
	case trace.StateFinWait1:
		return finWait1Handler
	case trace.StateFinWait2:
		return finWait2Handler
	case trace.StateClosing:
		return closingHandler
	case trace.StateTimeWait:
		return timeWaitHandler
	case trace.StateCloseWait:
		return closeWaitHandler
	case trace.StateLastAck:
		return lastAckHandler
	}
	return nil
}

// machine applies segments to both ends of a connection and collects the
// transitions they cause.
type machine struct {
	changes []change
}

// change is one endpoint's transition.
type change struct {
	ep       *endpoint
	from, to trace.State
}

// step runs ep's handler for s and records a transition if there is one.
func (m *machine) step(e *endpoint, s *segment, out bool) {
	if out {
		e.sent(s)
	}
	var next trace.State
	if s.has(flagRST) {
		next = resetHandler(e, s, out, m)
	} else if h := handlerFor(e.state); h != nil {
		next = h(e, s, out, m)
	} else {
		next = e.state
	}
	m.move(e, next)
}

// move records e's transition to next, if it is one.
func (m *machine) move(e *endpoint, next trace.State) {
	if next != e.state {
		m.changes = append(m.changes, change{ep: e, from: e.state, to: next})
		e.state = next
	}
}

// segmentSent feeds a segment from src to dst: the sender first, then the
// receiver, as on loopback where sending and receiving happen at once.
func (m *machine) segmentSent(src, dst *endpoint, s *segment) {
	// Most segments carry data or an ACK between two ESTABLISHED ends:
	// without SYN, FIN or RST, neither end's handler has anything to do
	// (sent records only SYNs and FINs, establishedHandler waits for a
	// FIN). TestStateShortcut holds this to the full steps.
	if s.flags&(flagSYN|flagFIN|flagRST) == 0 &&
		src.state == trace.StateEstablished && dst.state == trace.StateEstablished {
		return
	}
	m.step(src, s, true)
	m.step(dst, s, false)
}

// resetHandler: a RST closes both ends, whatever their state (a RST
// answering a SYN is a refused connection: SYN_SENT → CLOSED). Linux does
// not implement RFC 1337, so a RST kills TIME_WAIT too.
//
// An end still assumed LISTEN that sends a RST never listened (nothing
// answers a SYN with a RST but a closed port): the assumption is corrected
// to CLOSED without a transition, as there was no socket to move.
func resetHandler(e *endpoint, _ *segment, out bool, _ *machine) trace.State {
	if e.state == trace.StateListen {
		if out {
			e.state = trace.StateClosed
		}
		return e.state
	}
	return trace.StateClosed
}

// closedHandler: the client before its SYN, or an end that has closed.
func closedHandler(e *endpoint, s *segment, out bool, _ *machine) trace.State {
	if out && s.has(flagSYN) && !s.has(flagACK) {
		return trace.StateSynSent
	}
	return e.state
}

// listenHandler: the server side before it answers a SYN. Only its SYN-ACK
// shows that something listens there: a SYN alone may be answered by a RST
// (no listener, refused), so receiving it changes nothing yet.
func listenHandler(e *endpoint, s *segment, out bool, _ *machine) trace.State {
	if out && s.has(flagSYN) && s.has(flagACK) {
		return trace.StateSynRecv
	}
	return e.state
}

// synSentHandler: the client waits for the SYN-ACK. A retransmitted SYN
// changes nothing.
func synSentHandler(e *endpoint, s *segment, out bool, _ *machine) trace.State {
	if out || !s.has(flagSYN) {
		return e.state
	}
	if !s.has(flagACK) {
		return trace.StateSynRecv // simultaneous open
	}
	if e.ackedSYN(s) {
		return trace.StateEstablished
	}
	return e.state
}

// synRecvHandler: the server waits for the ACK of its SYN-ACK. The ACK
// may already carry data or a FIN, which ESTABLISHED then handles.
func synRecvHandler(e *endpoint, s *segment, out bool, m *machine) trace.State {
	if out {
		if s.has(flagFIN) {
			return trace.StateFinWait1
		}
		return e.state
	}
	if e.ackedSYN(s) {
		m.move(e, trace.StateEstablished)
		return establishedHandler(e, s, out, m)
	}
	return e.state
}

// establishedHandler: a FIN sent starts the active close, a FIN received
// the passive one.
func establishedHandler(e *endpoint, s *segment, out bool, _ *machine) trace.State {
	if !s.has(flagFIN) {
		return e.state
	}
	if out {
		return trace.StateFinWait1
	}
	return trace.StateCloseWait
}

// finWait1Handler: our FIN is out. An ACK of it leads to FIN_WAIT2; the
// peer's FIN leads to CLOSING, or to TIME_WAIT when it also acks our FIN
// (Linux delays the ACK of a FIN so that it rides on the peer's FIN, and a
// "four-way" close shows three segments). Like Linux's
// tcp_rcv_state_process and RFC 9293, the ACK is processed before the FIN:
// the end passes through FIN_WAIT2 on that very segment, and the kernel's
// inet_sock_set_state tracepoint records both transitions.
func finWait1Handler(e *endpoint, s *segment, out bool, m *machine) trace.State {
	if out {
		return e.state
	}
	acked := e.ackedFIN(s)
	switch {
	case s.has(flagFIN) && acked:
		m.move(e, trace.StateFinWait2)
		return trace.StateTimeWait
	case s.has(flagFIN):
		return trace.StateClosing // simultaneous close
	case acked:
		return trace.StateFinWait2
	}
	return e.state
}

// finWait2Handler: our FIN is acked; data may still come (half-close)
// until the peer's FIN.
func finWait2Handler(e *endpoint, s *segment, out bool, _ *machine) trace.State {
	if !out && s.has(flagFIN) {
		return trace.StateTimeWait
	}
	return e.state
}

// closingHandler: both FINs are out; the ACK of ours ends it.
func closingHandler(e *endpoint, s *segment, out bool, _ *machine) trace.State {
	if !out && e.ackedFIN(s) {
		return trace.StateTimeWait
	}
	return e.state
}

// timeWaitHandler: nothing moves an end out of TIME_WAIT but a RST or the
// timer (a new SYN on the tuple starts a new connection).
func timeWaitHandler(e *endpoint, _ *segment, _ bool, _ *machine) trace.State {
	return e.state
}

// closeWaitHandler: the peer has closed; we may still send (half-close)
// until our own FIN, which leads to LAST_ACK. When our FIN does not ack the
// peer's FIN, the two FINs crossed (a simultaneous close): we had sent ours
// in FIN_WAIT1 before we processed theirs, so we are CLOSING, as the peer
// is, and both ends will reach TIME_WAIT as Linux's do.
func closeWaitHandler(e *endpoint, s *segment, out bool, _ *machine) trace.State {
	if !out || !s.has(flagFIN) {
		return e.state
	}
	if p := e.peer; p.finSet && !(s.has(flagACK) && p.finSeq.lt(s.ack)) {
		return trace.StateClosing
	}
	return trace.StateLastAck
}

// lastAckHandler: our FIN answers the peer's; its ACK closes us.
func lastAckHandler(e *endpoint, s *segment, out bool, _ *machine) trace.State {
	if !out && e.ackedFIN(s) {
		return trace.StateClosed
	}
	return e.state
}
