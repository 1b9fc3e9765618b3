package scenarios

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockscope/sockscope/trace"
)

// noLeaks fails the test if the goroutines or open fds at its end differ
// from those at its start.
func noLeaks(t *testing.T) {
	t.Helper()
	// The runtime opens its poller's two fds with the first timer.
	time.Sleep(time.Millisecond)
	fds, gs := openFDs(t), runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > gs && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > gs {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines before, %d after:\n%s", gs, n, buf[:runtime.Stack(buf, true)])
		}
		if n := openFDs(t); n != fds {
			t.Errorf("%d fds open before, %d after", fds, n)
		}
	})
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1 // ReadDir's own fd
}

// script makes a one-off scenario.
func script(run func(*Env) error) *Scenario {
	return &Scenario{Name: "test", Run: run}
}

func TestTimeoutEndsStuckAccept(t *testing.T) {
	noLeaks(t)
	sc := script(func(env *Env) error {
		s, err := env.Socket("server", unix.AF_INET, unix.SOCK_STREAM)
		if err != nil {
			return err
		}
		if err := s.Bind(env.Addr()); err != nil {
			return err
		}
		if err := s.Listen(1); err != nil {
			return err
		}
		_, err = s.Accept() // nobody connects
		return err
	})
	start := time.Now()
	evs, err := collect(t, context.Background(), sc, Options{Timeout: 200 * time.Millisecond})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 200ms") {
		t.Errorf("err = %v, want a timeout", err)
	}
	if got := ops(calls(evs)); got != "socket bind listen" {
		t.Errorf("calls: %s (the interrupted accept must not be recorded)", got)
	}
	ns := notes(evs)
	if len(ns) != 1 || ns[0].Level != "error" || !strings.Contains(ns[0].Text, "timed out after 200ms") ||
		!strings.Contains(ns[0].Text, "interrupted: server accept(") || !strings.Contains(ns[0].Text, "closed 1 socket") {
		t.Errorf("notes: %+v", ns)
	}
}

