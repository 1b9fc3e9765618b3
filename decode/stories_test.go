package decode

import (
	"fmt"
	"testing"

	"github.com/sockscope/sockscope/trace"
)

// handshake opens a conversation: SYN, SYN-ACK, ACK.
func handshake(c *convo) *convo { return c.c("S", "").s("S.", "").c(".", "") }

const (
	estab = "| ESTABLISHED ESTABLISHED"
	// The server's SYN_RECV shows with its SYN-ACK, not with the SYN: a
	// SYN alone may be answered by a RST from a port nobody listens on.
	openSYN   = "S  client CLOSED>SYN_SENT  | SYN_SENT LISTEN"
	openSYNAK = "S.  server LISTEN>SYN_RECV  client SYN_SENT>ESTABLISHED  | ESTABLISHED SYN_RECV"
	openACK   = ".  server SYN_RECV>ESTABLISHED " + estab
)

// relNums renders each TCP packet's relative numbers and length as tshark's
// tcp.seq, tcp.ack, tcp.len would show them.
func relNums(evs [][]trace.Event) []string {
	var out []string
	for _, ev := range evs {
		p := ev[0].Packet
		out = append(out, fmt.Sprintf("%s %d %d %d", p.Flags, p.RSeq, p.RAck, p.Len))
	}
	return out
}

func TestHandshakeAndClose(t *testing.T) {
	t.Run("three-segment close", func(t *testing.T) {
		// Linux delays the ACK of the client's FIN so that it rides on
		// the server's FIN: the client passes FIN_WAIT2 on that very
		// segment (the ACK is processed before the FIN, as the kernel's
		// inet_sock_set_state tracepoint shows) and lands in TIME_WAIT.
		c := handshake(newConvo(t, 1000, 5000)).
			c("P.", "hello").s(".", "").s("P.", "hello").c(".", "").
			c("F.", "").s("F.", "").c(".", "")
		pl := play(c.frames())
		d, evs := pl.d, pl.evs
		checkStory(t, pl.lines, []string{
			openSYN, openSYNAK, openACK,
			"P. " + estab, ". " + estab, "P. " + estab, ". " + estab,
			"F.  client ESTABLISHED>FIN_WAIT1  server ESTABLISHED>CLOSE_WAIT  | FIN_WAIT1 CLOSE_WAIT",
			"F.  server CLOSE_WAIT>LAST_ACK  client FIN_WAIT1>FIN_WAIT2  client FIN_WAIT2>TIME_WAIT  | TIME_WAIT LAST_ACK",
			".  server LAST_ACK>CLOSED  | TIME_WAIT CLOSED",
		})
		checkStory(t, relNums(evs), []string{
			"S 0 0 0", "S. 0 1 0", ". 1 1 0", "P. 1 1 5", ". 1 6 0", "P. 1 6 5", ". 6 6 0",
			"F. 6 6 0", "F. 6 7 0", ". 7 7 0",
		})
		conns := d.Conns()
		if len(conns) != 1 || conns[0] != (trace.Conn{ID: 1, Proto: "tcp", Client: cliAP, Server: srvAP}) {
			t.Errorf("Conns() = %+v", conns)
		}
		// Every state event carries the packet's time, conn id and source.
		for _, ev := range evs {
			for _, e := range ev[1:] {
				if e.Kind != trace.KindState || e.State.Time != ev[0].Packet.Time || e.State.Conn != 1 || e.State.Source != trace.SourceInferred {
					t.Errorf("frame %d: bad state event %+v", ev[0].Packet.Frame, e.State)
				}
			}
		}
	})
	t.Run("four-segment close", func(t *testing.T) {
		c := handshake(newConvo(t, 1000, 5000)).
			c("F.", "").s(".", "").s("F.", "").c(".", "")
		pl := play(c.frames())
		checkStory(t, pl.lines, []string{
			openSYN, openSYNAK, openACK,
			"F.  client ESTABLISHED>FIN_WAIT1  server ESTABLISHED>CLOSE_WAIT  | FIN_WAIT1 CLOSE_WAIT",
			".  client FIN_WAIT1>FIN_WAIT2  | FIN_WAIT2 CLOSE_WAIT",
			"F.  server CLOSE_WAIT>LAST_ACK  client FIN_WAIT2>TIME_WAIT  | TIME_WAIT LAST_ACK",
			".  server LAST_ACK>CLOSED  | TIME_WAIT CLOSED",
		})
	})
	t.Run("data on the FIN", func(t *testing.T) {
		// The FIN carries the last bytes: its ACK must cover data and FIN.
		c := handshake(newConvo(t, 1000, 5000)).
			c("FP.", "bye").s(".", "").s("F.", "").c(".", "")
		pl := play(c.frames())
		got := pl.lines
		checkStory(t, got[3:], []string{
			"FP.  client ESTABLISHED>FIN_WAIT1  server ESTABLISHED>CLOSE_WAIT  | FIN_WAIT1 CLOSE_WAIT",
			".  client FIN_WAIT1>FIN_WAIT2  | FIN_WAIT2 CLOSE_WAIT",
			"F.  server CLOSE_WAIT>LAST_ACK  client FIN_WAIT2>TIME_WAIT  | TIME_WAIT LAST_ACK",
			".  server LAST_ACK>CLOSED  | TIME_WAIT CLOSED",
		})
	})
	t.Run("ack of data only", func(t *testing.T) {
		// An ACK that covers the data but not the FIN leaves FIN_WAIT1.
		c := handshake(newConvo(t, 1000, 5000)).c("FP.", "bye")
		c.raw(seg{fromClient: false, flags: ".", seq: 5001, ack: 1004})
		pl := play(c.frames())
		got := pl.lines
		checkStory(t, got[4:], []string{". | FIN_WAIT1 CLOSE_WAIT"})
	})
}

