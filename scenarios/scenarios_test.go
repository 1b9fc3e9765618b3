package scenarios

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockscope/sockscope/trace"
)

// The scenarios on real sockets, without a capture: their calls, payloads,
// errnos and the kernel's states. The packets are the end-to-end tests'
// business (cmd/sockscope).

// runNamed runs a registered scenario and fails the test on any error or
// warning.
func runNamed(t *testing.T, name string, opts Options) []trace.Event {
	t.Helper()
	sc, ok := Lookup(name)
	if !ok {
		t.Fatalf("%s not registered", name)
	}
	evs, err := collect(t, context.Background(), sc, opts)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, n := range notes(evs) {
		t.Errorf("%s: note %s: %s", name, n.Level, n.Text)
	}
	return evs
}

func kernelStates(evs []trace.Event) []*trace.StateChange {
	var out []*trace.StateChange
	for _, ev := range evs {
		if ev.State != nil {
			out = append(out, ev.State)
		}
	}
	return out
}

// statesOf is the kernel's story of one socket: "CLOSED→LISTEN LISTEN→CLOSED".
func statesOf(evs []trace.Event, local, peer netip.AddrPort) string {
	var s []string
	for _, st := range kernelStates(evs) {
		if st.Endpoint == local && st.Peer == peer {
			s = append(s, fmt.Sprintf("%s→%s", st.From, st.To))
		}
	}
	return strings.Join(s, " ")
}

func lanesOps(cs []*trace.Call) map[string]string {
	m := map[string][]*trace.Call{}
	for _, c := range cs {
		m[c.Lane] = append(m[c.Lane], c)
	}
	out := map[string]string{}
	for l := range m {
		out[l] = ops(lane(cs, l))
	}
	return out
}

func sortedWords(s string) string {
	w := strings.Fields(s)
	slices.Sort(w)
	return strings.Join(w, " ")
}

// pyName is how an op appears in a Python listing.
var pyName = map[trace.Op][]string{
	trace.OpSocket: {"socket("}, trace.OpBind: {".bind("}, trace.OpListen: {".listen("},
	trace.OpAccept: {".accept()"}, trace.OpConnect: {".connect("}, trace.OpSend: {".send(", ".sendall("},
	trace.OpRecv: {".recv("}, trace.OpSendto: {".sendto("}, trace.OpRecvfrom: {".recvfrom("},
	trace.OpShutdown: {".shutdown("}, trace.OpClose: {".close()"}, trace.OpSetsockopt: {".setsockopt("},
}

