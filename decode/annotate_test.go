package decode

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sockscope/sockscope/trace"
)

// TestBoundariesBytesMapToSegments: the client's sends do not line up with
// the segments (Nagle coalesces two sends into one segment, a large send
// is cut in two) nor with the server's recvs (one recv returns the bytes
// of three sends). Every byte of every send and recv must map to exactly
// the segments that carried it.
func TestBoundariesBytesMapToSegments(t *testing.T) {
	st := newStory(t)
	conn := st.call("client", trace.OpConnect, 0, "")
	st.c("S", "").s("S.", "").c(".", "")
	st.done(conn)
	acc := st.instant("server", trace.OpAccept, 4, "")
	_ = acc
	big := strings.Repeat("B", 100)
	s1 := st.call("client", trace.OpSend, 2, "ab")
	st.c("P.", "ab")
	st.done(s1)
	s2 := st.instant("client", trace.OpSend, 3, "cde") // held back by Nagle …
	s3 := st.call("client", trace.OpSend, 5, "fghij")
	st.s(".", "").c("P.", "cdefghij") // … until the ACK: one segment for two sends
	st.done(s3)
	s4 := st.call("client", trace.OpSend, 100, big)
	st.c(".", big[:60]).c("P.", big[60:]).s(".", "")
	st.done(s4)
	r1 := st.instant("server", trace.OpRecv, 10, "abcdefghij") // three sends in one recv
	r2 := st.instant("server", trace.OpRecv, 30, big[:30])     // part of a segment
	r3 := st.instant("server", trace.OpRecv, 70, big[30:])     // the rest, across two segments
	evs := st.annotated()
	pk, calls := byFrame(evs), callsOf(evs)

	// The segments' data, in stream offsets: frame → [start, end).
	want := map[int][2]uint32{}
	for f, p := range pk {
		if p.Len > 0 {
			want[f] = [2]uint32{p.RSeq, p.RSeq + uint32(p.Len)}
		}
	}
	offset := map[bool]uint32{true: 1, false: 1}
	for _, c := range []*trace.Call{s1, s2, s3, s4, r1, r2, r3} {
		got := calls[c.ID]
		out := c.Op == trace.OpSend
		start := offset[out]
		end := start + uint32(c.Ret)
		offset[out] = end
		if got.Bytes != [2]uint32{start, end} {
			t.Errorf("call #%d %s: bytes %v, want [%d, %d)", c.ID, c.Op, got.Bytes, start, end)
		}
		// Every byte of the call lies in exactly one of its frames, and
		// each of its frames carries at least one of its bytes.
		var frames []int
		for b := start; b < end; b++ {
			n := 0
			for f, r := range want {
				if r[0] <= b && b < r[1] {
					n++
					if !slices.Contains(frames, f) {
						frames = append(frames, f)
					}
				}
			}
			if n != 1 {
				t.Errorf("call #%d: byte %d is in %d segments", c.ID, b, n)
			}
		}
		slices.Sort(frames)
		gotFrames := slices.Sorted(slices.Values(got.Frames))
		if !slices.Equal(gotFrames, frames) {
			t.Errorf("call #%d %s [%d, %d): frames %v, want %v", c.ID, c.Op, start, end, gotFrames, frames)
		}
		for _, f := range frames {
			if !slices.Contains(pk[f].Calls, c.ID) {
				t.Errorf("frame %d does not name call #%d: %v", f, c.ID, pk[f].Calls)
			}
			if out && pk[f].By != trace.ByCall {
				t.Errorf("frame %d carries send #%d's bytes but By = %q", f, c.ID, pk[f].By)
			}
		}
	}
	// Two sends in one segment; one send in two segments.
	if fs := calls[s2.ID].Frames; len(fs) != 1 || !slices.Equal(fs, calls[s3.ID].Frames) {
		t.Errorf("sends #%d and #%d should share one segment: %v %v", s2.ID, s3.ID, fs, calls[s3.ID].Frames)
	}
	if fs := calls[s4.ID].Frames; len(fs) != 2 {
		t.Errorf("the 100-byte send should span two segments: %v", fs)
	}
	// The pure ACKs are the kernel's and carry no call.
	for f, p := range pk {
		if p.Len == 0 && p.Flags == "." && (p.By != trace.ByKernel || len(p.Calls) != 0 && p.RAck > 1) {
			t.Errorf("pure ACK frame %d: by %q, calls %v", f, p.By, p.Calls)
		}
	}
}

// TestEchoCallsTiedToTheirSegments: connect → its SYN, accept ↔ the
// handshake it picked up, close → its FIN, recv returning 0 ↔ the peer's
// FIN, the SYN-ACK and the ACKs are the kernel's.
func TestEchoCallsTiedToTheirSegments(t *testing.T) {
	evs := echoStory(t).annotated()
	pk, calls := byFrame(evs), callsOf(evs)
	var got []string
	for id := 1; id <= len(calls); id++ {
		c := calls[id]
		if len(c.Frames) > 0 || c.HasBytes() {
			got = append(got, fmt.Sprintf("#%d %s %s frames %v bytes %v", id, c.Lane, c.Op, c.Frames, c.Bytes))
		}
	}
	checkStory(t, got, []string{
		"#5 client connect frames [1] bytes [0 0]",
		"#6 server accept frames [1 2 3] bytes [0 0]",
		"#7 client send frames [4] bytes [1 6]",
		"#8 server recv frames [4] bytes [1 6]",
		"#9 server send frames [6] bytes [1 6]",
		"#10 client recv frames [6] bytes [1 6]",
		"#11 client close frames [8] bytes [0 0]",
		"#12 server recv frames [8] bytes [0 0]",
		"#13 server close frames [9] bytes [0 0]",
	})
	var by []string
	for f := 1; f <= len(pk); f++ {
		by = append(by, fmt.Sprintf("%d %s %s %v", f, pk[f].Flags, pk[f].By, pk[f].Calls))
	}
	checkStory(t, by, []string{
		"1 S call [5 6]", "2 S. kernel [6]", "3 . kernel [6]",
		"4 P. call [7 8]", "5 . kernel []", "6 P. call [9 10]", "7 . kernel []",
		"8 F. call [11 12]", "9 F. call [13]", "10 . kernel []",
	})
}
