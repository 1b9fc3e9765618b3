package decode

import (
	"github.com/sockscope/sockscope/decode/narrate"
	"github.com/sockscope/sockscope/trace"
)

// appendSummaries appends to out one note per connection or flow, at its last packet,
// telling its story in plain words (Topic trace.TopicSummary):
//
//   - "refused": the SYN was answered by a RST;
//   - "no answer": SYNs and nothing back;
//   - "reset by the server": a RST after the handshake, and who sent it;
//   - "normal open and close, the client closed first", or a simultaneous
//     close when the FINs crossed;
//   - "half-closed by the client": the other side sent data after the first
//     FIN (and closed later, or not before the capture ended);
//   - "still open" when the capture ended first; "mid-connection" when it
//     began after the handshake;
//   - for UDP, how many datagrams went each way.
func (a *annotator) appendSummaries(out []trace.Event, conns []*connInfo) []trace.Event {
	for _, ci := range conns {
		if ci.npkts == 0 {
			continue
		}
		var text string
		if ci.proto == "tcp" {
			text = a.tcpSummary(ci)
		} else {
			text = a.flowSummary(ci)
		}
		out = append(out, trace.NoteEvent(&trace.Note{Time: ci.last, Level: "info", Text: text, Topic: trace.TopicSummary, Conn: ci.id}))
	}
	return out
}

// summaryAcc is what a summary needs of a connection's packets, gathered
// packet by packet so that a Stream needs not keep them.
type summaryAcc struct {
	synack, established bool
	syns                int
	rst                 bool
	rstSrc              trace.Endpoint    // the sender of the first RST
	finBy               [2]trace.Endpoint // the senders of FINs, first first
	nfins               int
	afterFIN            int    // bytes the second closer sent after the first FIN
	bytes               [2]int // TCP: payload bytes sent by the client, the server
	count               [2]int // UDP: datagrams sent by the client, the server
	closing             bool   // an end went through CLOSING: the FINs crossed
	unreachable         bool   // UDP: an ICMP error answered a client's datagram
}

// add counts into n[0] (the client) and n[1] (the server) what ep sent.
func (ci *connInfo) add(n *[2]int, ep trace.Endpoint, v int) {
	if ep == ci.client {
		n[0] += v
	}
	if ep == ci.server {
		n[1] += v
	}
}

// accumulate adds this piece's packets to their connections' summaries,
// once the analysis flags are set.
func (a *annotator) accumulate() {
	for _, ci := range a.touched {
		for _, p := range ci.pkts {
			ci.count(p)
		}
	}
	for _, p := range a.packets {
		a.countUnreachable(p)
	}
}

// count adds one packet of the connection to its summary, once its
// analysis flags are set.
func (ci *connInfo) count(p *trace.Packet) {
	acc := &ci.sum
	if ci.proto != "tcp" {
		ci.add(&acc.count, p.Src, 1)
		return
	}
	f := flagBits(p.Flags)
	switch {
	case f&flagSYN != 0 && f&flagACK == 0:
		acc.syns++
	case f&flagSYN != 0:
		acc.synack = true
	}
	if f&flagACK != 0 && f&flagSYN == 0 && p.Src == ci.client && acc.synack {
		acc.established = true
	}
	if !ci.sawSYN && f&flagSYN == 0 {
		acc.established = true
	}
	if f&flagRST != 0 && !acc.rst {
		acc.rst, acc.rstSrc = true, p.Src
	}
	if p.Len > 0 && !resent(p) {
		ci.add(&acc.bytes, p.Src, p.Len)
		if acc.nfins == 1 && p.Src != acc.finBy[0] {
			acc.afterFIN += p.Len
		}
	}
	if f&flagFIN != 0 && !resent(p) && acc.nfins < len(acc.finBy) && !containsEp(acc.finBy[:acc.nfins], p.Src) {
		acc.finBy[acc.nfins] = p.Src
		acc.nfins++
	}
}