// Every scenario makes the same calls in every run, lane by lane, each
// pointing at a listing line that makes it, and ends without a warning.
func TestEveryScenarioIsDeterministicAndFollowsItsListing(t *testing.T) {
	want := map[string]map[string]string{
		"tcp-echo": {
			"server": "socket bind listen accept recv send recv send recv send recv close close",
			"client": "socket connect send recv send recv send recv close",
		},
		"ipv6": {
			"server": "socket bind listen accept recv send recv send recv send recv close close",
			"client": "socket connect send recv send recv send recv close",
		},
		"hello": {
			// Two server threads at once: their calls interleave.
			"server":  "~socket bind listen accept accept send recv send recv send recv send recv close send recv send recv send recv send recv close close",
			"client1": "socket connect recv send recv send recv send recv send close",
			"client2": "socket connect recv send recv send recv send recv send close",
		},
		"chat": {
			"server": "socket bind listen accept recv send recv send recv close close",
			"client": "socket connect send recv send recv close",
		},
		"http-get": {
			"server": "socket bind listen accept recv send close close",
			"client": "socket connect send recv recv recv recv recv close",
		},
		"request-reply": {
			"server": "socket bind listen accept recv send close close",
			"client": "socket connect send recv close",
		},
		"udp-echo": {
			"server": "socket bind recvfrom sendto recvfrom sendto recvfrom sendto close",
			"client": "socket sendto recv sendto recv sendto recv close",
		},
		"refused":    {"client": "socket connect close"},
		"half-close": {"server": "socket bind listen accept recv recv send close close", "client": "socket connect send shutdown recv recv close"},
		"reset": {
			"server": "socket bind listen accept recv recv close accept recv close close",
			"client": "socket setsockopt connect send close socket connect send recv close",
		},
		"boundaries": {
			"server": "socket bind listen accept recv send recv recv recv recv recv recv close close socket bind recvfrom recvfrom recvfrom recvfrom recvfrom close",
			"client": "socket connect send send send recv send close socket sendto sendto sendto sendto sendto close",
		},
		"backlog": {
			"server":  "socket bind listen accept send close accept send close accept send close close",
			"client1": "socket connect recv recv close",
			"client2": "socket connect recv recv close",
			"client3": "socket connect recv recv close",
		},
		"udp-unreachable": {"client": "socket setsockopt sendto recvfrom close socket connect send recv close"},
		"addr-in-use": {
			"server": "socket setsockopt bind listen accept send close close socket bind setsockopt bind listen close",
			"client": "socket connect recv recv close",
		},
		"bulk": {
			// 2 MB in 1 MB sends; the recvs depend on timing.
			"client": "socket connect send send close",
		},
	}
	for _, sc := range All() {
		t.Run(sc.Name, func(t *testing.T) {
			noLeaks(t)
			opts := Options{}
			if sc.Name == "bulk" {
				opts.Bytes = 2 << 20
			}
			evs := runNamed(t, sc.Name, opts)
			cs := calls(evs)
			got := lanesOps(cs)
			w, ok := want[sc.Name]
			if !ok {
				t.Fatalf("no expected calls for %s: %v", sc.Name, got)
			}
			for l, ops := range w {
				g := got[l]
				if interleaved, ok := strings.CutPrefix(ops, "~"); ok {
					ops, g = sortedWords(interleaved), sortedWords(g)
				}
				if g != ops {
					t.Errorf("lane %s:\n got %s\nwant %s", l, g, ops)
				}
			}
			for l := range got {
				if _, ok := w[l]; !ok && sc.Name != "bulk" {
					t.Errorf("unexpected lane %s: %s", l, got[l])
				}
			}
			lines := strings.Split(sc.Listing, "\n")
			for _, c := range cs {
				if c.Line < 1 || c.Line > len(lines) {
					t.Errorf("#%d %s %s: line %d", c.ID, c.Lane, c.Op, c.Line)
					continue
				}
				l := lines[c.Line-1]
				if !slices.ContainsFunc(pyName[c.Op], func(s string) bool { return strings.Contains(l, s) }) {
					t.Errorf("#%d %s %s: line %d is %q", c.ID, c.Lane, c.Op, c.Line, l)
				}
				if c.Proto == "udp" && c.State != "" {
					t.Errorf("#%d %s: a UDP socket with TCP state %s", c.ID, c.Op, c.State)
				}
			}
		})
	}
}