func TestTimeoutEndsStuckRecvfrom(t *testing.T) {
	noLeaks(t)
	sc := script(func(env *Env) error {
		s, err := env.Socket("server", unix.AF_INET, unix.SOCK_DGRAM)
		if err != nil {
			return err
		}
		if err := s.Bind(env.Addr()); err != nil {
			return err
		}
		_, _, err = s.Recvfrom(1024)
		return err
	})
	evs, err := collect(t, context.Background(), sc, Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
	if got := ops(calls(evs)); got != "socket bind" {
		t.Errorf("calls: %s", got)
	}
}

// A lane blocked in recv on a connected socket returns when the caller's
// context is cancelled.
func TestCancelEndsStuckRecv(t *testing.T) {
	noLeaks(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc := script(func(env *Env) error {
		l, c, conn, err := pair(env)
		if err != nil {
			return err
		}
		_, _ = l, conn
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err = c.Recv(10) // the server never sends
		return err
	})
	evs, err := collect(t, ctx, sc, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
	if got := ops(calls(evs)); got != "socket bind listen socket connect accept" {
		t.Errorf("calls: %s", got)
	}
	if ns := notes(evs); len(ns) != 1 || !strings.Contains(ns[0].Text, "interrupted: client recv(") {
		t.Errorf("notes: %+v", ns)
	}
}

// pair makes a listener, a client connected to it and the accepted socket.
func pair(env *Env) (l, c, conn *Sock, err error) {
	if l, err = env.Socket("server", unix.AF_INET, unix.SOCK_STREAM); err != nil {
		return
	}
	if err = l.Bind(env.Addr()); err != nil {
		return
	}
	if err = l.Listen(1); err != nil {
		return
	}
	if c, err = env.Socket("client", unix.AF_INET, unix.SOCK_STREAM); err != nil {
		return
	}
	if err = c.Connect(l.Local()); err != nil { // completes from the backlog
		return
	}
	conn, err = l.Accept()
	return
}

func TestRefused(t *testing.T) {
	noLeaks(t)
	// A port nobody listens on: bind one, note it, close it.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	unix.Close(fd)
	dead := addrPort(sa)

	sc := script(func(env *Env) error {
		c, err := env.At(7).Socket("client", unix.AF_INET, unix.SOCK_STREAM)
		if err != nil {
			return err
		}
		err = c.At(8).Connect(dead)
		if !errors.Is(err, unix.ECONNREFUSED) {
			t.Errorf("connect: %v", err)
		}
		return c.Close()
	})
	evs, err := collect(t, context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs := calls(evs)
	if got := ops(cs); got != "socket connect close" {
		t.Fatalf("calls: %s", got)
	}
	con := cs[1]
	if con.Errno != "ECONNREFUSED" || con.Ret != -1 || con.Remote != dead || con.State != trace.StateClosed || con.Line != 8 {
		t.Errorf("connect: %s errno %s remote %s state %s line %d", con, con.Errno, con.Remote, con.State, con.Line)
	}
	if got, want := con.String(), fmt.Sprintf("connect(%d, %s) = -1 ECONNREFUSED", con.FD, dead); got != want {
		t.Errorf("connect renders as %q", got)
	}
	if cs[0].Line != 7 || cs[2].Line != 0 {
		t.Errorf("lines %d %d", cs[0].Line, cs[2].Line)
	}
	if cs[2].State != trace.StateClosed {
		t.Errorf("close: state %q", cs[2].State)
	}
}

// A failed lane stops the others and is what Run returns.
func TestFailedLaneStopsRun(t *testing.T) {
	noLeaks(t)
	sc := script(func(env *Env) error {
		env.Go(func() error {
			l, err := env.Socket("server", unix.AF_INET, unix.SOCK_STREAM)
			if err != nil {
				return err
			}
			if err := l.Bind(env.Addr()); err != nil {
				return err
			}
			if err := l.Listen(1); err != nil {
				return err
			}
			_, err = l.Accept()
			return err
		})
		env.Go(func() error {
			c, err := env.Socket("client", unix.AF_INET, unix.SOCK_STREAM)
			if err != nil {
				return err
			}
			return c.Connect(netip.MustParseAddrPort("127.0.0.1:1"))
		})
		return nil
	})
	evs, err := collect(t, context.Background(), sc, Options{})
	if !errors.Is(err, unix.ECONNREFUSED) || !strings.HasPrefix(err.Error(), "client: connect: ") {
		t.Errorf("err = %v", err)
	}
	ns := notes(evs)
	if len(ns) != 1 || ns[0].Level != "error" || !strings.Contains(ns[0].Text, "connection refused") {
		t.Errorf("notes: %+v", ns)
	}
}

// SO_LINGER {1,0}: close() aborts the connection with a RST, so nothing
// outlives the fd and the peer's recv fails with ECONNRESET.
func TestLingerAbort(t *testing.T) {
	noLeaks(t)
	sc := script(func(env *Env) error {
		l, c, conn, err := pair(env)
		if err != nil {
			return err
		}
		if err := c.SetLinger(true, 0); err != nil {
			return err
		}
		if err := c.Close(); err != nil {
			return err
		}
		if _, err := conn.Recv(10); !errors.Is(err, unix.ECONNRESET) {
			t.Errorf("recv after RST: %v", err)
		}
		if err := conn.Close(); err != nil {
			return err
		}
		return l.Close()
	})
	evs, err := collect(t, context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs := calls(evs)
	if got := ops(cs); got != "socket bind listen socket connect accept setsockopt close recv close close" {
		t.Fatalf("calls: %s", got)
	}
	if cs[6].Option != "SO_LINGER={1,0}" || cs[6].Signature() != fmt.Sprintf("setsockopt(%d, SO_LINGER={1,0})", cs[6].FD) {
		t.Errorf("setsockopt: %s", cs[6])
	}
	if cs[7].State != trace.StateClosed {
		t.Errorf("aborting close: state %q", cs[7].State)
	}
	if cs[8].Errno != "ECONNRESET" || cs[8].State != trace.StateClosed {
		t.Errorf("recv: %s state %q", cs[8], cs[8].State)
	}
}

// The server closes first, so the server's side ends in TIME_WAIT.
func TestServerClosesFirst(t *testing.T) {
	noLeaks(t)
	sc := script(func(env *Env) error {
		l, c, conn, err := pair(env)
		if err != nil {
			return err
		}
		if err := l.SetReuseAddr(true); err != nil {
			return err
		}
		if err := conn.Close(); err != nil {
			return err
		}
		if b, err := c.Recv(10); err != nil || len(b) != 0 {
			t.Errorf("client recv: %q %v", b, err)
		}
		if err := c.Close(); err != nil {
			return err
		}
		return l.Close()
	})
	evs, err := collect(t, context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs := calls(evs)
	if got := ops(cs); got != "socket bind listen socket connect accept setsockopt close recv close close" {
		t.Fatalf("calls: %s", got)
	}
	if cs[6].Option != "SO_REUSEADDR=1" {
		t.Errorf("setsockopt: %s", cs[6])
	}
	for _, tc := range []struct {
		c    *trace.Call
		want []trace.State
	}{
		{cs[7], []trace.State{trace.StateFinWait1, trace.StateFinWait2}},
		{cs[8], []trace.State{trace.StateCloseWait}},
		{cs[9], []trace.State{trace.StateLastAck, trace.StateClosed}},
		{cs[10], []trace.State{trace.StateClosed}},
	} {
		if !slices.Contains(tc.want, tc.c.State) {
			t.Errorf("%s: state %q, want one of %q", tc.c, tc.c.State, tc.want)
		}
	}
	// The server's connection is in TIME_WAIT now, without an fd.
	d, err := openDiffer()
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	st, err := d.state(unix.AF_INET, cs[5].Local, cs[5].Remote)
	if err != nil || st.state != trace.StateTimeWait {
		t.Errorf("server side after both closes: %q %v", st.state, err)
	}
	// Linux's TIME_WAIT lasts 60 s (TCP_TIMEWAIT_LEN); this one has just begun.
	if st.left <= 50*time.Second || st.left > 60*time.Second {
		t.Errorf("TIME_WAIT time left: %s", st.left)
	}
}

func TestUDP(t *testing.T) {
	noLeaks(t)
	sc := script(func(env *Env) error {
		s, err := env.Socket("server", unix.AF_INET, unix.SOCK_DGRAM)
		if err != nil {
			return err
		}
		if err := s.Bind(env.Addr()); err != nil {
			return err
		}
		c, err := env.Socket("client", unix.AF_INET, unix.SOCK_DGRAM)
		if err != nil {
			return err
		}
		if _, err := c.Sendto([]byte("Michael"), s.Local()); err != nil {
			return err
		}
		b, from, err := s.Recvfrom(1024)
		if err != nil {
			return err
		}
		// An unconnected UDP socket is bound to the wildcard address:
		// getsockname says 0.0.0.0, the datagram says 127.0.0.1.
		if string(b) != "Michael" || from.Port() != c.Local().Port() || c.Local().Addr() != netip.IPv4Unspecified() {
			t.Errorf("recvfrom: %q from %s, client is %s", b, from, c.Local())
		}
		if _, err := s.Sendto([]byte("Hello, Michael!"), from); err != nil {
			return err
		}
		if b, _, err = c.Recvfrom(1024); err != nil || string(b) != "Hello, Michael!" {
			t.Errorf("client recvfrom: %q %v", b, err)
		}
		if err := c.Close(); err != nil {
			return err
		}
		return s.Close()
	})
	evs, err := collect(t, context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs := calls(evs)
	if got := ops(cs); got != "socket bind socket sendto recvfrom sendto recvfrom close close" {
		t.Fatalf("calls: %s", got)
	}
	for _, c := range cs {
		if c.Proto != "udp" || c.State != "" || c.Errno != "" {
			t.Errorf("%s: proto %q state %q", c, c.Proto, c.State)
		}
	}
	send, recv := cs[3], cs[4]
	if send.Local.Port() != recv.Remote.Port() || send.Remote != recv.Local || !send.Local.IsValid() {
		t.Errorf("sendto %s→%s, recvfrom %s←%s", send.Local, send.Remote, recv.Local, recv.Remote)
	}
	if got := recv.String(); !strings.HasSuffix(got, `= 7 "Michael" from `+recv.Remote.String()) || recv.Remote.Addr().String() != "127.0.0.1" {
		t.Errorf("recvfrom renders as %q", got)
	}
}

// A closed Sock makes no system call: its fd number may belong to a new
// socket already.
func TestClosedSock(t *testing.T) {
	noLeaks(t)
	sc := script(func(env *Env) error {
		s, err := env.Socket("client", unix.AF_INET, unix.SOCK_STREAM)
		if err != nil {
			return err
		}
		if err := s.Close(); err != nil {
			return err
		}
		if err := s.Close(); err != nil {
			t.Errorf("second close: %v", err)
		}
		if _, err := s.Send([]byte("x")); !errors.Is(err, unix.EBADF) {
			t.Errorf("send after close: %v", err)
		}
		return nil
	})
	evs, err := collect(t, context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ops(calls(evs)); got != "socket close" {
		t.Errorf("calls: %s", got)
	}
}

func TestPace(t *testing.T) {
	noLeaks(t)
	start := time.Now()
	evs, err := collect(t, context.Background(), tcpEcho, Options{Pace: 5 * time.Millisecond, Message: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	// The client's 6 calls are sequential, each after a pause.
	if took := time.Since(start); took < 6*5*time.Millisecond {
		t.Errorf("paced run took %s", took)
	}
	if n := len(calls(evs)); n != 14 {
		t.Errorf("%d calls", n)
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{{Host: "localhost"}, {Port: 70000}, {Host: "fe80::1%lo"}, {Clients: MaxClients + 1}, {Bytes: -1}} {
		// The error is returned, said in an error note (the ladder's only
		// row), and given by Check before any run.
		var notes []string
		err := Run(context.Background(), tcpEcho, o, func(ev trace.Event) {
			if ev.Note != nil && ev.Note.Level == "error" {
				notes = append(notes, ev.Note.Text)
			}
		})
		if err == nil {
			t.Errorf("%+v: no error", o)
			continue
		}
		if len(notes) != 1 || notes[0] != err.Error() {
			t.Errorf("%+v: error %q, error notes %q; want the error in one note", o, err, notes)
		}
		if check := o.Check(); check == nil || !strings.Contains(err.Error(), check.Error()) {
			t.Errorf("%+v: Check() = %v, Run's error %v", o, check, err)
		}
	}
	if err := (Options{Clients: 3, Pace: time.Second}).Check(); err != nil {
		t.Errorf("Check of good options: %v", err)
	}
	o, err := Options{Pace: time.Second}.withDefaults()
	if err != nil || o.Timeout != DefaultTimeout+100*time.Second || o.Host != "127.0.0.1" || o.Clients != 0 {
		t.Errorf("defaults: %+v %v", o, err)
	}
}

func TestIPv6(t *testing.T) {
	noLeaks(t)
	evs, err := collect(t, context.Background(), tcpEcho, Options{Host: "::1"})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	cs := calls(evs)
	if cs[0].Family != "AF_INET6" {
		t.Errorf("family %s", cs[0].Family)
	}
	for _, c := range cs {
		if c.Op == trace.OpClose && c.Lane == "client" && c.State == "" {
			t.Errorf("client close: no state")
		}
		if c.Op == trace.OpConnect && (c.Remote.Addr().String() != "::1" || c.State != trace.StateEstablished) {
			t.Errorf("connect: %s %s", c, c.State)
		}
	}
}
