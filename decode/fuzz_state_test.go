package decode

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// FuzzTCPStates feeds the decoder arbitrary sequences of segments on one
// 4-tuple (127.0.0.1:40000 ⇄ 127.0.0.1:12345) and checks the TCP state
// machine's invariants after every segment:
//
//   - it never panics, and every packet gets a connection;
//   - states are Linux's (tcp_states.h), and no transition goes from a
//     state to itself;
//   - every transition is one Linux makes, caused by a segment in the right
//     direction with the right flags (legalTransition): CLOSED only by a RST
//     or the ACK of a LAST_ACK end's FIN, TIME_WAIT only from FIN_WAIT2 (a
//     FIN received) or CLOSING (the ACK of our FIN received);
//   - the transitions of an endpoint chain (each From is the previous To)
//     and end in the state Decoder.State reports (but for the one silent
//     correction the decoder documents: an end assumed LISTEN that sends a
//     RST never listened, and is CLOSED without a transition);
//   - a new connection on the tuple starts only with a SYN;
//   - relative numbers are consistent: per connection and direction, seq −
//     rseq and (in the other direction's ACKs) ack − rack are one constant,
//     and the first relative number of a direction is 0 for a SYN and 1
//     otherwise, as Wireshark counts;
//   - Annotate takes the whole timeline without panicking.
//
// The input is decoded by stateFuzzSegments: 8 bytes of initial sequence
// numbers, then 4 bytes per segment (direction and flags, a seq and an ack
// offset from what each end has sent so far, a payload length), so that
// the fuzzer mostly produces segments a TCP could send, plus the odd one
// far off.
func FuzzTCPStates(f *testing.F) {
	for _, seed := range stateFuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkStateMachine(t, stateFuzzSegments(in))
	})
}

// fuzzSeg is one segment of a state fuzz input, with absolute numbers.
type fuzzSeg struct {
	fromServer bool
	flags      byte
	seq, ack   uint32
	len        int
}

// stateFuzzMaxSegs bounds a fuzz input, so that each execution stays fast.
const stateFuzzMaxSegs = 64

// stateFuzzSegments decodes a fuzz input into segments. Each segment is
// four bytes:
//
//	b0: bit 7 = sent by the server; bits 0–4 = FIN, SYN, RST, PSH, ACK;
//	    bit 5 = URG; bit 6 = take seq and ack as raw offsets from the ISNs
//	b1: seq as a signed offset from the sender's next sequence number
//	b2: ack as a signed offset from the receiver's next sequence number
//	b3: payload length
//
// "Next" is how far each end's sequence space has been sent so far,
// starting at its ISN (the input's first 8 bytes, big-endian client then
// server), so that small offsets make in-order, retransmitted and
// overlapping segments.
func stateFuzzSegments(in []byte) []fuzzSeg {
	iss := [2]uint32{0xfffffff0, 1000} // the client's wraps early
	if len(in) >= 8 {
		iss[0], iss[1] = binary.BigEndian.Uint32(in), binary.BigEndian.Uint32(in[4:])
		in = in[8:]
	}
	next := iss
	var segs []fuzzSeg
	for len(in) >= 4 && len(segs) < stateFuzzMaxSegs {
		b0, b1, b2, b3 := in[0], int8(in[1]), int8(in[2]), int(in[3])
		in = in[4:]
		from := 0
		if b0&0x80 != 0 {
			from = 1
		}
		s := fuzzSeg{fromServer: from == 1, flags: b0 & 0x3f, len: b3}
		if b0&0x40 != 0 {
			s.seq = iss[from] + uint32(int32(b1))
			s.ack = iss[1-from] + uint32(int32(b2))
		} else {
			s.seq = next[from] + uint32(int32(b1))
			s.ack = next[1-from] + uint32(int32(b2))
		}
		end := s.seq + uint32(s.len)
		if s.flags&flagSYN != 0 {
			end++
		}
		if s.flags&flagFIN != 0 {
			end++
		}
		if int32(end-next[from]) > 0 {
			next[from] = end
		}
		segs = append(segs, s)
	}
	return segs
}

