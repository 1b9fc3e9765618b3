package decode

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sockscope/sockscope/decode/narrate"
	"github.com/sockscope/sockscope/trace"
)

// The narration: one or two sentences per event, with the arithmetic,
// from the phrases of package narrate. It reads the timeline in order and
// keeps, per connection and direction, the segments seen so far, to say
// which segment an ACK acknowledges.

// sentSeg is a segment as the narration remembers it.
type sentSeg struct {
	p        *trace.Packet
	seq, end uint32 // relative; end counts SYN and FIN
	flags    byte
}

// narrSide is what the narration remembers of a sender: one map lookup
// finds it all.
type narrSide struct {
	segs    []sentSeg // the segments it sent, the latest last
	lastAck uint32    // the last ACK it sent
	acked   bool      // whether it sent an ACK yet
}

type narrator struct {
	a       *annotator
	l       narrate.Lang
	sides   map[sockKey]*narrSide // by sender
	free    []*narrSide           // forgotten, for the next senders
	lastPkt map[int]*trace.Packet // the latest packet of each connection

	// Reused for every packet: the values of its sentences, those of the
	// sentence saying who sent it, and the narration being written.
	v, bv narrate.Vals
	t     narrate.Text
}

// The phrases said by key, looked up once.
var (
	kAckCumulative         = narrate.Key("ack.cumulative")
	kAckData               = narrate.Key("ack.data")
	kAckDataFin            = narrate.Key("ack.data.fin")
	kAckFin                = narrate.Key("ack.fin")
	kAckFinDelayed         = narrate.Key("ack.fin.delayed")
	kAckRepeat             = narrate.Key("ack.repeat")
	kAckSyn                = narrate.Key("ack.syn")
	kByCall                = narrate.Key("by.call")
	kByKernel              = narrate.Key("by.kernel")
	kByKernelResent        = narrate.Key("by.kernel.resent")
	kCallInferredAbort     = narrate.Key("call.inferred.abort")
	kCallInferredClose     = narrate.Key("call.inferred.close")
	kCallInferredConnect   = narrate.Key("call.inferred.connect")
	kCallInferredListen    = narrate.Key("call.inferred.listen")
	kPktAck                = narrate.Key("pkt.ack")
	kPktData               = narrate.Key("pkt.data")
	kPktError              = narrate.Key("pkt.error")
	kPktFin                = narrate.Key("pkt.fin")
	kPktFinData            = narrate.Key("pkt.fin.data")
	kPktRst                = narrate.Key("pkt.rst")
	kPktRstRefused         = narrate.Key("pkt.rst.refused")
	kPktSyn                = narrate.Key("pkt.syn")
	kPktSynAgain           = narrate.Key("pkt.syn.again")
	kPktSynack             = narrate.Key("pkt.synack")
	kPktUdp                = narrate.Key("pkt.udp")
	kStateKernel           = narrate.Key("state.kernel")
	kStateKernelTimer      = narrate.Key("state.kernel.timer")
	kSummaryMidstream      = narrate.Key("summary.midstream")
	kSummaryUdp            = narrate.Key("summary.udp")
	kSummaryUdpUnreachable = narrate.Key("summary.udp.unreachable")
)

// The phrases of the states.
var (
	kStateSynSent                                                           = narrate.Key("state." + string(trace.StateSynSent))
	kStateSynRecv                                                           = narrate.Key("state." + string(trace.StateSynRecv))
	kStateEstablished                                                       = narrate.Key("state." + string(trace.StateEstablished))
	kStateFinWait1                                                          = narrate.Key("state." + string(trace.StateFinWait1))
	kStateFinWait2                                                          = narrate.Key("state." + string(trace.StateFinWait2))
	kStateCloseWait                                                         = narrate.Key("state." + string(trace.StateCloseWait))
	kStateLastAck                                                           = narrate.Key("state." + string(trace.StateLastAck))
	kStateClosing                                                           = narrate.Key("state." + string(trace.StateClosing))
	kStateTimeWait                                                          = narrate.Key("state." + string(trace.StateTimeWait))
	kStateClosed                                                            = narrate.Key("state." + string(trace.StateClosed))
	kStateListen                                                            = narrate.Key("state." + string(trace.StateListen))
	kStateClosedRefused, kStateClosedReset, kStateClosedLastack             = narrate.Key("state.CLOSED.refused"), narrate.Key("state.CLOSED.reset"), narrate.Key("state.CLOSED.lastack")
	kStateFinWait2Passing, kStateTimeWaitClosing, kStateSynRecvSimultaneous = narrate.Key("state.FIN_WAIT2.passing"), narrate.Key("state.TIME_WAIT.closing"), narrate.Key("state.SYN_RECV.simultaneous")
)