// The kernel's states become StateChange events: one per change, each
// starting where the last one of its socket ended, read after the call.
func TestKernelStateChangesFollowEachSocket(t *testing.T) {
	noLeaks(t)
	evs := runNamed(t, "tcp-echo", Options{})
	cs := calls(evs)
	server, client := lane(cs, "server"), lane(cs, "client")
	listener, accepted, connected := server[2].Local, server[3], client[1]

	if got := statesOf(evs, listener, netip.AddrPort{}); got != "CLOSED→LISTEN LISTEN→CLOSED" {
		t.Errorf("listener: %s", got)
	}
	// The accepted socket is new to the program: the kernel was never
	// asked about it before (its SYN_RECV is inferred from packets).
	if got := statesOf(evs, accepted.Local, accepted.Remote); got != "→ESTABLISHED ESTABLISHED→CLOSE_WAIT CLOSE_WAIT→CLOSED" &&
		got != "→ESTABLISHED ESTABLISHED→CLOSE_WAIT CLOSE_WAIT→LAST_ACK" {
		t.Errorf("server's connection: %s", got)
	}
	got := statesOf(evs, connected.Local, connected.Remote)
	if !strings.HasPrefix(got, "CLOSED→ESTABLISHED ESTABLISHED→") || strings.Count(got, "→") != 2 {
		t.Errorf("client: %s", got)
	}
	last := map[[2]netip.AddrPort]trace.State{}
	for _, ev := range evs {
		st := ev.State
		if st == nil {
			continue
		}
		if st.Source != trace.SourceKernel || st.Conn != 0 {
			t.Errorf("state %+v: want source kernel, conn 0", st)
		}
		k := [2]netip.AddrPort{st.Endpoint, st.Peer}
		prev, seen := last[k]
		if !seen {
			prev = st.From // a new socket: CLOSED, or unknown for an accepted one
		}
		if st.From != prev || st.From == st.To || !seen && st.From != trace.StateClosed && st.From != trace.StateUnknown {
			t.Errorf("%s: %s→%s after %s", st.Endpoint, st.From, st.To, last[k])
		}
		last[k] = st.To
		if st.TimeLeft != 0 && st.To != trace.StateTimeWait && st.To != trace.StateFinWait2 {
			t.Errorf("%s→%s with time left %s", st.From, st.To, st.TimeLeft)
		}
		if st.To == trace.StateTimeWait && (st.TimeLeft <= 50*time.Second || st.TimeLeft > 60*time.Second) {
			t.Errorf("TIME_WAIT with %s left, want just under 60 s", st.TimeLeft)
		}
	}
	// Each state event follows the call whose state it is.
	for i, ev := range evs {
		if ev.State == nil {
			continue
		}
		if i == 0 || evs[i-1].Call == nil || evs[i-1].Call.State != ev.State.To || ev.State.Time.Before(evs[i-1].Call.End) {
			t.Errorf("state %s→%s does not follow its call", ev.State.From, ev.State.To)
		}
	}
}

// Every client has its own ephemeral port; all the server's accepted
// sockets share the listener's address: only the four-tuple tells them
// apart.
func TestHelloClientsShareTheServerAddressNotTheFourTuple(t *testing.T) {
	noLeaks(t)
	evs := runNamed(t, "hello", Options{Clients: 3})
	cs := calls(evs)
	server := lane(cs, "server")
	listener := server[2].Local
	tuples := map[[2]netip.AddrPort]bool{}
	ports := map[uint16]bool{}
	for i := range 3 {
		cl := lane(cs, fmt.Sprintf("client%d", i+1))
		if len(cl) != 11 {
			t.Fatalf("client%d: %s", i+1, ops(cl))
		}
		conn := cl[1]
		if conn.Remote != listener || conn.Local.Addr() != listener.Addr() {
			t.Errorf("client%d connected %s→%s", i+1, conn.Local, conn.Remote)
		}
		ports[conn.Local.Port()] = true
		tuples[[2]netip.AddrPort{conn.Local, conn.Remote}] = true
		want := []string{"Welcome!", "", "Hello, Michael!", "", "Hello, Tracy!", "", "Hello, Sarah!"}
		for j, w := range want {
			if c := cl[2+j]; w != "" && string(c.Data) != w {
				t.Errorf("client%d %s: %q, want %q", i+1, c.Op, c.Data, w)
			}
		}
		if c := cl[9]; string(c.Data) != "exit" {
			t.Errorf("client%d sent %q last", i+1, c.Data)
		}
		// The client closes first: the server's close of this
		// connection comes after it.
		var serverClose *trace.Call
		for _, c := range server {
			if c.Op == trace.OpClose && c.Remote == conn.Local {
				serverClose = c
			}
		}
		if serverClose == nil || serverClose.Start.Before(cl[10].End) {
			t.Errorf("client%d: the server's close does not follow the client's", i+1)
		} else if serverClose.State != trace.StateClosed && serverClose.State != trace.StateLastAck {
			t.Errorf("client%d: the server's close left %s", i+1, serverClose.State)
		}
	}
	if len(ports) != 3 || len(tuples) != 3 {
		t.Errorf("%d client ports, %d four-tuples, want 3 each", len(ports), len(tuples))
	}
	for _, c := range server {
		if c.Op == trace.OpAccept && (c.Local != listener || !tuples[[2]netip.AddrPort{c.Remote, c.Local}]) {
			t.Errorf("accept %s←%s", c.Local, c.Remote)
		}
	}
}