// encode is the inverse of stateFuzzSegments for segments whose numbers
// are in range of it: it makes the seed corpus from readable stories.
func encodeStateFuzz(ciss, siss uint32, segs []fuzzSeg) []byte {
	out := binary.BigEndian.AppendUint32(nil, ciss)
	out = binary.BigEndian.AppendUint32(out, siss)
	next := [2]uint32{ciss, siss}
	for _, s := range segs {
		from := 0
		b0 := s.flags & 0x3f
		if s.fromServer {
			from = 1
			b0 |= 0x80
		}
		ack := byte(int8(int32(s.ack - next[1-from])))
		if s.flags&flagACK == 0 {
			ack = 0 // the field means nothing: whatever fits
		}
		out = append(out, b0, byte(int8(int32(s.seq-next[from]))), ack, byte(s.len))
		end := s.seq + uint32(s.len)
		if s.flags&flagSYN != 0 {
			end++
		}
		if s.flags&flagFIN != 0 {
			end++
		}
		if int32(end-next[from]) > 0 {
			next[from] = end
		}
	}
	return out
}

var (
	fuzzCli = netip.MustParseAddrPort("127.0.0.1:40000")
	fuzzSrv = netip.MustParseAddrPort("127.0.0.1:12345")
)

// rawTCPFrame is a bare IPv4 packet (link type 228) carrying s, built by
// hand so that the fuzzer spends its time in the decoder.
func rawTCPFrame(s fuzzSeg, i int) trace.Frame {
	src, dst := fuzzCli, fuzzSrv
	if s.fromServer {
		src, dst = dst, src
	}
	b := make([]byte, 40+s.len)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[6] = 0x40 // DF
	b[8], b[9] = 64, 6
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(b[12:], s4[:])
	copy(b[16:], d4[:])
	t := b[20:]
	binary.BigEndian.PutUint16(t[0:], src.Port())
	binary.BigEndian.PutUint16(t[2:], dst.Port())
	binary.BigEndian.PutUint32(t[4:], s.seq)
	binary.BigEndian.PutUint32(t[8:], s.ack)
	t[12] = 5 << 4
	t[13] = s.flags
	binary.BigEndian.PutUint16(t[14:], 512)
	return trace.Frame{Time: t0.Add(time.Duration(i) * time.Millisecond), LinkType: linkIPv4, Data: b, WireLen: len(b)}
}

// linuxStates are the states of Linux's tcp_states.h that sockscope names.
var linuxStates = map[trace.State]bool{
	trace.StateClosed: true, trace.StateListen: true, trace.StateSynSent: true, trace.StateSynRecv: true,
	trace.StateEstablished: true, trace.StateFinWait1: true, trace.StateFinWait2: true, trace.StateClosing: true,
	trace.StateTimeWait: true, trace.StateCloseWait: true, trace.StateLastAck: true,
}