// The placeholders a packet's sentences fill in.
var (
	phSrc, phDst, phSeq, phAck = narrate.Placeholder("src"), narrate.Placeholder("dst"), narrate.Placeholder("seq"), narrate.Placeholder("ack")
	phLen, phEnd, phNext       = narrate.Placeholder("len"), narrate.Placeholder("end"), narrate.Placeholder("next")
	phFirst, phLast, phWin     = narrate.Placeholder("first"), narrate.Placeholder("last"), narrate.Placeholder("win")
	phPseq, phPlen, phError    = narrate.Placeholder("pseq"), narrate.Placeholder("plen"), narrate.Placeholder("error")
	phID, phOp, phWho          = narrate.Placeholder("id"), narrate.Placeholder("op"), narrate.Placeholder("who")
	phEp, phFrom, phTo, phLeft = narrate.Placeholder("ep"), narrate.Placeholder("from"), narrate.Placeholder("to"), narrate.Placeholder("left")
	phFrame, phLocal, phRemote = narrate.Placeholder("frame"), narrate.Placeholder("local"), narrate.Placeholder("remote")
)

func (a *annotator) narrateAll(evs []trace.Event) {
	n := a.narr // what it remembers goes on from piece to piece
	for i := range evs {
		ev := &evs[i]
		switch {
		case ev.Packet != nil:
			ev.Explain = n.packet(ev.Packet)
		case ev.State != nil:
			var next *trace.StateChange
			if i+1 < len(evs) && evs[i+1].State != nil {
				next = evs[i+1].State
			}
			ev.Explain = n.state(ev.State, next)
		case ev.Call != nil:
			ev.Explain = n.call(ev.Call)
		case ev.Note != nil:
			ev.Explain = n.note(ev.Note)
		}
	}
}

func (n *narrator) say(key string, args narrate.Args) string { return narrate.Say(n.l, key, args) }

func (n *narrator) name(conn int, ep trace.Endpoint) string { return n.a.epName(conn, ep) }

func frameList(l narrate.Lang, frames []int) string {
	s := make([]string, len(frames))
	for i, f := range frames {
		s[i] = strconv.Itoa(f)
	}
	return narrate.List(l, s)
}

// packet narrates a packet and remembers it.
func (n *narrator) packet(p *trace.Packet) string {
	switch p.Proto {
	case "tcp":
		n.t.Reset(n.l)
		n.tcp(p)
		if p.Error != "" {
			n.v.Reset()
			n.v.Str(phError, p.Error)
			n.t.SayPhrase(kPktError, &n.v)
		}
		return n.t.String()
	case "udp":
		n.t.Reset(n.l)
		v := &n.v
		v.Reset()
		v.Int(phLen, int64(p.Len))
		v.Str(phSrc, n.name(p.Conn, p.Src))
		v.Str(phDst, n.name(p.Conn, p.Dst))
		n.t.SayPhrase(kPktUdp, v)
		n.by(p)
		return n.t.String()
	case "icmp", "icmp6":
		if strings.HasPrefix(p.Info, "port unreachable") {
			if src, dst, ok := quotedTuple(p.Info); ok {
				return n.say("pkt.icmp.unreachable", narrate.Args{"src": src.String(), "dst": dst.String()})
			}
		}
		return n.say("pkt.icmp", narrate.Args{"info": p.Info})
	}
	if p.Error != "" {
		return n.say("pkt.error", narrate.Args{"error": p.Error})
	}
	return n.say("pkt.other", narrate.Args{"proto": p.Proto, "info": p.Info})
}