func TestChatClientQuitsOnQ(t *testing.T) {
	noLeaks(t)
	evs := runNamed(t, "chat", Options{Message: []string{"hi", "q", "never sent"}})
	cs := calls(evs)
	client, server := lane(cs, "client"), lane(cs, "server")
	if got := ops(client); got != "socket connect send recv close" {
		t.Fatalf("client: %s", got)
	}
	if string(client[2].Data) != "hi" || string(client[3].Data) != chatReplies[0] {
		t.Errorf("client: sent %q, read %q", client[2].Data, client[3].Data)
	}
	if last := server[len(server)-3]; last.Op != trace.OpRecv || last.Ret != 0 {
		t.Errorf("server's last recv: %s", last)
	}
}

// The server closes first; the client reads the page 1024 bytes at a time
// until recv returns 0; the server's end ends in TIME_WAIT.
func TestHTTPGetServerClosesFirstIntoTimeWait(t *testing.T) {
	noLeaks(t)
	evs := runNamed(t, "http-get", Options{})
	cs := calls(evs)
	client, server := lane(cs, "client"), lane(cs, "server")
	if !strings.HasPrefix(string(client[2].Data), "GET / HTTP/1.1\r\nHost: ") || !strings.Contains(string(client[2].Data), "Connection: close\r\n\r\n") {
		t.Errorf("request %q", client[2].Data)
	}
	resp := server[5]
	total := 0
	for _, c := range client[3 : len(client)-1] {
		if c.Len != 1024 || c.Ret > 1024 {
			t.Errorf("recv(%d) = %d", c.Len, c.Ret)
		}
		total += c.Ret
	}
	if total != resp.Ret || resp.Ret != resp.Len || resp.Ret < 3000 {
		t.Errorf("client read %d bytes, the server sent %d of %d", total, resp.Ret, resp.Len)
	}
	if r := client[len(client)-2]; r.Ret != 0 {
		t.Errorf("last recv = %d", r.Ret)
	}
	conn := server[3]
	// The server's close is entered first: its FIN is what makes the
	// client's recv return 0. (When it returns is up to the scheduler: a
	// descheduled server thread may return after the client closed too.)
	if c := server[6]; c.Op != trace.OpClose || c.Start.After(client[len(client)-1].Start) {
		t.Errorf("the server's close does not come first")
	} else if c.State != trace.StateFinWait1 && c.State != trace.StateFinWait2 && c.State != trace.StateTimeWait {
		// Read after close returned: a quick client may already have
		// answered with its own FIN (TIME_WAIT), under load especially.
		t.Errorf("server close: %s", c.State)
	}
	d, err := openDiffer()
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	if st, err := d.state(unix.AF_INET, conn.Local, conn.Remote); err != nil || st.state != trace.StateTimeWait {
		t.Errorf("the server's end after the run: %q %v", st.state, err)
	}
}

func TestRequestReplySendallIsOneSendAndTheServerClosesFirst(t *testing.T) {
	noLeaks(t)
	evs := runNamed(t, "request-reply", Options{})
	cs := calls(evs)
	client, server := lane(cs, "client"), lane(cs, "server")
	if server[2].Backlog != 3 {
		t.Errorf("listen(%d)", server[2].Backlog)
	}
	if c := client[2]; string(c.Data) != "can you hear me?" || c.Ret != c.Len || c.Line != lineOf(requestReplyListing, "s.sendall(") {
		t.Errorf("client sendall: %s line %d", c, c.Line)
	}
	if c := server[5]; string(c.Data) != "Yes" || c.Line != lineOf(requestReplyListing, "conn.sendall(") {
		t.Errorf("server sendall: %s", c)
	}
	if string(client[3].Data) != "Yes" {
		t.Errorf("client read %q", client[3].Data)
	}
	if server[6].End.After(client[4].Start) {
		t.Error("the client closed before the server")
	}
	if s := client[4].State; s != trace.StateLastAck && s != trace.StateClosed {
		t.Errorf("client close: %s", s)
	}
}

