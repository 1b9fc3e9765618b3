package decode

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// Analysis flags, as Wireshark 4.0's tcp_analyze_sequence_number sets them
// (epan/dissectors/packet-tcp.c), on relative sequence numbers, where 0
// means "not seen yet" exactly as it does there. Each direction of a
// connection keeps what Wireshark keeps: the next expected sequence number
// and when it was reached, the last ACK and when it was sent, the last
// window (scaled), the count of duplicate ACKs in a row and the flags of
// the last segment.

// flow is one direction of a connection, for the analysis.
type flow struct {
	nextSeq     uint32
	nextSeqTime time.Time
	lastAck     uint32
	lastAckTime time.Time
	window      int64
	winScale    int // -1 until the SYN says
	dupAcks     int
	lastFlags   uint16
}

// Internal analysis bits, some of which Wireshark uses only to decide others.
const (
	aRetrans uint16 = 1 << iota
	aFastRetrans
	aSpurious
	aDupAck
	aOutOfOrder
	aLost
	aZeroWindow
	aWindowUpdate
	aKeepAlive
	aKeepAliveAck
	aZeroWindowProbe
	aZeroWindowProbeAck
	aReset
)

// analysisNames lists the flags a Packet carries, in this order.
var analysisNames = []struct {
	bit  uint16
	name string
}{
	{aRetrans, trace.AnalysisRetransmission},
	{aFastRetrans, trace.AnalysisFastRetransmission},
	{aOutOfOrder, trace.AnalysisOutOfOrder},
	{aLost, trace.AnalysisLostSegment},
	{aDupAck, trace.AnalysisDupAck},
	{aZeroWindow, trace.AnalysisZeroWindow},
	{aWindowUpdate, trace.AnalysisWindowUpdate},
	{aKeepAlive, trace.AnalysisKeepAlive},
	{aKeepAliveAck, trace.AnalysisKeepAliveAck},
	{aReset, trace.AnalysisReset},
}

// connAnalysis is what the analysis keeps per TCP connection.
type connAnalysis struct {
	flows    [2]flow
	addr     [2]trace.Endpoint // the sender of flows[i]
	wscale   [2]int            // each side's SYN wscale, -1 none seen
	synTime  time.Time         // the latest SYN without ACK (Wireshark's ts_mru_syn)
	firstRTT time.Duration     // Wireshark's ts_first_rtt, 0 until known
}

// analyzeTCP sets Analysis on every TCP packet, in frame order.
func analyzeTCP(pkts []*trace.Packet) {
	sorted := append([]*trace.Packet(nil), pkts...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Frame < sorted[j].Frame })
	analyzeWith(sorted, &connTable[connAnalysis]{})
}

// analyzeTCP sets Analysis on the TCP packets of the piece (a.packets is in
// frame order), each connection's analysis going on from the last piece.
func (a *annotator) analyzeTCP() { analyzeWith(a.packets, &a.analysis) }

// analyzeWith sets Analysis on the TCP packets of sorted, in frame order,
// with the state of each connection's analysis kept in conns.
func analyzeWith(sorted []*trace.Packet, conns *connTable[connAnalysis]) {
	for _, p := range sorted {
		analyzePacket(p, conns)
	}
}

// analyzePacket sets Analysis on one TCP packet, the next of its
// connection in frame order.
func analyzePacket(p *trace.Packet, conns *connTable[connAnalysis]) {
	if p.Proto != "tcp" || p.Conn == 0 || p.Error != "" && p.Flags == "" {
		return
	}
	ca := conns.get(p.Conn)
	if ca == nil {
		ca = conns.take()
		*ca = connAnalysis{addr: [2]trace.Endpoint{p.Src, p.Dst}, wscale: [2]int{-1, -1}}
		ca.flows[0].winScale, ca.flows[1].winScale = -1, -1
		conns.put(p.Conn, ca)
	}
	from := 0
	if p.Src != ca.addr[0] {
		from = 1
	}
	bits := ca.analyze(p, from)
	p.Analysis = nil
	if bits != 0 {
		p.Analysis = analysisList(bits)
	}
}

// analysisLists caches the flag lists of each bit set: packets share them
// (and must not modify them).
var analysisLists sync.Map // uint16 → []string

func analysisList(bits uint16) []string {
	if v, ok := analysisLists.Load(bits); ok {
		return v.([]string)
	}
	var l []string
	for _, n := range analysisNames {
		if bits&n.bit != 0 {
			l = append(l, n.name)
		}
	}
	if len(l) == 0 {
		l = nil
	}
	l = l[:len(l):len(l)]
	analysisLists.Store(bits, l)
	return l
}

// wscaleOf reads "wscale N" from tcpdump-style options; -1 when absent.
func wscaleOf(opts string) int {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if v, ok := strings.CutPrefix(o, "wscale "); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return min(n, 14)
			}
		}
	}
	return -1
}