func TestServerClosesFirst(t *testing.T) {
	c := handshake(newConvo(t, 1000, 5000)).
		c("P.", "GET /").s("P.", "200 OK").
		s("F.", "").c("F.", "").s(".", "")
	pl := play(c.frames())
	checkStory(t, pl.lines, []string{
		openSYN, openSYNAK, openACK, "P. " + estab, "P. " + estab,
		"F.  server ESTABLISHED>FIN_WAIT1  client ESTABLISHED>CLOSE_WAIT  | CLOSE_WAIT FIN_WAIT1",
		"F.  client CLOSE_WAIT>LAST_ACK  server FIN_WAIT1>FIN_WAIT2  server FIN_WAIT2>TIME_WAIT  | LAST_ACK TIME_WAIT",
		".  client LAST_ACK>CLOSED  | CLOSED TIME_WAIT",
	})
}

func TestSimultaneousClose(t *testing.T) {
	// Both ends close at once: each FIN acks only the data before the
	// other's FIN. Each end is CLOSING, then TIME_WAIT, as on Linux.
	c := handshake(newConvo(t, 1000, 5000))
	c.raw(seg{fromClient: true, flags: "F.", seq: 1001, ack: 5001})
	c.raw(seg{fromClient: false, flags: "F.", seq: 5001, ack: 1001})
	c.raw(seg{fromClient: true, flags: ".", seq: 1002, ack: 5002})
	c.raw(seg{fromClient: false, flags: ".", seq: 5002, ack: 1002})
	pl := play(c.frames())
	checkStory(t, pl.lines, []string{
		openSYN, openSYNAK, openACK,
		"F.  client ESTABLISHED>FIN_WAIT1  server ESTABLISHED>CLOSE_WAIT  | FIN_WAIT1 CLOSE_WAIT",
		"F.  server CLOSE_WAIT>CLOSING  client FIN_WAIT1>CLOSING  | CLOSING CLOSING",
		".  server CLOSING>TIME_WAIT  | CLOSING TIME_WAIT",
		".  client CLOSING>TIME_WAIT  | TIME_WAIT TIME_WAIT",
	})
}

func TestRefused(t *testing.T) {
	c := newConvo(t, 1000, 0).c("S", "")
	c.raw(seg{fromClient: false, flags: "R.", seq: 0, ack: 1001})
	// connect() again from the same port: a new connection.
	c.raw(seg{fromClient: true, flags: "S", seq: 7000, opts: synOpts(1, 0)})
	pl := play(c.frames())
	d, evs := pl.d, pl.evs
	checkStory(t, pl.lines, []string{
		openSYN,
		// No listener: the server end never was LISTEN or SYN_RECV.
		"R.  client SYN_SENT>CLOSED  | CLOSED CLOSED",
		openSYN,
	})
	checkStory(t, relNums(evs), []string{"S 0 0 0", "R. 1 1 0", "S 0 0 0"})
	if n := len(d.Conns()); n != 2 || evs[2][0].Packet.Conn != 2 {
		t.Errorf("got %d conns, third packet on conn %d; want a new conn 2", n, evs[2][0].Packet.Conn)
	}
}