func TestUDPEchoHasNoConnection(t *testing.T) {
	noLeaks(t)
	evs := runNamed(t, "udp-echo", Options{Message: []string{"Ann", "Bob"}})
	cs := calls(evs)
	client, server := lane(cs, "client"), lane(cs, "server")
	if got := ops(client); got != "socket sendto recv sendto recv close" {
		t.Fatalf("client: %s", got)
	}
	for i, name := range []string{"Ann", "Bob"} {
		from := server[2+2*i]
		if string(from.Data) != name || from.Remote.Port() != client[1].Local.Port() {
			t.Errorf("recvfrom %q from %s, client at %s", from.Data, from.Remote, client[1].Local)
		}
		if got := string(client[2+2*i].Data); got != "Hello, "+name+"!" {
			t.Errorf("client read %q", got)
		}
	}
	if n := len(kernelStates(evs)); n != 0 {
		t.Errorf("%d TCP state changes for UDP sockets", n)
	}
}

func TestRefusedScenarioConnectGetsECONNREFUSED(t *testing.T) {
	noLeaks(t)
	evs := runNamed(t, "refused", Options{})
	c := calls(evs)[1]
	if c.Errno != "ECONNREFUSED" || c.Ret != -1 || c.State != trace.StateClosed {
		t.Errorf("connect: %s [%s]", c, c.State)
	}
	// The SYN left from 127.0.0.1, although getsockname says 0.0.0.0
	// once the connect failed.
	if c.Local.Addr() != netip.MustParseAddr("127.0.0.1") || c.Local.Port() == 0 {
		t.Errorf("connect from %s", c.Local)
	}
	if n := len(kernelStates(evs)); n != 0 {
		t.Errorf("%d state changes: CLOSED all along", n)
	}
}

// After shutdown(SHUT_WR) the client still receives; its connection ends
// in TIME_WAIT while its fd is still open.
func TestHalfCloseClientReadsAfterItsFIN(t *testing.T) {
	noLeaks(t)
	evs := runNamed(t, "half-close", Options{Message: []string{"abc"}})
	cs := calls(evs)
	client, server := lane(cs, "client"), lane(cs, "server")
	if c := client[3]; c.How != "SHUT_WR" || (c.State != trace.StateFinWait1 && c.State != trace.StateFinWait2 && c.State != trace.StateTimeWait) {
		t.Errorf("shutdown: %s [%s]", c, c.State)
	}
	if c := client[4]; string(c.Data) != "ABC" || c.Start.Before(client[3].End) {
		t.Errorf("recv after shutdown: %q", c.Data)
	}
	if c := server[5]; c.Ret != 0 || c.State != trace.StateCloseWait {
		t.Errorf("server's recv of the FIN: %s [%s]", c, c.State)
	}
	if c := server[6]; string(c.Data) != "ABC" || c.State != trace.StateCloseWait {
		t.Errorf("server's answer after the FIN: %s [%s]", c, c.State)
	}
	// TCP_INFO says CLOSED once the FIN arrives in FIN_WAIT2 (the kernel
	// hands the connection to a time-wait socket): the state is TIME_WAIT.
	if c := client[5]; c.Ret != 0 || c.State != trace.StateTimeWait {
		t.Errorf("client's last recv: %s [%s]", c, c.State)
	}
	// (shutdown may return after the server's FIN: then the kernel
	// already says TIME_WAIT.)
	if got := statesOf(evs, client[1].Local, client[1].Remote); !strings.HasPrefix(got, "CLOSED→ESTABLISHED ESTABLISHED→") ||
		!strings.HasSuffix(got, "→TIME_WAIT") || strings.Contains(got, "→CLOSED") {
		t.Errorf("client's states: %s", got)
	}
}