// tcp narrates a TCP segment into n.t and remembers it.
func (n *narrator) tcp(p *trace.Packet) {
	f := flagBits(p.Flags)
	from, to := sockKey{p.Conn, p.Src}, sockKey{p.Conn, p.Dst}
	src := n.name(p.Conn, p.Src)
	end := p.RSeq + uint32(max(p.Len, 0))
	if f&flagSYN != 0 {
		end++
	}
	if f&flagFIN != 0 {
		end++
	}
	v, t := &n.v, &n.t
	v.Reset()
	v.Str(phSrc, src)
	v.Str(phDst, n.name(p.Conn, p.Dst))
	v.Int(phSeq, int64(p.RSeq))
	v.Int(phAck, int64(p.RAck))
	v.Int(phLen, int64(p.Len))
	v.Int(phEnd, int64(p.RSeq+uint32(max(p.Len, 0))))
	v.Int(phNext, int64(end))
	v.Int(phFirst, int64(p.RSeq))
	v.Int(phLast, int64(p.RSeq+uint32(max(p.Len, 0))-1))
	v.Int(phWin, int64(p.Win))

	// What the segment is.
	switch {
	case f&flagRST != 0:
		if !n.established(p.Conn) {
			t.SayPhrase(kPktRstRefused, v)
		} else {
			t.SayPhrase(kPktRst, v)
		}
	case f&flagSYN != 0 && f&flagACK == 0:
		if resent(p) || hasFlag(p, trace.AnalysisOutOfOrder) {
			t.SayPhrase(kPktSynAgain, v)
		} else {
			t.SayPhrase(kPktSyn, v)
		}
	case f&flagSYN != 0:
		t.SayPhrase(kPktSynack, v)
	case f&flagFIN != 0:
		t.SayPhrase(kPktFin, v)
		if p.Len > 0 {
			t.SayPhrase(kPktFinData, v)
		}
	case p.Len > 0:
		t.SayPhrase(kPktData, v)
	default:
		t.SayPhrase(kPktAck, v)
	}

	side := n.sides[from]
	if side == nil {
		if k := len(n.free); k > 0 {
			side, n.free = n.free[k-1], n.free[:k-1]
		} else {
			side = &narrSide{}
		}
		n.sides[from] = side
	}
	// What its ACK says, when it says something new (or it is nothing else).
	if f&flagACK != 0 && f&flagRST == 0 {
		switch {
		case !side.acked || p.RAck != side.lastAck:
			n.ackSentence(p, f, to, side)
		case f&(flagSYN|flagFIN) == 0 && p.Len == 0 && len(p.Analysis) == 0:
			t.SayPhrase(kAckRepeat, v)
		}
		side.lastAck, side.acked = p.RAck, true
	}

	// Wireshark's analysis.
	for _, name := range p.Analysis {
		if name == trace.AnalysisReset {
			continue
		}
		if name == trace.AnalysisRetransmission && hasFlag(p, trace.AnalysisFastRetransmission) {
			continue
		}
		t.Say(flagKey(name), v)
	}

	n.by(p)
	segs := append(side.segs, sentSeg{p: p, seq: p.RSeq, end: end, flags: f})
	if len(segs) > maxNarratedSegs {
		// A long connection: ACKs name recent segments, not the oldest.
		segs = append(segs[:0:0], segs[len(segs)-maxNarratedSegs/2:]...)
	}
	side.segs = segs
	n.lastPkt[p.Conn] = p
}

// flagKeys are the phrases of the analysis flags, "flag." + name, made
// once rather than for every flagged packet.
var flagKeys = func() map[string]string {
	m := map[string]string{}
	for _, n := range analysisNames {
		m[n.name] = "flag." + n.name
	}
	return m
}()

// flagKey is the phrase of an analysis flag.
func flagKey(name string) string {
	if k, ok := flagKeys[name]; ok {
		return k
	}
	return "flag." + name
}

// forget drops what is remembered of sender k once its connection is
// gone, and keeps the memory for the next sender.
func (n *narrator) forget(k sockKey) {
	side := n.sides[k]
	if side == nil {
		return
	}
	delete(n.sides, k)
	if len(n.free) >= maxFreeSides || cap(side.segs) > maxFreeSegs {
		return
	}
	clear(side.segs) // the packets may go
	*side = narrSide{segs: side.segs[:0]}
	n.free = append(n.free, side)
}