// legalTransition reports whether an endpoint may go from one state to
// another on a segment with flags that it sent (out) or received, as
// Linux's tcp_rcv_state_process, tcp_close and tcp_reset move it. An ACK
// that also carries a FIN makes two transitions, each checked on its own.
func legalTransition(from, to trace.State, flags byte, out bool) bool {
	has := func(f byte) bool { return flags&f != 0 }
	if has(flagRST) {
		// tcp_reset and a RST sent by tcp_send_active_reset: every state
		// but CLOSED and LISTEN (a listener neither sends a RST that
		// closes it nor closes on one) ends in CLOSED, TIME_WAIT too
		// (no RFC 1337 on Linux).
		return to == trace.StateClosed && from != trace.StateClosed && from != trace.StateListen
	}
	switch from + "→" + to {
	case "CLOSED→SYN_SENT": // connect()
		return out && has(flagSYN) && !has(flagACK)
	case "LISTEN→SYN_RECV": // the SYN-ACK shows a listener
		return out && has(flagSYN) && has(flagACK)
	case "SYN_SENT→SYN_RECV": // simultaneous open
		return !out && has(flagSYN) && !has(flagACK)
	case "SYN_SENT→ESTABLISHED": // the SYN-ACK
		return !out && has(flagSYN) && has(flagACK)
	case "SYN_RECV→ESTABLISHED": // the handshake's ACK
		return !out && has(flagACK)
	case "SYN_RECV→FIN_WAIT1", "ESTABLISHED→FIN_WAIT1", "CLOSE_WAIT→LAST_ACK":
		return out && has(flagFIN) // close()
	case "CLOSE_WAIT→CLOSING": // our FIN crossed the peer's
		return out && has(flagFIN)
	case "ESTABLISHED→CLOSE_WAIT", "FIN_WAIT1→CLOSING", "FIN_WAIT2→TIME_WAIT":
		return !out && has(flagFIN)
	case "FIN_WAIT1→FIN_WAIT2", "CLOSING→TIME_WAIT", "LAST_ACK→CLOSED":
		return !out && has(flagACK) // the ACK of our FIN
	}
	return false
}

// endKey names one endpoint of one connection.
type endKey struct {
	conn int
	ep   trace.Endpoint
}

// checkStateMachine feeds segs to a decoder and checks the invariants
// FuzzTCPStates lists.
func checkStateMachine(t *testing.T, segs []fuzzSeg) {
	t.Helper()
	d := NewDecoder()
	known := map[endKey]trace.State{}
	type dirKey struct {
		conn int
		src  trace.Endpoint
	}
	base := map[dirKey]uint32{} // seq − rseq per connection and direction
	var all []trace.Event
	story := func() string {
		s := ""
		for _, sg := range segs {
			s += fmt.Sprintf("\n  server=%v %s seq=%d ack=%d len=%d", sg.fromServer, flagStrings[sg.flags], sg.seq, sg.ack, sg.len)
		}
		return s
	}
	for i, sg := range segs {
		fr := rawTCPFrame(sg, i)
		nconns := len(d.Conns())
		evs := d.Feed(&fr, i+1)
		all = append(all, evs...)
		if len(evs) == 0 || evs[0].Packet == nil {
			t.Fatalf("segment %d: no packet event%s", i+1, story())
		}
		p := evs[0].Packet
		if p.Error != "" || p.Proto != "tcp" {
			t.Fatalf("segment %d: decoded as %s with error %q%s", i+1, p.Proto, p.Error, story())
		}
		if p.Conn < 1 || p.Conn > len(d.Conns()) {
			t.Fatalf("segment %d: conn %d of %d", i+1, p.Conn, len(d.Conns()))
		}
		if p.Conn > nconns && nconns > 0 && !(sg.flags&flagSYN != 0 && sg.flags&flagACK == 0) {
			t.Fatalf("segment %d (%s): opened connection %d without a SYN%s", i+1, p.Flags, p.Conn, story())
		}

		// Transitions: Linux's states, legal, chained.
		fresh := map[trace.Endpoint]bool{}
		for _, ev := range evs[1:] {
			s := ev.State
			if s == nil || s.Conn != p.Conn || s.Source != trace.SourceInferred || !s.Time.Equal(p.Time) {
				t.Fatalf("segment %d: bad state event %+v", i+1, s)
			}
			if s.Endpoint != p.Src && s.Endpoint != p.Dst {
				t.Fatalf("segment %d: state of %v, not an end of %v → %v", i+1, s.Endpoint, p.Src, p.Dst)
			}
			if !linuxStates[s.From] || !linuxStates[s.To] || s.From == s.To {
				t.Fatalf("segment %d: transition %q → %q%s", i+1, s.From, s.To, story())
			}
			out := s.Endpoint == p.Src
			if !legalTransition(s.From, s.To, sg.flags, out) {
				t.Fatalf("segment %d (%s, sent by it: %v): illegal transition of %v: %s → %s%s", i+1, p.Flags, out, s.Endpoint, s.From, s.To, story())
			}
			k := endKey{p.Conn, s.Endpoint}
			if prev, ok := known[k]; ok && prev != s.From {
				t.Fatalf("segment %d: %v went %s → %s but was %s%s", i+1, s.Endpoint, s.From, s.To, prev, story())
			} else if !ok {
				fresh[s.Endpoint] = true
			}
			known[k] = s.To
		}
		for _, ep := range []trace.Endpoint{p.Src, p.Dst} {
			k := endKey{p.Conn, ep}
			st := d.State(p.Conn, ep)
			if !linuxStates[st] {
				t.Fatalf("segment %d: %v is in state %q%s", i+1, ep, st, story())
			}
			if prev, ok := known[k]; ok && prev != st {
				if prev == trace.StateListen && st == trace.StateClosed && ep == p.Src && sg.flags&flagRST != 0 {
					// An end assumed LISTEN that sends a RST never
					// listened (a closed port refusing a SYN): the
					// assumption is corrected without a transition.
					known[k] = st
					continue
				}
				t.Fatalf("segment %d: %v is %s, its transitions say %s%s", i+1, ep, st, prev, story())
			}
			if _, ok := known[k]; !ok || fresh[ep] && p.Conn > nconns {
				known[k] = st
			}
		}

		// Relative numbers.
		check := func(k dirKey, abs, rel uint32, first uint32, what string) {
			if b, ok := base[k]; ok {
				if abs-rel != b {
					t.Fatalf("segment %d: %s: %d − %d = %d, earlier %d%s", i+1, what, abs, rel, abs-rel, b, story())
				}
				return
			}
			if rel != first {
				t.Fatalf("segment %d: first relative %s of its direction is %d, want %d%s", i+1, what, rel, first, story())
			}
			base[k] = abs - rel
		}
		first := uint32(1)
		if sg.flags&flagSYN != 0 {
			first = 0
		}
		check(dirKey{p.Conn, p.Src}, p.Seq, p.RSeq, first, "seq")
		if sg.flags&flagACK != 0 {
			check(dirKey{p.Conn, p.Dst}, p.Ack, p.RAck, 1, "ack")
		}
	}
	_ = Annotate(all, AnnotateOptions{})
}

