package decode

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sockscope/sockscope/trace"
)

func netipAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

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

// TestRefusedConnectTiesTheRST: nothing listens; the SYN is answered by a
// RST, which the kernel sent; connect fails and names both segments.
func TestRefusedConnectTiesTheRST(t *testing.T) {
	st := newStory(t)
	conn := st.call("client", trace.OpConnect, -1, "")
	conn.Errno = "ECONNREFUSED"
	st.c("S", "")
	st.seg(false, "R.", "")
	st.done(conn)
	evs := st.annotated()
	pk, calls := byFrame(evs), callsOf(evs)
	if got := calls[conn.ID].Frames; !slices.Equal(got, []int{1, 2}) {
		t.Errorf("connect frames %v, want [1 2]", got)
	}
	if pk[1].By != trace.ByCall || pk[2].By != trace.ByKernel || !slices.Equal(pk[2].Analysis, []string{trace.AnalysisReset}) {
		t.Errorf("SYN by %q, RST by %q analysis %v", pk[1].By, pk[2].By, pk[2].Analysis)
	}
	sum := notesOf(evs, trace.TopicSummary)
	if len(sum) != 1 || !strings.Contains(sum[0].Text, "refused") || sum[0].Conn != 1 {
		t.Errorf("summary: %+v", sum)
	}
}

// summaryOf plays a story and returns its one connection summary.
func summaryOf(t *testing.T, st *story) string {
	t.Helper()
	sum := notesOf(st.annotated(), trace.TopicSummary)
	if len(sum) != 1 {
		t.Fatalf("%d summaries", len(sum))
	}
	return sum[0].Text
}

func opened(t *testing.T) *story {
	st := newStory(t)
	st.c("S", "").s("S.", "").c(".", "")
	return st
}

func TestSummariesTellEachEnding(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   *story
		want string
	}{
		{"client closes first", opened(t).c("P.", "hi").s(".", "").c("F.", "").s("F.", "").c(".", ""),
			"normal open and close, the client closed first; 2 bytes from the client, 0 bytes from the server"},
		{"server closes first", opened(t).s("F.", "").c("F.", "").s(".", ""),
			"normal open and close, the server closed first"},
		{"reset by the server", opened(t).c("P.", "hello").s("R.", ""),
			"reset by the server, after 5 bytes from the client"},
		{"half-closed by the client", opened(t).c("F.", "").s(".", "").s("P.", "more").c(".", "").s("F.", "").c(".", ""),
			"half-closed by the client: the server sent 4 more bytes after the client's FIN"},
		{"still open", opened(t).c("P.", "x").s(".", ""), "still open when the capture ended"},
		{"no answer", newStory(t).c("S", ""), "no answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := summaryOf(t, tc.st); !strings.Contains(got, tc.want) {
				t.Errorf("summary %q lacks %q", got, tc.want)
			}
		})
	}
	t.Run("simultaneous close", func(t *testing.T) {
		st := opened(t)
		// Both FINs leave before either arrives: each acks only the data.
		st.segs = append(st.segs,
			timed{st.at + 100e3, seg{fromClient: true, flags: "F.", seq: st.cseq, ack: st.sseq, opts: dataOpts(3, 2)}},
			timed{st.at + 200e3, seg{fromClient: false, flags: "F.", seq: st.sseq, ack: st.cseq, opts: dataOpts(3, 2)}},
			timed{st.at + 300e3, seg{fromClient: true, flags: ".", seq: st.cseq + 1, ack: st.sseq + 1, opts: dataOpts(4, 3)}},
			timed{st.at + 400e3, seg{fromClient: false, flags: ".", seq: st.sseq + 1, ack: st.cseq + 1, opts: dataOpts(4, 3)}})
		if got := summaryOf(t, st); !strings.Contains(got, "simultaneous close") {
			t.Errorf("summary %q", got)
		}
	})
}

