package scenarios

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sockscope/sockscope/trace"
)

// Sock is a socket made by Env.Socket or Sock.Accept. Each method makes
// exactly one system call on the socket's blocking fd and records it as
// one trace.Call. A Sock value also carries the listing line of the next
// call it makes: s.At(17).Recv(1024).
type Sock struct {
	st   *sock
	line int
}

// sock is the state shared by all views of one socket.
type sock struct {
	r      *run
	lane   string
	fd     int
	family int
	sotype int

	mu     sync.Mutex
	local  netip.AddrPort // getsockname, once bound
	remote netip.AddrPort // the peer, once known
	closed bool
	last   trace.State // the TCP state last recorded, "" before the first
}

// At returns a view of s whose next call is attributed to line of the
// scenario's listing.
func (s *Sock) At(line int) *Sock { return &Sock{st: s.st, line: line} }

// FD is the socket's file descriptor.
func (s *Sock) FD() int { return s.st.fd }

// Lane is who uses the socket: "server", "client" …
func (s *Sock) Lane() string { return s.st.lane }

// Local is the socket's address once bound (explicitly or by connect).
func (s *Sock) Local() netip.AddrPort {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.local
}

// Remote is the peer's address once known.
func (s *Sock) Remote() netip.AddrPort {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.remote
}

// Socket makes a socket: socket(family, sotype, 0). lane names who uses it.
func (e *Env) Socket(lane string, family, sotype int) (*Sock, error) {
	c := &trace.Call{
		Lane: lane, Op: trace.OpSocket, FD: -1, Proto: protoName(sotype),
		Family: familyName(family), Type: typeName(sotype), Line: e.line,
	}
	f, err := e.r.enter(c)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(family, sotype|unix.SOCK_CLOEXEC, 0)
	c.End = time.Now()
	if err != nil {
		return nil, e.r.finish(f, nil, -1, err)
	}
	st := &sock{r: e.r, lane: lane, fd: fd, family: family, sotype: sotype}
	if sotype == unix.SOCK_STREAM {
		st.last = trace.StateClosed // a new TCP socket: no state change to report
	}
	e.r.adopt(st)
	c.FD = fd
	if err := e.r.finish(f, st, fd, nil); err != nil {
		return nil, err
	}
	return &Sock{st: st}, nil
}

// call prepares the record of one call on s.
func (s *Sock) call(op trace.Op) *trace.Call {
	return &trace.Call{Lane: s.st.lane, Op: op, FD: s.st.fd, Proto: protoName(s.st.sotype), Line: s.line}
}

// begin checks that the fd is still open and enters the call. A closed
// socket fails with EBADF without a system call, as Python's does: its fd
// number may already belong to another socket.
func (s *Sock) begin(c *trace.Call) (*flight, error) {
	s.st.mu.Lock()
	closed := s.st.closed
	s.st.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%s: %s: %w", c.Lane, c.Op, unix.EBADF)
	}
	return s.st.r.enter(c)
}

// Bind is bind(fd, addr).
func (s *Sock) Bind(addr netip.AddrPort) error {
	c := s.call(trace.OpBind)
	sa, err := sockaddr(s.st.family, addr)
	if err != nil {
		return fmt.Errorf("%s: bind: %w", c.Lane, err)
	}
	f, err := s.begin(c)
	if err != nil {
		return err
	}
	err = unix.Bind(s.st.fd, sa)
	c.End = time.Now()
	if err != nil {
		c.Local = addr // show what was asked for
	} else {
		s.st.refreshLocal()
	}
	return s.st.r.finish(f, s.st, 0, err)
}

// Listen is listen(fd, backlog).
func (s *Sock) Listen(backlog int) error {
	c := s.call(trace.OpListen)
	c.Backlog = backlog
	f, err := s.begin(c)
	if err != nil {
		return err
	}
	err = unix.Listen(s.st.fd, backlog)
	c.End = time.Now()
	s.st.refreshLocal() // listen binds an unbound socket
	return s.st.r.finish(f, s.st, 0, err)
}

// Accept is accept4(fd, SOCK_CLOEXEC). The new socket belongs to the
// listener's lane.
func (s *Sock) Accept() (*Sock, error) { return s.AcceptAs(s.st.lane) }

