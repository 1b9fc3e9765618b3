package decode

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// timed is a segment sent at a given time after t0.
type timed struct {
	at time.Duration
	s  seg
}

// timedFrames makes the frames of segments sent at the given times.
func timedFrames(tb testing.TB, segs []timed) []trace.Frame {
	tb.Helper()
	var plain []seg
	for _, s := range segs {
		plain = append(plain, s.s)
	}
	fs := frames(tb, plain)
	for i := range fs {
		fs[i].Time = t0.Add(segs[i].at)
	}
	return fs
}

const ms = time.Millisecond

// lossyConversation is a connection that goes through every case the
// analysis flags name: a lost segment, duplicate ACKs and the fast
// retransmission they ask for, a retransmission after a timeout, a segment
// out of order, a zero window and the window update that opens it, a
// keep-alive and its ACK, and a reset. Client ISN 1000, server 5000;
// relative numbers in the comments.
func lossyConversation(tb testing.TB) []trace.Frame {
	data := strings.Repeat("x", 100)
	c := func(at time.Duration, flags string, seq, ack uint32, d string) timed {
		return timed{at, seg{fromClient: true, flags: flags, seq: 1000 + seq, ack: 5000 + ack, data: d, opts: dataOpts(1, 1)}}
	}
	s := func(at time.Duration, flags string, seq, ack uint32, win uint16) timed {
		return timed{at, seg{fromClient: false, flags: flags, seq: 5000 + seq, ack: 1000 + ack, win: win, zeroWin: win == 0, opts: dataOpts(1, 1)}}
	}
	syn := timed{0, seg{fromClient: true, flags: "S", seq: 1000, opts: synOpts(1, 0), win: 65495}}
	synack := timed{100 * time.Microsecond, seg{fromClient: false, flags: "S.", seq: 5000, ack: 1001, opts: synOpts(2, 1), win: 65483}}
	return timedFrames(tb, []timed{
		syn, synack,
		c(200*time.Microsecond, ".", 1, 1, ""),
		c(10*ms, "P.", 1, 1, data),         // 1:101
		c(10*ms+100e3, "P.", 201, 1, data), // 201:301: 101:201 was never captured
		s(10*ms+200e3, ".", 1, 101, 512),   // ACK 101
		s(10*ms+300e3, ".", 1, 101, 512),   // dup ACK 1
		s(10*ms+400e3, ".", 1, 101, 512),   // dup ACK 2
		c(10*ms+500e3, "P.", 101, 1, data), // fast retransmission of 101:201
		s(10*ms+600e3, ".", 1, 301, 512),
		c(20*ms, "P.", 301, 1, data),  // 301:401
		c(300*ms, "P.", 301, 1, data), // resent after a timeout
		s(300*ms+100e3, ".", 1, 401, 512),
		c(400*ms, "P.", 501, 1, data),       // 501:601, before 401:501
		c(400*ms+100e3, "P.", 401, 1, data), // 401:501, out of order
		s(400*ms+200e3, ".", 1, 601, 512),   // ACK 601
		s(500*ms, ".", 1, 601, 0),           // the server's buffer is full
		s(600*ms, ".", 1, 601, 512),         // ... and has room again
		c(2600*ms, ".", 600, 1, ""),         // keep-alive: one below the next seq
		s(2600*ms+100e3, ".", 1, 601, 512),  // its ACK
		c(2700*ms, "R.", 601, 1, ""),        // the client aborts
	})
}