// The ISNs of the seed stories: the client's numbers wrap.
const storyCISS, storySISS = 0xfffffffa, 5000

// stateFuzzSeeds are the stories of stateFuzzStories encoded as fuzz
// inputs.
func stateFuzzSeeds() [][]byte {
	var out [][]byte
	for _, st := range stateFuzzStories() {
		out = append(out, encodeStateFuzz(storyCISS, storySISS, st))
	}
	return out
}

// stateFuzzStories are the stories the state machine must tell: they seed
// the corpus and run as a test on their own.
func stateFuzzStories() [][]fuzzSeg {
	const (
		F, S, R, P, A = flagFIN, flagSYN, flagRST, flagPSH, flagACK
	)
	c := func(flags byte, seq, ack uint32, n int) fuzzSeg {
		return fuzzSeg{flags: flags, seq: seq, ack: ack, len: n}
	}
	s := func(flags byte, seq, ack uint32, n int) fuzzSeg {
		return fuzzSeg{fromServer: true, flags: flags, seq: seq, ack: ack, len: n}
	}
	var ci, si uint32 = storyCISS, storySISS
	hs := []fuzzSeg{c(S, ci, 0, 0), s(S|A, si, ci+1, 0), c(A, ci+1, si+1, 0)}
	with := func(segs ...fuzzSeg) []fuzzSeg { return append(append([]fuzzSeg(nil), hs...), segs...) }
	stories := [][]fuzzSeg{
		// The echo: data both ways, the client closes first, the ACK of
		// its FIN rides on the server's FIN.
		with(c(P|A, ci+1, si+1, 5), s(A, si+1, ci+6, 0), s(P|A, si+1, ci+6, 7), c(A, ci+6, si+8, 0),
			c(F|A, ci+6, si+8, 0), s(F|A, si+8, ci+7, 0), c(A, ci+7, si+9, 0)),
		// Four segments: FIN, ACK, FIN, ACK.
		with(c(F|A, ci+1, si+1, 0), s(A, si+1, ci+2, 0), s(F|A, si+1, ci+2, 0), c(A, ci+2, si+2, 0)),
		// The server closes first.
		with(s(F|A, si+1, ci+1, 0), c(F|A, ci+1, si+2, 0), s(A, si+2, ci+2, 0)),
		// Simultaneous close: the FINs cross.
		with(c(F|A, ci+1, si+1, 0), s(F|A, si+1, ci+1, 0), c(A, ci+2, si+2, 0), s(A, si+2, ci+2, 0)),
		// Refused.
		{c(S, ci, 0, 0), s(R|A, si, ci+1, 0)},
		// Retransmitted SYN, then served.
		{c(S, ci, 0, 0), c(S, ci, 0, 0), s(S|A, si, ci+1, 0), c(A, ci+1, si+1, 0)},
		// Reset in the middle, then a new connection on the same tuple.
		with(c(P|A, ci+1, si+1, 3), c(R|A, ci+4, si+1, 0), c(S, ci+100, 0, 0)),
		// Half-close: the client's FIN, the server still sends.
		with(c(F|A, ci+1, si+1, 0), s(A, si+1, ci+2, 0), s(P|A, si+1, ci+2, 9), c(A, ci+2, si+10, 0),
			s(F|A, si+10, ci+2, 0), c(A, ci+2, si+11, 0)),
		// Simultaneous open.
		{c(S, ci, 0, 0), s(S, si, 0, 0), c(S|A, ci, si+1, 0), s(S|A, si, ci+1, 0)},
		// The capture starts mid-connection.
		{c(P|A, ci+1, si+1, 10), s(A, si+1, ci+11, 0), s(F|A, si+1, ci+11, 0)},
		// The SYN was missed: the capture starts at the SYN-ACK.
		{s(S|A, si, ci+1, 0), c(A, ci+1, si+1, 0), c(P|A, ci+1, si+1, 2)},
		// Data on the handshake's ACK and a FIN with the first data.
		with(c(F|P|A, ci+1, si+1, 4), s(F|A, si+1, ci+6, 0), c(A, ci+6, si+2, 0)),
		// TIME_WAIT then a new SYN (a new connection), and a RST in TIME_WAIT.
		with(c(F|A, ci+1, si+1, 0), s(F|A, si+1, ci+2, 0), c(A, ci+2, si+2, 0), c(S, ci+100, 0, 0)),
		with(c(F|A, ci+1, si+1, 0), s(F|A, si+1, ci+2, 0), s(R, si+2, 0, 0)),
	}
	return stories
}

// TestStateMachineStories runs the seed stories through the invariants,
// after checking that their encoding decodes back to the very segments
// (so the seeds are what their comments say).
func TestStateMachineStories(t *testing.T) {
	for i, story := range stateFuzzStories() {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			segs := stateFuzzSegments(encodeStateFuzz(storyCISS, storySISS, story))
			if len(segs) != len(story) {
				t.Fatalf("%d segments decoded, want %d", len(segs), len(story))
			}
			for j, want := range story {
				if want.flags&flagACK == 0 {
					want.ack = segs[j].ack // not encoded: it means nothing
				}
				if segs[j] != want {
					t.Fatalf("segment %d decodes as %+v, want %+v", j+1, segs[j], want)
				}
			}
			checkStateMachine(t, segs)
		})
	}
}
