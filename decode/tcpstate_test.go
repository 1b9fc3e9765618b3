package decode

import (
	"testing"

	"github.com/sockscope/sockscope/trace"
)

// TestStateShortcut: segmentSent skips the handlers for segments without
// SYN, FIN or RST between two ESTABLISHED ends. For every pair of states,
// every flag byte and sequence numbers below, at and past the ends' ISNs and
// FINs, it must leave both ends and the transitions as the two full steps
// do.
func TestStateShortcut(t *testing.T) {
	states := []trace.State{trace.StateClosed, trace.StateListen, trace.StateSynSent, trace.StateSynRecv,
		trace.StateEstablished, trace.StateFinWait1, trace.StateFinWait2, trace.StateClosing,
		trace.StateTimeWait, trace.StateCloseWait, trace.StateLastAck}
	seqs := []seq{99, 100, 101, 201, 202}
	n := 0
	for _, a := range states {
		for _, b := range states {
			for flags := range 256 {
				for _, sq := range seqs {
					for _, ack := range seqs {
						for _, known := range []bool{false, true} {
							s := segment{flags: byte(flags), seq: sq, ack: ack, len: uint32(sq % 3)}
							mk := func() (*endpoint, *endpoint) {
								src := &endpoint{state: a, iss: 100, issSet: known, finSeq: 200, finSet: known}
								dst := &endpoint{state: b, iss: 100, issSet: known, finSeq: 201, finSet: known}
								src.peer, dst.peer = dst, src
								return src, dst
							}
							var short, full machine
							s1, d1 := mk()
							short.segmentSent(s1, d1, &s)
							s2, d2 := mk()
							full.step(s2, &s, true)
							full.step(d2, &s, false)
							if !sameEnd(s1, s2) || !sameEnd(d1, d2) || len(short.changes) != len(full.changes) {
								t.Fatalf("%s → %s, flags %s, seq %d ack %d, known %v: shortcut gives %+v %+v %v, steps %+v %+v %v",
									a, b, tcpFlags(byte(flags)), sq, ack, known, *s1, *d1, short.changes, *s2, *d2, full.changes)
							}
							for i := range short.changes {
								c1, c2 := short.changes[i], full.changes[i]
								if c1.from != c2.from || c1.to != c2.to || (c1.ep == s1) != (c2.ep == s2) {
									t.Fatalf("%s → %s, flags %s: change %d: %+v vs %+v", a, b, tcpFlags(byte(flags)), i, c1, c2)
								}
							}
							n++
						}
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no case")
	}
}

// sameEnd compares two endpoints but for their peer pointers.
func sameEnd(a, b *endpoint) bool {
	x, y := *a, *b
	x.peer, y.peer = nil, nil
	return x == y
}