// AcceptAs is Accept with the new socket belonging to lane. The call itself
// stays in the listener's lane: that is who made it. Its Local, Remote and
// State are the new connection's.
func (s *Sock) AcceptAs(lane string) (*Sock, error) {
	c := s.call(trace.OpAccept)
	f, err := s.begin(c)
	if err != nil {
		return nil, err
	}
	nfd, sa, err := unix.Accept4(s.st.fd, unix.SOCK_CLOEXEC)
	c.End = time.Now()
	if err != nil {
		return nil, s.st.r.finish(f, s.st, -1, err)
	}
	ns := &sock{r: s.st.r, lane: lane, fd: nfd, family: s.st.family, sotype: s.st.sotype}
	s.st.r.adopt(ns)
	ns.remote = addrPort(sa)
	ns.refreshLocal()
	c.Local, c.Remote = ns.local, ns.remote
	f.observe(ns, true)
	if err := s.st.r.finish(f, s.st, nfd, nil); err != nil {
		return nil, err
	}
	return &Sock{st: ns}, nil
}

// Connect is connect(fd, addr).
func (s *Sock) Connect(addr netip.AddrPort) error {
	c := s.call(trace.OpConnect)
	sa, err := sockaddr(s.st.family, addr)
	if err != nil {
		return fmt.Errorf("%s: connect: %w", c.Lane, err)
	}
	c.Remote = addr
	f, err := s.begin(c)
	if err != nil {
		return err
	}
	err = unix.Connect(s.st.fd, sa)
	c.End = time.Now()
	if err == nil || s.st.sotype == unix.SOCK_DGRAM {
		s.st.setRemote(addr)
	}
	s.st.refreshLocal()
	if err != nil {
		// A failed connect keeps its port but forgets its address
		// (getsockname says 0.0.0.0): the SYN went out from the address
		// the kernel's routing picks for addr.
		s.st.mu.Lock()
		if s.st.local.IsValid() && s.st.local.Addr().IsUnspecified() {
			if src, ok := routeSource(s.st.family, addr); ok {
				s.st.local = netip.AddrPortFrom(src, s.st.local.Port())
			}
		}
		s.st.mu.Unlock()
	}
	return s.st.r.finish(f, s.st, 0, err)
}

// Send is send(fd, b, 0); it returns how many bytes the kernel took.
func (s *Sock) Send(b []byte) (int, error) { return s.SendFlags(b, 0) }

// SendFlags is send(fd, b, flags).
func (s *Sock) SendFlags(b []byte, flags int) (int, error) {
	return s.sendto(trace.OpSend, b, flags, netip.AddrPort{})
}

// Sendto is sendto(fd, b, 0, addr), for datagrams.
func (s *Sock) Sendto(b []byte, addr netip.AddrPort) (int, error) {
	return s.sendto(trace.OpSendto, b, 0, addr)
}

func (s *Sock) sendto(op trace.Op, b []byte, flags int, to netip.AddrPort) (int, error) {
	c := s.call(op)
	c.Flags, c.Len, c.Remote = flags, len(b), to
	var raw []byte
	if to.IsValid() {
		var err error
		if raw, err = rawSockaddr(s.st.family, to); err != nil {
			return 0, fmt.Errorf("%s: %s: %w", c.Lane, op, err)
		}
	}
	f, err := s.begin(c)
	if err != nil {
		return 0, err
	}
	n, err := sendtoSyscall(s.st.fd, b, flags, raw)
	c.End = time.Now()
	if n > 0 {
		c.Data = clip(b[:n])
	}
	if op == trace.OpSendto {
		s.st.refreshLocal() // the first sendto binds a UDP socket
	}
	return n, s.st.r.finish(f, s.st, n, err)
}

// Recv is recv(fd, n, 0). A zero-length result means the peer closed.
func (s *Sock) Recv(n int) ([]byte, error) { return s.RecvFlags(n, 0) }

// RecvFlags is recv(fd, n, flags).
func (s *Sock) RecvFlags(n, flags int) ([]byte, error) {
	b, _, err := s.recvfrom(trace.OpRecv, n, flags)
	return b, err
}

// Recvfrom is recvfrom(fd, n, 0): a datagram and who sent it.
func (s *Sock) Recvfrom(n int) ([]byte, netip.AddrPort, error) {
	return s.recvfrom(trace.OpRecvfrom, n, 0)
}