func TestResetDuringData(t *testing.T) {
	c := handshake(newConvo(t, 1000, 5000)).
		c("P.", "hello").s("R.", "")
	pl := play(c.frames())
	checkStory(t, pl.lines, []string{
		openSYN, openSYNAK, openACK, "P. " + estab,
		"R.  server ESTABLISHED>CLOSED  client ESTABLISHED>CLOSED  | CLOSED CLOSED",
	})
	// A RST without ACK (SO_LINGER 0 close) does the same.
	c = handshake(newConvo(t, 1000, 5000)).c("R", "")
	pl = play(c.frames())
	checkStory(t, pl.lines[3:], []string{
		"R  client ESTABLISHED>CLOSED  server ESTABLISHED>CLOSED  | CLOSED CLOSED",
	})
}

func TestRetransmittedSyn(t *testing.T) {
	c := newConvo(t, 1000, 5000)
	c.c("S", "")
	c.raw(c.segs[0]) // the SYN again, one "second" later
	c.s("S.", "")
	c.raw(c.segs[2]) // the SYN-ACK again
	c.c(".", "").c("F.", "")
	c.raw(c.segs[5]) // the FIN again
	c.s("F.", "").c(".", "")
	pl := play(c.frames())
	d := pl.d
	checkStory(t, pl.lines, []string{
		openSYN, "S  | SYN_SENT LISTEN",
		openSYNAK, "S.  | ESTABLISHED SYN_RECV",
		openACK,
		"F.  client ESTABLISHED>FIN_WAIT1  server ESTABLISHED>CLOSE_WAIT  | FIN_WAIT1 CLOSE_WAIT",
		"F.  | FIN_WAIT1 CLOSE_WAIT",
		"F.  server CLOSE_WAIT>LAST_ACK  client FIN_WAIT1>FIN_WAIT2  client FIN_WAIT2>TIME_WAIT  | TIME_WAIT LAST_ACK",
		".  server LAST_ACK>CLOSED  | TIME_WAIT CLOSED",
	})
	if n := len(d.Conns()); n != 1 {
		t.Errorf("got %d conns, want 1", n)
	}
}

func TestHalfClose(t *testing.T) {
	// The client shuts down its sending side; the server keeps sending.
	c := handshake(newConvo(t, 1000, 5000)).
		c("F.", "").s(".", "").
		s("P.", "more").c(".", "").s("P.", "data").c(".", "").
		s("F.", "").c(".", "")
	pl := play(c.frames())
	checkStory(t, pl.lines, []string{
		openSYN, openSYNAK, openACK,
		"F.  client ESTABLISHED>FIN_WAIT1  server ESTABLISHED>CLOSE_WAIT  | FIN_WAIT1 CLOSE_WAIT",
		".  client FIN_WAIT1>FIN_WAIT2  | FIN_WAIT2 CLOSE_WAIT",
		"P.  | FIN_WAIT2 CLOSE_WAIT", ".  | FIN_WAIT2 CLOSE_WAIT",
		"P.  | FIN_WAIT2 CLOSE_WAIT", ".  | FIN_WAIT2 CLOSE_WAIT",
		"F.  server CLOSE_WAIT>LAST_ACK  client FIN_WAIT2>TIME_WAIT  | TIME_WAIT LAST_ACK",
		".  server LAST_ACK>CLOSED  | TIME_WAIT CLOSED",
	})
}