// analyze runs Wireshark's checks for one segment sent by side from.
func (ca *connAnalysis) analyze(p *trace.Packet, from int) uint16 {
	flags := flagBits(p.Flags)
	syn, fin, rst, ack := flags&flagSYN != 0, flags&flagFIN != 0, flags&flagRST != 0, flags&flagACK != 0
	fwd, rev := &ca.flows[from], &ca.flows[1-from]
	t := p.Time

	// Window scaling, as Wireshark learns it from the SYNs.
	if syn {
		ca.wscale[from] = wscaleOf(p.Options)
		if ack {
			// The SYN-ACK settles it: scaling holds when both offered it.
			for i := range ca.flows {
				if ca.wscale[0] >= 0 && ca.wscale[1] >= 0 {
					ca.flows[i].winScale = ca.wscale[i]
				} else {
					ca.flows[i].winScale = -2
				}
			}
		}
	}
	window := int64(p.Win)
	if !syn && fwd.winScale >= 0 {
		window <<= fwd.winScale
	}
	// The initial RTT: from the SYN to the ACK of the SYN-ACK.
	if syn && !ack {
		ca.synTime = t
	}
	if ack && !syn && !ca.synTime.IsZero() && ca.firstRTT == 0 {
		ca.firstRTT = t.Sub(ca.synTime)
	}

	seq, ackNo := p.RSeq, p.RAck
	if !ack {
		ackNo = p.Ack // Wireshark leaves the field as it is when ACK is off
	}
	seglen := uint32(max(p.Len, 0))
	var bits uint16
	if rst {
		bits |= aReset
	}
	noSFR := !syn && !fin && !rst

	func() {
		if seglen == 1 && seq == fwd.nextSeq && rev.window == 0 {
			bits |= aZeroWindowProbe
			return
		}
		if window == 0 && noSFR {
			bits |= aZeroWindow
		}
		if fwd.nextSeq != 0 && seq32(seq).after(fwd.nextSeq) && !rst {
			bits |= aLost
		}
		if seglen <= 1 && seq == fwd.nextSeq-1 && noSFR {
			bits |= aKeepAlive
		}
		sameSeqAck := seglen == 0 && seq == fwd.nextSeq && ackNo == fwd.lastAck && noSFR
		if sameSeqAck && window != 0 && window != fwd.window {
			bits |= aWindowUpdate
		}
		if sameSeqAck && window != 0 && window == fwd.window && rev.lastFlags&aKeepAlive != 0 {
			bits |= aKeepAliveAck
			return
		}
		if sameSeqAck && window == 0 && window == fwd.window && rev.lastFlags&aZeroWindowProbe != 0 {
			bits |= aZeroWindowProbeAck
			return
		}
		if sameSeqAck && window != 0 && window == fwd.window && fwd.nextSeq != 0 && fwd.lastAck != 0 {
			fwd.dupAcks++
			bits |= aDupAck
		}
	}()
	if bits&aDupAck == 0 {
		fwd.dupAcks = 0
	}

	if (seglen > 0 || syn || fin) && bits&aKeepAlive == 0 {
		notAdvanced := fwd.nextSeq != 0 && seq32(seq).before(fwd.nextSeq)
		thres := 3 * time.Millisecond
		if ca.firstRTT != 0 {
			thres = ca.firstRTT
		}
		switch {
		case notAdvanced && rev.dupAcks >= 2 && rev.lastAck == seq && t.Sub(rev.lastAckTime) < 20*time.Millisecond:
			bits |= aFastRetrans | aRetrans
		case notAdvanced && t.Sub(fwd.nextSeqTime) < thres && fwd.nextSeq != seq+seglen:
			bits |= aOutOfOrder
		case seglen > 0 && rev.lastAck != 0 && seq32(seq+seglen).atOrBefore(rev.lastAck):
			bits |= aSpurious | aRetrans
		case notAdvanced:
			bits |= aRetrans
		}
	}

	next := seq + seglen
	if seglen > 0 || syn || fin {
		if syn || fin {
			next++
		}
	}
	if (seq32(next).after(fwd.nextSeq) || fwd.nextSeq == 0) && bits&aZeroWindowProbe == 0 {
		fwd.nextSeq, fwd.nextSeqTime = next, t
	}
	fwd.window = window
	fwd.lastAck, fwd.lastAckTime = ackNo, t
	fwd.lastFlags = bits
	return bits
}

// seq32 compares relative sequence numbers as Wireshark's GT_SEQ/LT_SEQ do.
type seq32 uint32

func (s seq32) after(o uint32) bool      { return int32(uint32(s)-o) > 0 }
func (s seq32) before(o uint32) bool     { return int32(uint32(s)-o) < 0 }
func (s seq32) atOrBefore(o uint32) bool { return int32(uint32(s)-o) <= 0 }

// flagBits turns tcpdump's notation back into flag bits.
func flagBits(s string) byte {
	switch s { // the common ones first, without a scan
	case ".":
		return flagACK
	case "P.":
		return flagPSH | flagACK
	case "S":
		return flagSYN
	case "S.":
		return flagSYN | flagACK
	case "F.":
		return flagFIN | flagACK
	case "FP.":
		return flagFIN | flagPSH | flagACK
	case "R":
		return flagRST
	case "R.":
		return flagRST | flagACK
	case "":
		return 0
	}
	var b byte
	for _, f := range flagLetters {
		if strings.IndexByte(s, f.letter) >= 0 {
			b |= f.bit
		}
	}
	return b
}