// TestUDPDatagramsAndTheICMPErrorTied: sendto ↔ its datagram, recvfrom ↔
// the datagram it returned, and an ICMP port unreachable ↔ the datagram it
// quotes, the sendto behind it and the recv that failed with the error.
func TestUDPDatagramsAndTheICMPErrorTied(t *testing.T) {
	cli, srv, dead := cliAP, srvAP, trace.Endpoint(netipAP("127.0.0.1:9999"))
	var fs []trace.Frame
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	udp := func(src, dst trace.Endpoint, data string) []byte {
		return ipPacket(t, src, dst, layers.IPProtocolUDP,
			&layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}, []byte(data))
	}
	quote := udp(cli, dead, "ping")
	icmp := ipPacket(t, netipAP("127.0.0.1:0"), netipAP("127.0.0.1:0"), layers.IPProtocolICMPv4,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, quote)
	for i, b := range [][]byte{udp(cli, srv, "name"), udp(srv, cli, "Hello, name!"), quote, icmp} {
		d := withLink(t, 1, b)
		fs = append(fs, trace.Frame{Time: at(2*i + 1), LinkType: 1, Data: d, WireLen: len(d)})
	}
	mk := func(id int, op trace.Op, remote trace.Endpoint, local trace.Endpoint, ret int, start, end int) *trace.Call {
		return &trace.Call{ID: id, Lane: "client", Op: op, FD: 3, Proto: "udp", Local: local, Remote: remote, Ret: ret, Start: at(start), End: at(end)}
	}
	calls := []*trace.Call{
		mk(1, trace.OpSendto, srv, netipAP("0.0.0.0:40000"), 4, 0, 1), // an unbound socket: the wildcard address
		mk(2, trace.OpRecvfrom, cli, srv, 4, 0, 2),
		mk(3, trace.OpRecvfrom, srv, cli, 12, 2, 4),
		mk(4, trace.OpSendto, dead, cli, 4, 4, 5),
		mk(5, trace.OpRecvfrom, trace.Endpoint{}, cli, -1, 6, 9),
		mk(6, trace.OpSendto, cli, srv, 12, 2, 3),
	}
	calls[1].Lane, calls[5].Lane = "server", "server"
	calls[4].Errno = "ECONNREFUSED"
	d := NewDecoder()
	var tl trace.Timeline
	for i := range fs {
		tl.Append(d.Feed(&fs[i], i+1)...)
	}
	for _, c := range calls {
		tl.Append(trace.CallEvent(c))
	}
	evs := Annotate(tl.Snapshot(), AnnotateOptions{})
	pk, got := byFrame(evs), callsOf(evs)
	var lines []string
	for id := 1; id <= 6; id++ {
		lines = append(lines, fmt.Sprintf("#%d %s %v", id, got[id].Op, got[id].Frames))
	}
	for f := 1; f <= 4; f++ {
		lines = append(lines, fmt.Sprintf("frame %d %s by %s calls %v", f, pk[f].Proto, pk[f].By, pk[f].Calls))
	}
	checkStory(t, lines, []string{
		"#1 sendto [1]", "#2 recvfrom [1]", "#3 recvfrom [2]", "#4 sendto [3 4]", "#5 recvfrom [4]", "#6 sendto [2]",
		"frame 1 udp by call calls [1 2]", "frame 2 udp by call calls [3 6]",
		"frame 3 udp by call calls [4]", "frame 4 icmp by kernel calls [4 5]",
	})
}

// TestKernelStatesCheckedAgainstTheSegments: the kernel's own samples get
// their connection ids; those that agree with the inferred states (also a
// sample that lags a segment the capture already holds, and a FIN_WAIT1
// entered in close() before its FIN left) pass silently; one that cannot be
// right becomes a warning note.
func TestKernelStatesCheckedAgainstTheSegments(t *testing.T) {
	st := echoStory(t)
	tl := st.timeline()
	timeOf := func(flags string, fromClient bool) time.Time {
		for _, ev := range tl {
			if p := ev.Packet; p != nil && p.Flags == flags && (p.Src == st.cli) == fromClient {
				return p.Time
			}
		}
		t.Fatalf("no %s", flags)
		return time.Time{}
	}
	kernel := func(at time.Time, ep, peer trace.Endpoint, from, to trace.State) trace.Event {
		return trace.StateEvent(&trace.StateChange{Time: at, Endpoint: ep, Peer: peer, From: from, To: to, Source: trace.SourceKernel})
	}
	fin := timeOf("F.", true)
	st.extra = []trace.Event{
		kernel(timeOf(".", true).Add(50e3), st.cli, st.srv, trace.StateClosed, trace.StateEstablished), // agrees
		kernel(fin.Add(-50e3), st.cli, st.srv, trace.StateEstablished, trace.StateFinWait1),            // close() ahead of its FIN
		kernel(fin.Add(300e3), st.srv, st.cli, trace.StateEstablished, trace.StateEstablished),         // lags the FIN by 0.3 ms
		kernel(fin.Add(400e3), st.srv, st.cli, trace.StateEstablished, trace.StateCloseWait),           // agrees
		kernel(fin.Add(50*time.Millisecond), st.cli, st.srv, trace.StateTimeWait, trace.StateFinWait2), // wrong: TIME_WAIT since
	}
	evs := Annotate(st.timeline(), AnnotateOptions{})
	for _, ev := range evs {
		if s := ev.State; s != nil && s.Source == trace.SourceKernel && s.Conn != 1 {
			t.Errorf("kernel state %v has conn %d, want 1", s, s.Conn)
		}
	}
	warn := notesOf(evs, trace.TopicKernelDisagrees)
	if len(warn) != 1 {
		t.Fatalf("%d disagreement notes, want 1: %+v", len(warn), warn)
	}
	w := warn[0]
	if w.Level != "warning" || w.Conn != 1 || !strings.Contains(w.Text, "FIN_WAIT2") || !strings.Contains(w.Text, "TIME_WAIT") {
		t.Errorf("note %+v", w)
	}
}