func TestResetAbortsBothWays(t *testing.T) {
	noLeaks(t)
	evs := runNamed(t, "reset", Options{})
	cs := calls(evs)
	client, server := lane(cs, "client"), lane(cs, "server")
	if c := client[1]; c.Option != "SO_LINGER={1,0}" {
		t.Errorf("setsockopt: %s", c)
	}
	if c := client[4]; c.State != trace.StateClosed {
		t.Errorf("close with linger 0: %s, want CLOSED (no TIME_WAIT)", c.State)
	}
	if c := server[5]; c.Errno != "ECONNRESET" || string(server[4].Data) != "hello" {
		t.Errorf("server: read %q, then %s", server[4].Data, c)
	}
	if c := server[8]; c.Ret != 5 || c.Len != 5 {
		t.Errorf("server's recv(5): %s", c)
	}
	if c := server[9]; c.State != trace.StateClosed {
		t.Errorf("server's close with unread data: %s", c.State)
	}
	if c := client[8]; c.Errno != "ECONNRESET" {
		t.Errorf("client: %s", c)
	}
	d, err := openDiffer()
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	for _, c := range []*trace.Call{client[2], client[6]} {
		if st, err := d.state(unix.AF_INET, c.Local, c.Remote); err != nil || st.state != trace.StateClosed {
			t.Errorf("%s→%s after a RST: %s %v", c.Local, c.Remote, st.state, err)
		}
	}
}

func TestIPv6ScenarioUsesLoopbackSix(t *testing.T) {
	noLeaks(t)
	sc, _ := Lookup("ipv6")
	evs, err := collect(t, context.Background(), sc, Options{})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	for _, c := range calls(evs) {
		if c.Op == trace.OpSocket && c.Family != "AF_INET6" {
			t.Errorf("socket(%s)", c.Family)
		}
		if c.Local.IsValid() && c.Local.Addr() != netip.IPv6Loopback() {
			t.Errorf("#%d %s on %s", c.ID, c.Op, c.Local)
		}
	}
}

func TestBoundariesStreamAndDatagrams(t *testing.T) {
	noLeaks(t)
	evs := runNamed(t, "boundaries", Options{})
	cs := calls(evs)
	server := lane(cs, "server")
	if c := server[4]; string(c.Data) != "onetwothree" {
		t.Errorf("one recv of three sends: %q", c.Data)
	}
	var pieces []int
	var got []byte
	for _, c := range server[6:11] {
		pieces = append(pieces, c.Ret)
		got = append(got, c.Data...)
	}
	if fmt.Sprint(pieces) != "[1024 1024 1024 1024 904]" {
		t.Errorf("recv(1024) pieces of 5000 bytes: %v", pieces)
	}
	if !bytes.HasPrefix(boundBig, got[:256]) {
		t.Errorf("first piece %q", got[:20])
	}
	var dgrams []string
	for _, c := range server {
		if c.Op == trace.OpRecvfrom {
			dgrams = append(dgrams, fmt.Sprintf("%d:%.5s", c.Ret, c.Data))
		}
	}
	if got := strings.Join(dgrams, " "); got != "3:one 3:two 5:three 1024:xxxxx 4:last" {
		t.Errorf("datagrams: %s", got)
	}
}