// countUnreachable marks the UDP flow an ICMP error packet answers.
func (a *annotator) countUnreachable(p *trace.Packet) {
	if p.Proto != "icmp" && p.Proto != "icmp6" {
		return
	}
	if src, dst, ok := quotedTuple(p.Info); ok {
		for ci := a.byTuple[keyOf(false, src, dst)]; ci != nil; ci = ci.sameTuple {
			if ci.client == src && ci.server == dst {
				ci.sum.unreachable = true
			}
		}
	}
}

func (a *annotator) tcpSummary(ci *connInfo) string {
	acc := &ci.sum
	var (
		synack, established = acc.synack, acc.established
		syns                = acc.syns
		fins                = acc.finBy[:acc.nfins]
		afterFIN            = acc.afterFIN
		simultaneous        = acc.closing
	)
	args, t := a.summaryArgs(ci)
	args.Int(phCb, int64(acc.bytes[0]))
	args.Int(phSb, int64(acc.bytes[1]))
	args.Int(phN, int64(syns))
	var key string
	switch {
	case acc.rst && !synack && ci.sawSYN:
		args.Addr(phSaddr, ci.server)
		key = "summary.refused"
	case ci.sawSYN && !synack:
		key = "summary.noanswer"
	case acc.rst:
		args.Str(phWho, a.epName(ci.id, acc.rstSrc))
		key = "summary.reset"
	case len(fins) == 2 && simultaneous:
		key = "summary.simultaneous"
	case len(fins) == 2 && afterFIN > 0:
		args.Str(phFirst, a.epName(ci.id, fins[0]))
		args.Str(phSecond, a.epName(ci.id, fins[1]))
		args.Int(phM, int64(afterFIN))
		key = "summary.halfclose"
	case len(fins) == 2:
		args.Str(phFirst, a.epName(ci.id, fins[0]))
		key = "summary.normal"
	case len(fins) == 1:
		other := ci.client
		if fins[0] == ci.client {
			other = ci.server
		}
		args.Str(phFirst, a.epName(ci.id, fins[0]))
		args.Str(phSecond, a.epName(ci.id, other))
		args.Int(phM, int64(afterFIN))
		key = "summary.halfopen"
	default:
		key = "summary.open"
	}
	if !established && key != "summary.refused" && key != "summary.noanswer" && synack {
		key = "summary.nohandshake"
	}
	t.Say(key, args)
	if !ci.sawSYN {
		t.SayPhrase(kSummaryMidstream, args)
	}
	return t.String()
}

// The placeholders of the summaries.
var (
	phClient, phServer, phCb, phSb = narrate.Placeholder("client"), narrate.Placeholder("server"), narrate.Placeholder("cb"), narrate.Placeholder("sb")
	phN, phSaddr, phSecond, phM    = narrate.Placeholder("n"), narrate.Placeholder("saddr"), narrate.Placeholder("second"), narrate.Placeholder("m")
	phCn, phSn, phProto            = narrate.Placeholder("cn"), narrate.Placeholder("sn"), narrate.Placeholder("proto")
)

func containsEp(s []trace.Endpoint, e trace.Endpoint) bool {
	for _, x := range s {
		if x == e {
			return true
		}
	}
	return false
}

// summaryArgs readies the narrator's values and text, reused (a Stream
// writes one summary per connection), with what every summary names: the
// connection and its two ends.
func (a *annotator) summaryArgs(ci *connInfo) (*narrate.Vals, *narrate.Text) {
	args, t := &a.narr.v, &a.narr.t
	args.Reset()
	t.Reset(a.lang)
	args.Int(phID, int64(ci.id))
	args.Str(phClient, a.epName(ci.id, ci.client))
	args.Str(phServer, a.epName(ci.id, ci.server))
	return args, t
}

func (a *annotator) flowSummary(ci *connInfo) string {
	args, t := a.summaryArgs(ci)
	args.Int(phCn, int64(ci.sum.count[0]))
	args.Int(phSn, int64(ci.sum.count[1]))
	args.Str(phProto, ci.proto)
	t.SayPhrase(kSummaryUdp, args)
	if ci.sum.unreachable {
		t.SayPhrase(kSummaryUdpUnreachable, args)
	}
	return t.String()
}