// resendingConversation retransmits a SYN after a second, then a FIN
// after 200 ms, and resends data the peer had already acknowledged.
func resendingConversation(tb testing.TB) []trace.Frame {
	c := func(at time.Duration, flags string, seq, ack uint32, d string) timed {
		return timed{at, seg{fromClient: true, flags: flags, seq: 7000 + seq, ack: 9000 + ack, data: d, opts: dataOpts(1, 1)}}
	}
	s := func(at time.Duration, flags string, seq, ack uint32, d string) timed {
		return timed{at, seg{fromClient: false, flags: flags, seq: 9000 + seq, ack: 7000 + ack, data: d, opts: dataOpts(1, 1)}}
	}
	syn := seg{fromClient: true, flags: "S", seq: 7000, opts: synOpts(1, 0), win: 65495}
	return timedFrames(tb, []timed{
		{0, syn},
		{1000 * ms, syn},
		{1000*ms + 50e3, seg{fromClient: false, flags: "S.", seq: 9000, ack: 7001, opts: synOpts(2, 1), win: 65483}},
		c(1000*ms+100e3, ".", 1, 1, ""),
		c(1001*ms, "P.", 1, 1, "hello"),
		s(1001*ms+50e3, ".", 1, 6, ""),
		c(1200*ms, "P.", 1, 1, "hello"), // already acked: spurious
		s(1200*ms+50e3, ".", 1, 6, ""),
		c(1300*ms, "F.", 6, 1, ""),
		c(1500*ms, "F.", 6, 1, ""), // the FIN again
		s(1500*ms+50e3, "F.", 1, 7, ""),
		c(1500*ms+100e3, ".", 7, 2, ""),
	})
}

// tsharkAnalysisFields are tshark's fields for our analysis flags.
var tsharkAnalysisFields = []struct{ field, name string }{
	{"tcp.analysis.retransmission", trace.AnalysisRetransmission},
	{"tcp.analysis.fast_retransmission", trace.AnalysisFastRetransmission},
	{"tcp.analysis.out_of_order", trace.AnalysisOutOfOrder},
	{"tcp.analysis.lost_segment", trace.AnalysisLostSegment},
	{"tcp.analysis.duplicate_ack", trace.AnalysisDupAck},
	{"tcp.analysis.zero_window", trace.AnalysisZeroWindow},
	{"tcp.analysis.window_update", trace.AnalysisWindowUpdate},
	{"tcp.analysis.keep_alive", trace.AnalysisKeepAlive},
	{"tcp.analysis.keep_alive_ack", trace.AnalysisKeepAliveAck},
	{"tcp.flags.reset", trace.AnalysisReset},
}

// analysedPackets decodes frames and runs the analysis over them.
func analysedPackets(fs []trace.Frame) []*trace.Packet {
	_, evs := feedAll(fs)
	var ps []*trace.Packet
	for _, ev := range evs {
		ps = append(ps, ev[0].Packet)
	}
	analyzeTCP(ps)
	return ps
}

// TestAnalysisFlagsMatchTshark compares every TCP packet's analysis flags
// with tshark's tcp.analysis fields, on captures holding each case.
func TestAnalysisFlagsMatchTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	caps := crossCheckConversations(t)
	caps["lossy"] = lossyConversation(t)
	caps["resending"] = resendingConversation(t)
	dir := t.TempDir()
	compared, flagged := 0, map[string]int{}
	for name, fs := range caps {
		path := filepath.Join(dir, name+".pcap")
		writePcap(t, path, fs)
		args := []string{"-r", path, "-T", "fields", "-E", "separator=/t", "-e", "frame.number"}
		for _, f := range tsharkAnalysisFields {
			args = append(args, "-e", f.field)
		}
		out, err := exec.Command("tshark", args...).Output()
		if err != nil {
			t.Fatalf("%s: tshark: %v", name, err)
		}
		ps := analysedPackets(fs)
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		if len(lines) != len(ps) {
			t.Fatalf("%s: tshark shows %d packets, we %d", name, len(lines), len(ps))
		}
		for i, line := range lines {
			cols := strings.Split(line, "\t")
			var want []string
			for k, f := range tsharkAnalysisFields {
				if v := cols[k+1]; v != "" && v != "0" && v != "False" {
					want = append(want, f.name)
				}
			}
			got := ps[i].Analysis
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s frame %d (%s seq=%d ack=%d len=%d win=%d): we say %v, tshark %v",
					name, i+1, ps[i].Flags, ps[i].RSeq, ps[i].RAck, ps[i].Len, ps[i].Win, got, want)
			}
			for _, w := range want {
				flagged[w]++
			}
			compared++
		}
	}
	for _, f := range tsharkAnalysisFields {
		if flagged[f.name] == 0 {
			t.Errorf("no capture exercises %s", f.name)
		}
	}
	t.Logf("%d packets compared with tshark; flags seen: %v", compared, flagged)
}
