package scenarios

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// clientLane names client i (0-based) of n: "client" when there is one,
// "client1", "client2" … otherwise.
func clientLane(i, n int) string {
	if n == 1 {
		return "client"
	}
	return fmt.Sprintf("client%d", i+1)
}

// await receives the listening address from ready, or reports false when
// the run stopped first (the run says why).
func await(env *Env, ready <-chan netip.AddrPort) (netip.AddrPort, bool) {
	select {
	case a := <-ready:
		return a, true
	case <-env.Context().Done():
		return netip.AddrPort{}, false
	}
}

// closedPort is an address on the server's host where nothing listens:
// Options.Port if set, otherwise a port the kernel hands out for sotype and
// that sockscope releases at once. Its socket is sockscope's bookkeeping,
// not the program's (never connected, it sends nothing): nothing is
// recorded.
func closedPort(env *Env, sotype int) (netip.AddrPort, error) {
	addr := env.Addr()
	if addr.Port() != 0 {
		return addr, nil
	}
	fd, err := unix.Socket(env.Family(), sotype|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return addr, fmt.Errorf("pick a free port: %w", err)
	}
	defer unix.Close(fd)
	sa, err := sockaddr(env.Family(), addr)
	if err != nil {
		return addr, err
	}
	if err := unix.Bind(fd, sa); err != nil {
		return addr, fmt.Errorf("pick a free port: %w", err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return addr, fmt.Errorf("pick a free port: %w", err)
	}
	return netip.AddrPortFrom(addr.Addr(), addrPort(got).Port()), nil
}

// signal is a one-shot event between lanes: one lane fires it, others
// Env.Wait for it.
type signal struct {
	once sync.Once
	ch   chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

func (s *signal) fire()                 { s.once.Do(func() { close(s.ch) }) }
func (s *signal) done() <-chan struct{} { return s.ch }

// signals are one-shot events keyed by a connection's client address.
type signals struct {
	mu sync.Mutex
	m  map[netip.AddrPort]*signal
}

func (s *signals) get(k netip.AddrPort) *signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[netip.AddrPort]*signal{}
	}
	if s.m[k] == nil {
		s.m[k] = newSignal()
	}
	return s.m[k]
}

// lineAfter is the 1-based number of the first listing line containing s
// after the one line containing after (see lineOf). A listing with two
// programs names each program's lines after its heading.
func lineAfter(listing, after, s string) int {
	start := lineOf(listing, after)
	for i, l := range strings.Split(listing, "\n")[start:] {
		if strings.Contains(l, s) {
			return start + i + 1
		}
	}
	panic(fmt.Sprintf("scenarios: %q is not in the listing after %q", s, after))
}

// listenLines are the listing lines of a TCP server's first three calls.
type listenLines struct{ socket, bind, listen int }

// listenTCP makes the listening socket every tutorial server starts with:
// socket, bind to the scenario's address, listen — three recorded calls on
// the given listing lines, in the lane "server".
func listenTCP(env *Env, lines listenLines, backlog int) (*Sock, error) {
	s, err := env.At(lines.socket).Socket("server", env.Family(), unix.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	if err := s.At(lines.bind).Bind(env.Addr()); err != nil {
		return nil, err
	}
	if err := s.At(lines.listen).Listen(backlog); err != nil {
		return nil, err
	}
	return s, nil
}

// scripted hands out msgs one by one, then says the user is done.
func scripted(msgs []string) func() (string, bool) {
	return func() (string, bool) {
		if len(msgs) == 0 {
			return "", false
		}
		m := msgs[0]
		msgs = msgs[1:]
		return m, true
	}
}

// connectTCP is the tutorials' client start: socket, then connect to addr —
// two recorded calls on the given listing lines, in the given lane.
func connectTCP(env *Env, lane string, socketLine, connectLine int, addr netip.AddrPort) (*Sock, error) {
	s, err := env.At(socketLine).Socket(lane, env.Family(), unix.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	if err := s.At(connectLine).Connect(addr); err != nil {
		return nil, err
	}
	return s, nil
}

// recvUntilClosed is the tutorials' `while True: data = s.recv(1024); if not
// data: break` loop: it reads until recv returns 0, the peer's FIN.
func recvUntilClosed(s *Sock, line int) error {
	for {
		data, err := s.At(line).Recv(1024)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			return nil
		}
	}
}
