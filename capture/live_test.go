//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/sockscope/sockscope/trace"
)

// openLo opens a capture on lo or skips the test when not permitted.
func openLo(t *testing.T, opts LiveOptions) *Live {
	t.Helper()
	l, err := OpenLive("lo", opts)
	if errors.Is(err, ErrPermission) {
		t.Skipf("live capture needs CAP_NET_RAW (run the tests as root, or inside the sandbox): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// collector runs l in the background and keeps the frames it emits.
type collector struct {
	mu     sync.Mutex
	frames []trace.Frame
	done   chan error
}

func collect(l *Live) *collector {
	c := &collector{done: make(chan error, 1)}
	done := l.Start(func(f trace.Frame) {
		c.mu.Lock()
		c.frames = append(c.frames, f)
		c.mu.Unlock()
	})
	go func() { c.done <- <-done }()
	return c
}

// stop stops l and waits until its Run returned, which must be without error.
func (c *collector) stop(t *testing.T, l *Live) {
	t.Helper()
	l.Stop()
	if err := <-c.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// echoOverTCP makes n plain-TCP connections to a local echo server and
// returns the server's port. Each client sends a line, reads it back and
// closes; the server closes after the client.
func echoOverTCP(t *testing.T, n int) uint16 {
	t.Helper()
	var lc net.ListenConfig
	lc.SetMultipathTCP(false) // Go ≥ 1.24 would listen with MPTCP
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(c, c)
			c.Close()
		}
	})
	var d net.Dialer
	d.SetMultipathTCP(false)
	for i := range n {
		c, err := d.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		msg := fmt.Sprintf("hello %d\n", i)
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	wg.Wait()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// segmentCounts counts the TCP segments to or from port, by kind.
type segmentCounts struct {
	syn, synAck, fin, rst, data, total int
	mptcp                              int // segments carrying an MPTCP option
	payload                            int // payload bytes
}

func countSegments(t *testing.T, frames []trace.Frame, port uint16) segmentCounts {
	t.Helper()
	var (
		eth     layers.Ethernet
		ip4     layers.IPv4
		tcp     layers.TCP
		payload gopacket.Payload
		c       segmentCounts
		decoded []gopacket.LayerType
	)
	p := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &tcp, &payload)
	p.IgnoreUnsupported = true
	for _, f := range frames {
		if f.LinkType != LinkTypeEthernet {
			t.Fatalf("frame with link type %d on lo, want %d", f.LinkType, LinkTypeEthernet)
		}
		if err := p.DecodeLayers(f.Data, &decoded); err != nil || len(decoded) < 3 || decoded[2] != layers.LayerTypeTCP {
			continue
		}
		if uint16(tcp.SrcPort) != port && uint16(tcp.DstPort) != port {
			continue
		}
		c.total++
		switch {
		case tcp.SYN && tcp.ACK:
			c.synAck++
		case tcp.SYN:
			c.syn++
		}
		if tcp.FIN {
			c.fin++
		}
		if tcp.RST {
			c.rst++
		}
		if len(tcp.Payload) > 0 {
			c.data++
			c.payload += len(tcp.Payload)
		}
		for _, o := range tcp.Options {
			if o.OptionType == layers.TCPOptionKindMultipathTCP {
				c.mptcp++
			}
		}
	}
	return c
}

func TestLiveCapturesEachSegmentOnce(t *testing.T) {
	l := openLo(t, LiveOptions{})
	c := collect(l)
	const conns = 5
	port := echoOverTCP(t, conns)
	start := time.Now()
	l.Stop()
	stopTook := time.Since(start)
	if err := <-c.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("Stop took %v", stopTook)
	if stopTook > 2*time.Second {
		t.Errorf("Stop took %v", stopTook)
	}

	got := countSegments(t, c.frames, port)
	t.Logf("port %d: %+v", port, got)
	// Every connection: SYN, SYN-ACK, one FIN each way, a request and an
	// echo. A duplicated outgoing copy would double all of them.
	want := segmentCounts{syn: conns, synAck: conns, fin: 2 * conns, data: 2 * conns}
	want.total, want.payload, want.mptcp = got.total, got.payload, 0
	if got != want {
		t.Errorf("segments %+v, want %+v", got, want)
	}
	wantPayload := 0
	for i := range conns {
		wantPayload += 2 * len(fmt.Sprintf("hello %d\n", i))
	}
	if got.payload != wantPayload {
		t.Errorf("payload %d bytes, want %d", got.payload, wantPayload)
	}
	// Handshake (3) + data and its echo with ACKs (2..4) + close (3..4).
	if got.total < 8*conns || got.total > 11*conns {
		t.Errorf("%d segments for %d connections, want 8..11 each", got.total, conns)
	}
	seen := map[string]bool{}
	for _, f := range c.frames {
		if seen[string(f.Data)] {
			t.Errorf("frame at %v captured twice", f.Time)
		}
		seen[string(f.Data)] = true
		if f.WireLen < len(f.Data) || f.Time.Before(start.Add(-time.Minute)) {
			t.Errorf("frame with wire length %d, %d bytes, time %v", f.WireLen, len(f.Data), f.Time)
		}
	}

	st, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v, %d frames", st, len(c.frames))
	if st.Captured != uint64(len(c.frames)) || st.Dropped != 0 || st.Received < st.Captured {
		t.Errorf("stats %+v for %d frames", st, len(c.frames))
	}
}

// TestLiveStopRightAfterStart stops the capture as soon as it started, as
// the child does after a scenario that ended at once: the packets the
// kernel queued are read all the same. (When the child ran `go l.Run`, a
// Stop that came first closed the capture unread: "already stopped", no
// packets, about one run in 100 on a loaded machine.)
func TestLiveStopRightAfterStart(t *testing.T) {
	for i := range 20 {
		l := openLo(t, LiveOptions{})
		port := echoOverTCP(t, 1)
		c := collect(l)
		l.Stop()
		if err := <-c.done; err != nil {
			t.Fatalf("try %d: Run: %v", i, err)
		}
		if got := countSegments(t, c.frames, port); got.syn != 1 || got.fin != 2 || got.data != 2 {
			t.Fatalf("try %d: segments %+v, want the whole connection", i, got)
		}
	}
}

// TestLiveWaitsForABlockHandedOverLate stops a capture before the kernel
// handed over the block that holds a connection's packets: its retire
// timer runs every BlockTimeout, here 1 s, while Stop's quiet period is
// made 1 ms and Run wakes up every 5 ms (on a loaded machine the timer can
// be later than Stop's quiet period of two block timeouts). Run sees the
// kernel's counter ahead of what it read, and waits for the block.
func TestLiveWaitsForABlockHandedOverLate(t *testing.T) {
	l := openLo(t, LiveOptions{BlockTimeout: time.Second, StopWait: 5 * time.Second, pollTimeout: 5 * time.Millisecond})
	l.quietFor = time.Millisecond
	c := collect(l)
	port := echoOverTCP(t, 1)
	c.stop(t, l)
	if got := countSegments(t, c.frames, port); got.syn != 1 || got.fin != 2 || got.data != 2 {
		t.Errorf("segments %+v, want the whole connection", got)
	}
	st, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Unread != 0 || st.Captured != uint64(len(c.frames)) {
		t.Errorf("stats %+v for %d frames", st, len(c.frames))
	}
}

// TestLiveCountsWhatItCouldNotRead gives up on the block at once (StopWait
// far shorter than the retire timer): the packets left in it are counted as
// Unread, which the run reports, instead of vanishing.
func TestLiveCountsWhatItCouldNotRead(t *testing.T) {
	l := openLo(t, LiveOptions{BlockTimeout: 2 * time.Second, StopWait: time.Millisecond, pollTimeout: 5 * time.Millisecond})
	l.quietFor = time.Millisecond
	c := collect(l)
	port := echoOverTCP(t, 1)
	c.stop(t, l)
	st, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	got := countSegments(t, c.frames, port)
	t.Logf("stats %+v, segments read %+v", st, got)
	// Other traffic on the host's lo may fill in; what matters is that
	// every packet is either read or counted.
	if st.Captured+st.Unread < st.Received-st.Dropped {
		t.Errorf("stats %+v: packets neither read nor counted as unread", st)
	}
	if st.Unread < 10 || got.syn != 0 {
		t.Errorf("stats %+v, segments read %+v: want the connection's packets (8 to 11) unread", st, got)
	}
}

func TestLiveStopReturnsPromptlyWhenIdle(t *testing.T) {
	l := openLo(t, LiveOptions{BlockTimeout: 10 * time.Millisecond, StopWait: 300 * time.Millisecond})
	c := collect(l)
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	c.stop(t, l)
	// Quiet period (2×10 ms + 10 ms) plus one poll timeout; the host's lo
	// may be busy, then StopWait bounds it.
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Stop took %v", took)
	}
	l.Stop() // a second Stop is harmless
}

func TestLiveStopBeforeRun(t *testing.T) {
	l := openLo(t, LiveOptions{})
	l.Stop()
	if err := l.Run(func(trace.Frame) { t.Error("frame after Stop") }); err == nil {
		t.Error("Run after Stop returned nil, want an error")
	}
	if _, err := l.Stats(); err != nil {
		t.Errorf("Stats after Stop: %v", err)
	}
}

// TestOpenLiveWithoutCapNetRawIsErrPermission drops CAP_NET_RAW from one
// locked thread's effective set, so that root can check the non-root path.
func TestOpenLiveWithoutCapNetRawIsErrPermission(t *testing.T) {
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it exits with the goroutine and
		// takes the lowered capabilities with it.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- fmt.Errorf("capget: %w", err)
			return
		}
		data[0].Effective &^= 1 << unix.CAP_NET_RAW
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- fmt.Errorf("capset: %w", err)
			return
		}
		l, err := OpenLive("lo", LiveOptions{})
		if err == nil {
			l.Stop()
		}
		errc <- err
	}()
	err := <-errc
	if !errors.Is(err, ErrPermission) {
		t.Fatalf("OpenLive without CAP_NET_RAW: %v, want ErrPermission", err)
	}
	t.Log(err)
}

func TestOpenLiveOnMissingInterface(t *testing.T) {
	_, err := OpenLive("nosuchif0", LiveOptions{})
	if err == nil || errors.Is(err, ErrPermission) {
		t.Errorf("OpenLive(nosuchif0) = %v, want an interface error", err)
	}
}