// The memory forget keeps: the senders, and the segments of each.
const (
	maxFreeSides = 256
	maxFreeSegs  = 1024
)

// maxNarratedSegs bounds the segments remembered per sender.
const maxNarratedSegs = 1 << 14

// established reports whether a SYN-ACK has been seen on the connection.
func (n *narrator) established(conn int) bool {
	ci := n.a.conns.get(conn)
	return ci != nil && (ci.sawSYNACK || !ci.sawSYN)
}

// ackSentence says into n.t what the ACK number of p (whose values are in
// n.v) acknowledges: which of the peer's segments, with the arithmetic;
// from is what is remembered of p's sender.
func (n *narrator) ackSentence(p *trace.Packet, f byte, peer sockKey, from *narrSide) {
	v, t := &n.v, &n.t
	var segs []sentSeg
	if ps := n.sides[peer]; ps != nil {
		segs = ps.segs
	}
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		if s.end != p.RAck || s.end == s.seq {
			continue // not this one, or one that takes no sequence space
		}
		v.Int(phPseq, int64(s.seq))
		v.Int(phPlen, int64(s.p.Len))
		switch {
		case s.flags&flagFIN != 0 && f&flagFIN != 0 && !(from.acked && from.lastAck == p.RAck):
			v.Int(phPseq, int64(s.end-1))
			t.SayPhrase(kAckFinDelayed, v)
		case s.flags&flagFIN != 0 && s.p.Len > 0:
			t.SayPhrase(kAckDataFin, v)
		case s.flags&flagFIN != 0:
			v.Int(phPseq, int64(s.end-1))
			t.SayPhrase(kAckFin, v)
		case s.flags&flagSYN != 0 && f&flagSYN != 0:
			// the SYN-ACK's own sentence says it
		case s.flags&flagSYN != 0:
			t.SayPhrase(kAckSyn, v)
		default:
			t.SayPhrase(kAckData, v)
		}
		// The packet's other sentences see its own values only.
		v.Del(phPseq)
		v.Del(phPlen)
		return
	}
	t.SayPhrase(kAckCumulative, v)
}

// by says into n.t who put the packet on the wire.
func (n *narrator) by(p *trace.Packet) {
	switch p.By {
	case trace.ByCall:
		for _, id := range p.Calls {
			c := n.a.callByID[id]
			if c == nil || n.a.loc(c) != p.Src {
				continue
			}
			switch c.Op {
			case trace.OpSend, trace.OpSendto, trace.OpConnect, trace.OpClose, trace.OpShutdown:
				v := &n.bv
				v.Reset()
				v.Int(phID, int64(c.ID))
				v.Str(phOp, string(c.Op))
				v.Str(phWho, narrate.Role(n.l, c.Lane))
				n.t.SayPhrase(kByCall, v)
				return
			}
		}
	case trace.ByKernel:
		if resent(p) {
			n.t.SayPhrase(kByKernelResent, nil)
			return
		}
		n.t.SayPhrase(kByKernel, nil)
	}
}

// state narrates a state change; next is the event after it, to tell a
// state that lasted no time.
func (n *narrator) state(s *trace.StateChange, next *trace.StateChange) string {
	v, t := &n.v, &n.t
	v.Reset()
	t.Reset(n.l)
	v.Str(phEp, n.name(s.Conn, s.Endpoint))
	v.Str(phFrom, string(s.From))
	v.Str(phTo, string(s.To))
	if s.Source == trace.SourceKernel {
		t.SayPhrase(kStateKernel, v)
		if s.TimeLeft > 0 {
			v.Str(phLeft, fmt.Sprintf("%.1f", s.TimeLeft.Seconds()))
			t.SayPhrase(kStateKernelTimer, v)
		}
		return t.String()
	}
	p := n.lastPkt[s.Conn]
	rst := p != nil && flagBits(p.Flags)&flagRST != 0 && p.Time.Equal(s.Time)
	k := statePhrase(s.To)
	switch {
	case s.To == trace.StateClosed && s.From == trace.StateSynSent && rst:
		k = kStateClosedRefused
	case s.To == trace.StateClosed && rst:
		k = kStateClosedReset
	case s.To == trace.StateClosed && s.From == trace.StateLastAck:
		k = kStateClosedLastack
	case s.To == trace.StateFinWait2 && next != nil && next.Endpoint == s.Endpoint && next.Conn == s.Conn &&
		next.Time.Equal(s.Time) && next.From == trace.StateFinWait2:
		k = kStateFinWait2Passing
	case s.To == trace.StateTimeWait && s.From == trace.StateClosing:
		k = kStateTimeWaitClosing
	case s.To == trace.StateSynRecv && s.From == trace.StateSynSent:
		k = kStateSynRecvSimultaneous
	case k == nil:
		key := "state." + string(s.To)
		if !narrate.Has(narrate.English, key) {
			key = "state.other"
		}
		t.Say(key, v)
		return t.String()
	}
	t.SayPhrase(k, v)
	return t.String()
}