func (s *Sock) recvfrom(op trace.Op, n, flags int) ([]byte, netip.AddrPort, error) {
	c := s.call(op)
	c.Flags, c.Len = flags, n
	buf := make([]byte, n)
	f, err := s.begin(c)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	// Like glibc's recv(), this is the recvfrom system call.
	got, sa, err := unix.Recvfrom(s.st.fd, buf, flags)
	c.End = time.Now()
	var from netip.AddrPort
	if sa != nil {
		from = addrPort(sa)
	}
	if op == trace.OpRecvfrom {
		c.Remote = from
	}
	if got < 0 {
		got = 0
	}
	buf = buf[:got]
	if got > 0 {
		c.Data = clip(buf)
	}
	ret := got
	if err != nil {
		ret = -1
	}
	return buf, from, s.st.r.finish(f, s.st, ret, err)
}

// Shutdown is shutdown(fd, how): unix.SHUT_RD, SHUT_WR or SHUT_RDWR.
func (s *Sock) Shutdown(how int) error {
	c := s.call(trace.OpShutdown)
	c.How = howName(how)
	f, err := s.begin(c)
	if err != nil {
		return err
	}
	err = unix.Shutdown(s.st.fd, how)
	c.End = time.Now()
	return s.st.r.finish(f, s.st, 0, err)
}

// SetReuseAddr is setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, on).
func (s *Sock) SetReuseAddr(on bool) error {
	v := 0
	if on {
		v = 1
	}
	return s.setsockopt(fmt.Sprintf("SO_REUSEADDR=%d", v), func() error {
		return unix.SetsockoptInt(s.st.fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, v)
	})
}

// SetLinger is setsockopt(fd, SOL_SOCKET, SO_LINGER, {onoff, secs}).
// {1, 0} makes close() abort the connection with a RST.
func (s *Sock) SetLinger(onoff bool, secs int) error {
	l := unix.Linger{Linger: int32(secs)}
	if onoff {
		l.Onoff = 1
	}
	return s.setsockopt(fmt.Sprintf("SO_LINGER={%d,%d}", l.Onoff, l.Linger), func() error {
		return unix.SetsockoptLinger(s.st.fd, unix.SOL_SOCKET, unix.SO_LINGER, &l)
	})
}

func (s *Sock) setsockopt(option string, sys func() error) error {
	c := s.call(trace.OpSetsockopt)
	c.Option = option
	f, err := s.begin(c)
	if err != nil {
		return err
	}
	err = sys()
	c.End = time.Now()
	return s.st.r.finish(f, s.st, 0, err)
}

// Close is close(fd). Its State is looked up with sock_diag, since the
// connection outlives the fd: FIN_WAIT1, FIN_WAIT2, TIME_WAIT, LAST_ACK, or
// CLOSED once the kernel has forgotten it. Closing a closed Sock does
// nothing, as in Python.
func (s *Sock) Close() error {
	s.st.mu.Lock()
	closed := s.st.closed
	s.st.mu.Unlock()
	if closed {
		return nil
	}
	c := s.call(trace.OpClose)
	f, err := s.st.r.enter(c)
	if err != nil {
		return err // the run's cleanup closes the fd
	}
	s.st.mu.Lock()
	s.st.closed = true
	s.st.mu.Unlock()
	s.st.r.forget(s.st)
	err = unix.Close(s.st.fd)
	c.End = time.Now()
	if s.st.sotype == unix.SOCK_STREAM {
		f.observe(s.st, false)
	}
	return s.st.r.finish(f, s.st, 0, err)
}

// Sendall is Python's sendall(): send(fd, rest, 0) until the kernel has
// taken every byte. Each send is one recorded call; on a blocking socket
// the first usually takes everything.
func (s *Sock) Sendall(b []byte) error {
	for {
		n, err := s.Send(b)
		if err != nil {
			return err
		}
		b = b[n:]
		if len(b) == 0 {
			return nil
		}
	}
}

