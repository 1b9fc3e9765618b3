package decode

import (
	"github.com/sockscope/sockscope/decode/narrate"
	"github.com/sockscope/sockscope/trace"
)

// summaries returns one note per connection or flow, at its last packet,
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
func (a *annotator) summaries() []trace.Event {
	var out []trace.Event
	for _, id := range a.connIDs {
		ci := a.conns[id]
		if len(ci.pkts) == 0 {
			continue
		}
		var text string
		if ci.proto == "tcp" {
			text = a.tcpSummary(ci)
		} else {
			text = a.flowSummary(ci)
		}
		last := ci.pkts[len(ci.pkts)-1].Time
		out = append(out, trace.NoteEvent(&trace.Note{Time: last, Level: "info", Text: text, Topic: trace.TopicSummary, Conn: id}))
	}
	return out
}

func (a *annotator) tcpSummary(ci *connInfo) string {
	var (
		synack, established bool
		syns                int
		rst                 *trace.Packet
		fins                []trace.Endpoint
		afterFIN            int // bytes the second closer sent after the first FIN
		bytes               = map[trace.Endpoint]int{}
	)
	for _, p := range ci.pkts {
		f := flagBits(p.Flags)
		switch {
		case f&flagSYN != 0 && f&flagACK == 0:
			syns++
		case f&flagSYN != 0:
			synack = true
		}
		if f&flagACK != 0 && f&flagSYN == 0 && p.Src == ci.client && synack {
			established = true
		}
		if !ci.sawSYN && f&flagSYN == 0 {
			established = true
		}
		if f&flagRST != 0 && rst == nil {
			rst = p
		}
		if p.Len > 0 && !resent(p) {
			bytes[p.Src] += p.Len
			if len(fins) == 1 && p.Src != fins[0] {
				afterFIN += p.Len
			}
		}
		if f&flagFIN != 0 && !resent(p) && !containsEp(fins, p.Src) {
			fins = append(fins, p.Src)
		}
	}
	simultaneous := false
	for _, ep := range []trace.Endpoint{ci.client, ci.server} {
		for _, tr := range a.inferred[sockKey{ci.id, ep}] {
			if tr.to == trace.StateClosing {
				simultaneous = true
			}
		}
	}
	args := narrate.Args{
		"id": ci.id, "client": a.epName(ci.id, ci.client), "server": a.epName(ci.id, ci.server),
		"caddr": ci.client.String(), "saddr": ci.server.String(),
		"cb": bytes[ci.client], "sb": bytes[ci.server], "n": syns,
	}
	var key string
	switch {
	case rst != nil && !synack && ci.sawSYN:
		key = "summary.refused"
	case ci.sawSYN && !synack:
		key = "summary.noanswer"
	case rst != nil:
		args["who"] = a.epName(ci.id, rst.Src)
		key = "summary.reset"
	case len(fins) == 2 && simultaneous:
		key = "summary.simultaneous"
	case len(fins) == 2 && afterFIN > 0:
		args["first"], args["second"], args["m"] = a.epName(ci.id, fins[0]), a.epName(ci.id, fins[1]), afterFIN
		key = "summary.halfclose"
	case len(fins) == 2:
		args["first"] = a.epName(ci.id, fins[0])
		key = "summary.normal"
	case len(fins) == 1:
		other := ci.client
		if fins[0] == ci.client {
			other = ci.server
		}
		args["first"], args["second"], args["m"] = a.epName(ci.id, fins[0]), a.epName(ci.id, other), afterFIN
		key = "summary.halfopen"
	default:
		key = "summary.open"
	}
	if !established && key != "summary.refused" && key != "summary.noanswer" && synack {
		key = "summary.nohandshake"
	}
	text := narrate.Say(a.lang, key, args)
	if !ci.sawSYN {
		text = narrate.Join(a.lang, text, narrate.Say(a.lang, "summary.midstream", args))
	}
	return text
}

func containsEp(s []trace.Endpoint, e trace.Endpoint) bool {
	for _, x := range s {
		if x == e {
			return true
		}
	}
	return false
}

func (a *annotator) flowSummary(ci *connInfo) string {
	n := map[trace.Endpoint]int{}
	for _, p := range ci.pkts {
		n[p.Src]++
	}
	args := narrate.Args{
		"id": ci.id, "client": a.epName(ci.id, ci.client), "server": a.epName(ci.id, ci.server),
		"cn": n[ci.client], "sn": n[ci.server], "proto": ci.proto,
	}
	text := narrate.Say(a.lang, "summary.udp", args)
	for _, p := range a.packets {
		if p.Proto != "icmp" && p.Proto != "icmp6" {
			continue
		}
		if src, dst, ok := quotedTuple(p.Info); ok && src == ci.client && dst == ci.server {
			text = narrate.Join(a.lang, text, narrate.Say(a.lang, "summary.udp.unreachable", args))
			break
		}
	}
	return text
}