// statePhrase is the phrase of a state the catalogue names ("state." and
// its name), nil for another.
func statePhrase(to trace.State) *narrate.Phrase {
	switch to {
	case trace.StateSynSent:
		return kStateSynSent
	case trace.StateSynRecv:
		return kStateSynRecv
	case trace.StateEstablished:
		return kStateEstablished
	case trace.StateFinWait1:
		return kStateFinWait1
	case trace.StateFinWait2:
		return kStateFinWait2
	case trace.StateCloseWait:
		return kStateCloseWait
	case trace.StateLastAck:
		return kStateLastAck
	case trace.StateClosing:
		return kStateClosing
	case trace.StateTimeWait:
		return kStateTimeWait
	case trace.StateClosed:
		return kStateClosed
	case trace.StateListen:
		return kStateListen
	}
	return nil
}

// call narrates a socket call with the packets tied to it.
func (n *narrator) call(c *trace.Call) string {
	if c.Inferred != "" {
		return n.inferredCall(c)
	}
	args := narrate.Args{"fd": c.FD, "ret": c.Ret, "op": string(c.Op), "local": c.Local.String(), "remote": c.Remote.String(),
		"n": c.Ret, "len": c.Len, "type": c.Type, "backlog": c.Backlog, "how": c.How, "option": c.Option,
		"errno": c.Errno, "frames": frameList(n.l, c.Frames), "who": narrate.Role(n.l, c.Lane)}
	if c.HasBytes() {
		args["first"], args["last"], args["end"] = c.Bytes[0], c.Bytes[1]-1, c.Bytes[1]
	}
	if !c.End.IsZero() {
		args["dur"] = formatDur(c.End.Sub(c.Start))
	}
	frameOf := func(pred func(byte) bool) (int, bool) {
		for _, f := range c.Frames {
			if p := n.a.byFrame[f]; p != nil && pred(flagBits(p.Flags)) {
				return f, true
			}
		}
		return 0, false
	}
	if c.Errno != "" {
		switch {
		case c.Op == trace.OpConnect && c.Errno == "ECONNREFUSED":
			if f, ok := frameOf(func(b byte) bool { return b&flagRST != 0 }); ok {
				args["rst"] = f
				return n.say("call.connect.refused", args)
			}
		case c.Errno == "ECONNREFUSED" && len(c.Frames) > 0:
			return n.say("call.udp.refused", args)
		}
		if c.Errno == "EAGAIN" && c.Proto == "udp" {
			return n.say("call.errno.timeout.udp", args)
		}
		return n.say("call.errno", args)
	}
	switch c.Op {
	case trace.OpSocket:
		return n.say("call.socket", args)
	case trace.OpBind:
		return n.say("call.bind", args)
	case trace.OpListen:
		return n.say("call.listen", args)
	case trace.OpSetsockopt:
		return n.say("call.setsockopt", args)
	case trace.OpAccept:
		done, ok := n.a.accepted[c.ID]
		switch {
		case !ok:
			return n.say("call.accept", args)
		case done.Before(c.Start):
			args["wait"] = formatDur(c.Start.Sub(done))
			return n.say("call.accept.queued", args)
		default:
			return n.say("call.accept.waited", args)
		}
	case trace.OpConnect:
		if f, ok := frameOf(func(b byte) bool { return b&flagSYN != 0 }); ok && c.Proto != "udp" {
			args["syn"] = f
			return n.say("call.connect", args)
		}
		if c.Proto == "udp" {
			return n.say("call.connect.udp", args)
		}
		return n.say("call.generic", args)
	case trace.OpSend, trace.OpSendto:
		switch {
		case c.Proto == "udp" && len(c.Frames) > 0:
			var dgrams, icmps []int
			for _, f := range c.Frames {
				if p := n.a.byFrame[f]; p != nil && p.Proto == "udp" {
					dgrams = append(dgrams, f)
				} else {
					icmps = append(icmps, f)
				}
			}
			args["frames"] = frameList(n.l, dgrams)
			s := n.say("call.sendto", args)
			if len(icmps) > 0 {
				s = narrate.Join(n.l, s, n.say("call.sendto.unreachable", narrate.Args{"icmp": frameList(n.l, icmps)}))
			}
			return s
		case c.HasBytes() && len(c.Frames) > 0:
			return n.say("call.send", args)
		}
		if c.Proto == "udp" {
			return n.say("call.sendto.untied", args)
		}
		return n.say("call.send.untied", args)
	case trace.OpRecv, trace.OpRecvfrom:
		switch {
		case c.Proto == "udp" && len(c.Frames) > 0:
			if p := n.a.byFrame[c.Frames[0]]; p != nil && p.Proto == "udp" && p.Len > c.Ret {
				args["plen"] = p.Len
				return n.say("call.recvfrom.truncated", args)
			}
			return n.say("call.recvfrom", args)
		case c.Ret == 0 && c.Proto != "udp":
			if f, ok := frameOf(func(b byte) bool { return b&flagFIN != 0 }); ok {
				args["fin"] = f
				return n.say("call.recv.eof", args)
			}
			return n.say("call.recv.eof.untied", args)
		case c.HasBytes() && len(c.Frames) > 0:
			return n.say("call.recv", args)
		}
		return n.say("call.recv.untied", args)
	case trace.OpClose, trace.OpShutdown:
		if c.Op == trace.OpShutdown && c.How == "SHUT_RD" {
			return n.say("call.shutdown.rd", args)
		}
		if f, ok := frameOf(func(b byte) bool { return b&flagRST != 0 }); ok {
			args["rst"] = f
			return n.say("call.close.rst", args)
		}
		if f, ok := frameOf(func(b byte) bool { return b&flagFIN != 0 }); ok {
			args["fin"] = f
			if c.Op == trace.OpShutdown {
				return n.say("call.shutdown", args)
			}
			return n.say("call.close", args)
		}
		if c.Op == trace.OpClose && !c.Remote.IsValid() && c.Proto != "udp" && c.Local.IsValid() && n.listened(c) {
			return n.say("call.close.listener", args)
		}
		return n.say("call.close.quiet", args)
	}
	return n.say("call.generic", args)
}

// listened reports whether the socket of c listened.
func (n *narrator) listened(c *trace.Call) bool {
	for _, o := range n.a.allCalls {
		if o.Op == trace.OpListen && o.Lane == c.Lane && o.FD == c.FD && o.ID < c.ID {
			return true
		}
	}
	return false
}

func (n *narrator) note(no *trace.Note) string {
	switch {
	case no.Topic == trace.TopicSummary:
		return n.say("note.summary", nil)
	case no.Topic == trace.TopicKernelDisagrees:
		return n.say("note.kernel-disagrees.explain", nil)
	case strings.HasPrefix(no.Text, "capture:"):
		return n.say("note.capture", nil)
	}
	return n.say("note.other", narrate.Args{"text": no.Text})
}

// formatDur renders a duration compactly: "12µs", "1.4ms", "2.05s".
func formatDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// ExplainNote narrates a note added after Annotate ran (the capture's
// summary, a failed scenario) in lang.
func ExplainNote(n *trace.Note, lang narrate.Lang) string {
	if lang == "" {
		lang = narrate.English
	}
	nr := &narrator{a: &annotator{lang: lang}, l: lang}
	return nr.note(n)
}