// SetRcvTimeout is setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, d): a blocking
// recv that waits longer fails with EAGAIN.
func (s *Sock) SetRcvTimeout(d time.Duration) error {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	return s.setsockopt(fmt.Sprintf("SO_RCVTIMEO=%s", d), func() error {
		return unix.SetsockoptTimeval(s.st.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
}

// observe reads the TCP state of s after the call f (open: whether s's fd
// is still open) and makes it the call's State.
func (f *flight) observe(s *sock, open bool) {
	ds, at := s.kernelState(open)
	f.c.State, f.ss, f.left, f.at = ds.state, s, ds.left, at
}

// kernelState is the socket's TCP state as the kernel reports it now, and
// when it was read. While the fd is open, TCP_INFO on it; after close(), an
// exact sock_diag lookup by 4-tuple: the connection outlives the fd
// (FIN_WAIT1, FIN_WAIT2, TIME_WAIT, LAST_ACK, or CLOSED once the kernel has
// forgotten it). When TCP_INFO says CLOSED on a connected fd, the
// connection may have passed to a time-wait socket of its own (a FIN
// received in FIN_WAIT2 does that while the fd is still open): sock_diag
// says which.
func (s *sock) kernelState(open bool) (diagState, time.Time) {
	s.mu.Lock()
	local, remote := s.local, s.remote
	s.mu.Unlock()
	var ds diagState
	if open {
		ds.state = tcpState(s.fd)
		if ds.state != trace.StateClosed || !local.IsValid() || !remote.IsValid() || s.r.diag == nil {
			return ds, time.Now()
		}
	} else if !local.IsValid() {
		// Never bound: nothing can outlive the fd.
		return diagState{state: trace.StateClosed}, time.Now()
	}
	if s.r.diag == nil {
		return diagState{}, time.Now()
	}
	ds, err := s.r.diag.state(s.family, local, remote)
	at := time.Now()
	if err != nil {
		return diagState{}, at
	}
	return ds, at
}

// changeState records st as the socket's state and reports the state it
// had, and whether that was different.
func (s *sock) changeState(st trace.State) (trace.State, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := s.last
	s.last = st
	return from, from != st
}

// routeSource is the source address the kernel picks for packets to dst:
// the local address of a UDP socket connected to it (no packet is sent).
// It is sockscope's bookkeeping, not the program's: nothing is recorded.
func routeSource(family int, dst netip.AddrPort) (netip.Addr, bool) {
	sa, err := sockaddr(family, dst)
	if err != nil {
		return netip.Addr{}, false
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return netip.Addr{}, false
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sa); err != nil {
		return netip.Addr{}, false
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return netip.Addr{}, false
	}
	a := addrPort(got).Addr()
	return a, a.IsValid() && !a.IsUnspecified()
}

// finish completes a call record and sends it to the sink, unless the stop
// cut the call short. st is nil for a failed socket().
func (r *run) finish(f *flight, st *sock, ret int, err error) error {
	c := f.c
	c.Ret = ret
	if err != nil {
		c.Ret = -1
		c.Errno = errnoName(err)
	}
	if st != nil {
		st.mu.Lock()
		if !c.Local.IsValid() {
			c.Local = st.local
		}
		if !c.Remote.IsValid() {
			c.Remote = st.remote
		}
		st.mu.Unlock()
		if f.ss == nil && c.Op != trace.OpClose && st.sotype == unix.SOCK_STREAM {
			f.observe(st, true)
		}
	}
	if !r.leave(f) {
		return fmt.Errorf("%s: %s: %w", c.Lane, c.Op, errInterrupted)
	}
	evs := []trace.Event{trace.CallEvent(c)}
	if f.ss != nil && c.State != trace.StateUnknown {
		if from, changed := f.ss.changeState(c.State); changed {
			f.ss.mu.Lock()
			local, remote := f.ss.local, f.ss.remote
			f.ss.mu.Unlock()
			evs = append(evs, trace.StateEvent(&trace.StateChange{
				Time: f.at, Endpoint: local, Peer: remote, From: from, To: c.State,
				Source: trace.SourceKernel, TimeLeft: f.left,
			}))
		}
	}
	r.emit(evs...)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", c.Lane, c.Op, err)
	}
	return nil
}

// refreshLocal reads the local address with getsockname; an unbound
// socket (port 0) leaves it unknown.
func (s *sock) refreshLocal() {
	sa, err := unix.Getsockname(s.fd)
	if err != nil {
		return
	}
	ap := addrPort(sa)
	if ap.Port() == 0 {
		return
	}
	s.mu.Lock()
	s.local = ap
	s.mu.Unlock()
}

func (s *sock) setRemote(ap netip.AddrPort) {
	s.mu.Lock()
	s.remote = ap
	s.mu.Unlock()
}

// sendtoSyscall is the sendto system call; x/sys's Sendto hides the byte
// count. MSG_NOSIGNAL turns SIGPIPE into EPIPE, as Python's ignored
// SIGPIPE does; the recorded Flags stay the program's.
func sendtoSyscall(fd int, b []byte, flags int, to []byte) (int, error) {
	var p, tp unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	if len(to) > 0 {
		tp = unsafe.Pointer(&to[0])
	}
	n, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(p), uintptr(len(b)),
		uintptr(flags|unix.MSG_NOSIGNAL), uintptr(tp), uintptr(len(to)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