func TestMidStreamCapture(t *testing.T) {
	// The capture starts after the handshake, with the server talking.
	segs := []seg{
		{fromClient: false, flags: "P.", seq: 5000, ack: 9000, data: "hello"},
		{fromClient: true, flags: ".", seq: 9000, ack: 5005},
		{fromClient: true, flags: "P.", seq: 9000, ack: 5005, data: "abc"},
		{fromClient: true, flags: "F.", seq: 9003, ack: 5005},
		{fromClient: false, flags: "F.", seq: 5005, ack: 9004},
		{fromClient: true, flags: ".", seq: 9004, ack: 5006},
	}
	pl := play(frames(t, segs))
	d, evs := pl.d, pl.evs
	// As tshark 4.0 shows it: each direction counts from one before the
	// first sequence number seen (or acked), so the first data byte is 1.
	checkStory(t, relNums(evs), []string{
		"P. 1 1 5", ". 1 6 0", "P. 1 6 3", "F. 4 6 0", "F. 6 5 0", ". 5 7 0",
	})
	// Both ends start ESTABLISHED without a made-up transition; the first
	// sender counts as the client.
	checkStory(t, pl.lines, []string{
		"P.  | ESTABLISHED ESTABLISHED", ".  | ESTABLISHED ESTABLISHED", "P.  | ESTABLISHED ESTABLISHED",
		"F.  server ESTABLISHED>FIN_WAIT1  client ESTABLISHED>CLOSE_WAIT  | CLOSE_WAIT FIN_WAIT1",
		"F.  client CLOSE_WAIT>LAST_ACK  server FIN_WAIT1>FIN_WAIT2  server FIN_WAIT2>TIME_WAIT  | LAST_ACK TIME_WAIT",
		".  client LAST_ACK>CLOSED  | CLOSED TIME_WAIT",
	})
	if c := d.Conns()[0]; c.Client != srvAP {
		t.Errorf("client = %v, want the first sender %v", c.Client, srvAP)
	}

	t.Run("SYN-ACK first", func(t *testing.T) {
		segs := []seg{
			{fromClient: false, flags: "S.", seq: 100, ack: 7001},
			{fromClient: true, flags: ".", seq: 7001, ack: 101},
			{fromClient: true, flags: "P.", seq: 7001, ack: 101, data: "hi"},
		}
		pl := play(frames(t, segs))
		d, evs := pl.d, pl.evs
		checkStory(t, relNums(evs), []string{"S. 0 1 0", ". 1 1 0", "P. 1 1 2"})
		checkStory(t, pl.lines, []string{
			"S.  client SYN_SENT>ESTABLISHED  | ESTABLISHED SYN_RECV",
			".  server SYN_RECV>ESTABLISHED  | ESTABLISHED ESTABLISHED",
			"P.  | ESTABLISHED ESTABLISHED",
		})
		if c := d.Conns()[0]; c.Client != cliAP {
			t.Errorf("client = %v, want %v (the receiver of the SYN-ACK)", c.Client, cliAP)
		}
	})
	t.Run("first packet without ACK", func(t *testing.T) {
		segs := []seg{
			{fromClient: true, flags: "P", seq: 7000, data: "xy"},
			{fromClient: false, flags: "P.", seq: 100, ack: 7002, data: "z"},
			{fromClient: true, flags: ".", seq: 7002, ack: 101},
		}
		_, evs := feedAll(frames(t, segs))
		checkStory(t, relNums(evs), []string{"P 1 0 2", "P. 1 3 1", ". 3 2 0"})
	})
}

func TestSequenceWrap(t *testing.T) {
	// Both ISNs sit just below 2^32; data and FINs cross the wrap.
	c := handshake(newConvo(t, 0xfffffffa, 0xfffffffe)).
		c("P.", "0123456789").s(".", "").s("P.", "abcdef").c(".", "").
		c("F.", "").s(".", "").s("F.", "").c(".", "")
	pl := play(c.frames())
	evs := pl.evs
	checkStory(t, pl.lines, []string{
		openSYN, openSYNAK, openACK,
		"P. " + estab, ". " + estab, "P. " + estab, ". " + estab,
		"F.  client ESTABLISHED>FIN_WAIT1  server ESTABLISHED>CLOSE_WAIT  | FIN_WAIT1 CLOSE_WAIT",
		".  client FIN_WAIT1>FIN_WAIT2  | FIN_WAIT2 CLOSE_WAIT",
		"F.  server CLOSE_WAIT>LAST_ACK  client FIN_WAIT2>TIME_WAIT  | TIME_WAIT LAST_ACK",
		".  server LAST_ACK>CLOSED  | TIME_WAIT CLOSED",
	})
	checkStory(t, relNums(evs), []string{
		"S 0 0 0", "S. 0 1 0", ". 1 1 0", "P. 1 1 10", ". 1 11 0", "P. 1 11 6", ". 11 7 0",
		"F. 11 7 0", ". 7 12 0", "F. 7 12 0", ". 12 8 0",
	})
	if p := evs[7][0].Packet; p.Seq != 5 {
		t.Errorf("client FIN at absolute seq %d, want 5 (wrapped)", p.Seq)
	}
	var s seq = 0xfffffff0
	if !s.lt(5) || seq(5).lt(s) || !s.le(s) || s.add(0x20) != 0x10 {
		t.Error("seq comparisons are not wrap-safe")
	}
}
