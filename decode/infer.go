package decode

import (
	"github.com/sockscope/sockscope/trace"
)

// inferCalls adds, before each TCP segment that implies one, the call a
// program must have made for it, marked Call.Inferred: nobody recorded it.
// A SYN implies connect(), a SYN-ACK a listening socket, a FIN close() or
// shutdown(SHUT_WR), a RST an abortive close or a port without listener.
// Segments sent again (retransmissions, and the copies Wireshark calls
// out of order) imply nothing new. It returns the piece with the calls
// inserted (same time as their packet, just before it).
func (a *annotator) inferCalls(evs []trace.Event) []trace.Event {
	n := 0
	for _, ev := range evs {
		if p := ev.Packet; p != nil && inferredOp(p) != "" {
			n++
		}
	}
	if n == 0 {
		return evs
	}
	out := make([]trace.Event, 0, len(evs)+n)
	calls := make([]trace.Call, n)
	for _, ev := range evs {
		if p := ev.Packet; p != nil {
			if what := inferredOp(p); what != "" {
				c := &calls[0]
				calls = calls[1:]
				setInferred(c, p, what, []int{p.Frame})
				out = append(out, trace.CallEvent(c))
			}
		}
		out = append(out, ev)
	}
	return out
}

// setInferred makes c the call that what, inferred from p, stands for;
// frames holds p's frame number.
func setInferred(c *trace.Call, p *trace.Packet, what string, frames []int) {
	*c = trace.Call{Proto: "tcp", Local: p.Src, Remote: p.Dst, Start: p.Time, Inferred: what, Frames: frames}
	switch what {
	case trace.InferredConnect:
		c.Op = trace.OpConnect
	case trace.InferredListen:
		c.Op = trace.OpListen
	default:
		c.Op = trace.OpClose
	}
}

// inferredOp is what a TCP segment implies its sender called, "" for
// nothing (data, ACKs, retransmissions, other protocols).
func inferredOp(p *trace.Packet) string {
	if p.Proto != "tcp" || p.Conn == 0 || resent(p) || hasFlag(p, trace.AnalysisOutOfOrder) {
		return ""
	}
	f := flagBits(p.Flags)
	switch {
	case f&flagRST != 0:
		return trace.InferredAbort
	case f&flagSYN != 0 && f&flagACK == 0:
		return trace.InferredConnect
	case f&flagSYN != 0:
		return trace.InferredListen
	case f&flagFIN != 0:
		return trace.InferredClose
	}
	return ""
}

// inferredCall narrates an inferred call.
func (n *narrator) inferredCall(c *trace.Call) string {
	frame := 0
	if len(c.Frames) > 0 {
		frame = c.Frames[0]
	}
	conn := 0
	if p := n.a.byFrame[frame]; p != nil {
		conn = p.Conn
	}
	v, t := &n.v, &n.t
	v.Reset()
	t.Reset(n.l)
	v.Int(phFrame, int64(frame))
	v.Str(phWho, n.name(conn, c.Local))
	v.Addr(phLocal, c.Local)
	v.Addr(phRemote, c.Remote)
	switch c.Inferred {
	case trace.InferredConnect:
		t.SayPhrase(kCallInferredConnect, v)
	case trace.InferredListen:
		t.SayPhrase(kCallInferredListen, v)
	case trace.InferredClose:
		t.SayPhrase(kCallInferredClose, v)
	default:
		t.SayPhrase(kCallInferredAbort, v)
	}
	return t.String()
}