// listen(1): two handshakes wait in the queue, the third client's SYN is
// dropped and resent after 1 s; it gets through once the server accepts.
func TestBacklogDropsTheThirdSYN(t *testing.T) {
	noLeaks(t)
	evs := runNamed(t, "backlog", Options{})
	cs := calls(evs)
	server := lane(cs, "server")
	firstAccept := server[3]
	if firstAccept.Op != trace.OpAccept || server[2].Backlog != 1 {
		t.Fatalf("server: %s", ops(server))
	}
	for i, name := range []string{"client1", "client2", "client3"} {
		conn := lane(cs, name)[1]
		// The state is read after connect returned: by then a fast server
		// may already have answered and closed (CLOSE_WAIT).
		if conn.Errno != "" || (conn.State != trace.StateEstablished && conn.State != trace.StateCloseWait) {
			t.Errorf("%s connect: %s [%s]", name, conn, conn.State)
		}
		queued := conn.End.Before(firstAccept.Start)
		if i < 2 && !queued {
			t.Errorf("%s: connect returned %s after the first accept: the queue should hold it", name, conn.End.Sub(firstAccept.Start))
		}
		// The kernel resends a first SYN after 1 s (TCP_TIMEOUT_INIT).
		if i == 2 && (queued || conn.End.Sub(conn.Start) < 900*time.Millisecond) {
			t.Errorf("%s: connect took %s, want a retransmitted SYN (about 1 s)", name, conn.End.Sub(conn.Start))
		}
	}
}

func TestUDPUnreachableOnlyTheConnectedSocketHears(t *testing.T) {
	noLeaks(t)
	evs := runNamed(t, "udp-unreachable", Options{})
	cs := calls(evs)
	if c := cs[1]; c.Option != "SO_RCVTIMEO=1s" {
		t.Errorf("setsockopt: %s", c)
	}
	if c := cs[3]; c.Op != trace.OpRecvfrom || c.Errno != "EAGAIN" || c.End.Sub(c.Start) < 900*time.Millisecond {
		t.Errorf("unconnected recvfrom: %s after %s", c, c.End.Sub(c.Start))
	}
	if c := cs[8]; c.Op != trace.OpRecv || c.Errno != "ECONNREFUSED" {
		t.Errorf("connected recv: %s", c)
	}
	if cs[2].Remote != cs[6].Remote {
		t.Errorf("two different closed ports: %s, %s", cs[2].Remote, cs[6].Remote)
	}
}

func TestAddrInUseUntilSOReuseaddr(t *testing.T) {
	noLeaks(t)
	evs := runNamed(t, "addr-in-use", Options{})
	cs := calls(evs)
	server := lane(cs, "server")
	first, fail, opt, ok := server[2], server[9], server[10], server[11]
	if fail.Errno != "EADDRINUSE" || fail.Local != first.Local {
		t.Errorf("rebind: %s, first bind %s", fail, first.Local)
	}
	if opt.Option != "SO_REUSEADDR=1" || ok.Errno != "" || ok.Local != first.Local {
		t.Errorf("then %s, %s", opt, ok)
	}
	// What held the port: the server's old connection, still in
	// TIME_WAIT (for 60 s).
	conn := server[4]
	d, err := openDiffer()
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	if st, err := d.state(unix.AF_INET, conn.Local, conn.Remote); err != nil || st.state != trace.StateTimeWait {
		t.Errorf("the old connection %s→%s: %s %v", conn.Local, conn.Remote, st.state, err)
	}
}

func TestBulkMovesEveryByte(t *testing.T) {
	noLeaks(t)
	const n = 3<<20 + 12345
	evs := runNamed(t, "bulk", Options{Bytes: n})
	var sent, got int
	for _, c := range calls(evs) {
		switch c.Op {
		case trace.OpSend:
			sent += c.Ret
		case trace.OpRecv:
			got += c.Ret
			if c.Len != bulkRecvSize {
				t.Errorf("recv(%d)", c.Len)
			}
		}
	}
	if sent != n || got != n {
		t.Errorf("sent %d, received %d, want %d", sent, got, n)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"5000": 5000, "8M": 8 << 20, "256MB": 256 << 20, "1G": 1 << 30, "2KiB": 2048, "3k": 3072} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "8X", "M", "1.5G", "99999999999G"} {
		if got, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", in, got)
		}
	}
}
