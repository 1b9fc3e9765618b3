package scenarios

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockscope/sockscope/trace"
)

// Sizes of the sock_diag structures (linux/inet_diag.h).
const (
	sizeofNlmsghdr     = 16
	sizeofInetDiagReq  = 8 + sizeofInetDiagID // inet_diag_req_v2
	sizeofInetDiagID   = 48                   // inet_diag_sockid
	sizeofInetDiagMsg  = 4 + sizeofInetDiagID + 20
	inetDiagNoCookie   = ^uint32(0)
	allStates          = ^uint32(0)
	diagReceiveTimeout = 1 // seconds; the kernel answers at once
)

// differ is a NETLINK_SOCK_DIAG socket that looks TCP sockets up by their
// 4-tuple, the way `ss` does (no privilege needed). It is how a connection
// is followed after close() took its fd: the kernel keeps FIN_WAIT1,
// FIN_WAIT2, TIME_WAIT and LAST_ACK sockets without one. A run opens one
// before its first call, so that a lookup is two system calls and samples
// the state within microseconds of close() returning.
type differ struct {
	mu  sync.Mutex
	fd  int
	seq uint32
}

func openDiffer() (*differ, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag socket: %w", err)
	}
	tv := unix.Timeval{Sec: diagReceiveTimeout}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sock_diag timeout: %w", err)
	}
	return &differ{fd: fd}, nil
}

func (d *differ) close() { unix.Close(d.fd) }

// diagAttempts is how many lookups must miss before a socket counts as
// gone. While the kernel turns a closing socket into its time-wait
// successor, a lockless hash lookup can miss both (about 1 close in 1000
// here, more under load); the next lookup finds the time-wait socket. A
// socket that is really gone stays gone, so retrying cannot invent states.
const diagAttempts = 3

// diagState is what sock_diag says of one socket.
type diagState struct {
	state trace.State
	// left is the time left on a TIME_WAIT or FIN_WAIT2 timer
	// (idiag_expires), 0 in other states.
	left time.Duration
}

// state returns the state of the TCP socket local↔remote, CLOSED if the
// kernel has no such socket. remote is the zero value for a listener.
func (d *differ) state(family int, local, remote netip.AddrPort) (diagState, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for range diagAttempts - 1 {
		if st, err := d.lookup(family, local, remote); err != nil || st.state != trace.StateClosed {
			return st, err
		}
	}
	return d.lookup(family, local, remote)
}

func (d *differ) lookup(family int, local, remote netip.AddrPort) (diagState, error) {
	d.seq++
	req := diagRequest(family, local, remote, d.seq)
	if err := unix.Sendto(d.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return diagState{}, fmt.Errorf("sock_diag request: %w", err)
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(d.fd, buf, 0)
		if err != nil {
			return diagState{}, fmt.Errorf("sock_diag reply: %w", err)
		}
		st, seq, err := parseDiagReply(buf[:n], local, remote)
		if seq != d.seq {
			continue // the late answer to a request that timed out
		}
		return st, err
	}
}

// diagRequest builds an exact SOCK_DIAG_BY_FAMILY get (no NLM_F_DUMP): the
// kernel looks the 4-tuple up in its hash tables, time-wait included.
func diagRequest(family int, local, remote netip.AddrPort, seq uint32) []byte {
	ne := binary.NativeEndian
	b := make([]byte, sizeofNlmsghdr+sizeofInetDiagReq)
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(b[8:], seq)

	r := b[sizeofNlmsghdr:]
	r[0] = byte(family)
	r[1] = unix.IPPROTO_TCP
	ne.PutUint32(r[4:], allStates)
	id := r[8:]
	binary.BigEndian.PutUint16(id[0:], local.Port())
	binary.BigEndian.PutUint16(id[2:], remote.Port())
	putDiagAddr(id[4:20], family, local.Addr())
	putDiagAddr(id[20:36], family, remote.Addr())
	// id[36:40]: any interface.
	ne.PutUint32(id[40:], inetDiagNoCookie)
	ne.PutUint32(id[44:], inetDiagNoCookie)
	return b
}

// putDiagAddr writes a in network order: four bytes for AF_INET, sixteen
// (v4-mapped if need be) for AF_INET6. The invalid address stays zero.
func putDiagAddr(dst []byte, family int, a netip.Addr) {
	if !a.IsValid() {
		return
	}
	if family == unix.AF_INET {
		v4 := a.Unmap().As4()
		copy(dst, v4[:])
		return
	}
	v6 := a.As16()
	copy(dst, v6[:])
}

// parseDiagReply reads the state, its timer and the sequence number from
// the kernel's answer. The kernel's exact lookup falls back to a listener on
// the local port when no connection matches: a reply for another 4-tuple
// means that the connection is gone.
func parseDiagReply(b []byte, local, remote netip.AddrPort) (diagState, uint32, error) {
	ne := binary.NativeEndian
	if len(b) < sizeofNlmsghdr {
		return diagState{}, 0, fmt.Errorf("sock_diag reply: %d bytes", len(b))
	}
	seq := ne.Uint32(b[8:])
	switch typ := ne.Uint16(b[4:]); typ {
	case unix.NLMSG_ERROR:
		if len(b) < sizeofNlmsghdr+4 {
			return diagState{}, seq, fmt.Errorf("sock_diag reply: short error")
		}
		errno := unix.Errno(-int32(ne.Uint32(b[sizeofNlmsghdr:])))
		if errno == unix.ENOENT {
			return diagState{state: trace.StateClosed}, seq, nil
		}
		return diagState{}, seq, fmt.Errorf("sock_diag: %w", errno)
	case unix.SOCK_DIAG_BY_FAMILY:
		m := b[sizeofNlmsghdr:]
		if len(m) < sizeofInetDiagMsg {
			return diagState{}, seq, fmt.Errorf("sock_diag reply: short message")
		}
		// inet_diag_msg: family, state, timer, retrans, the sockid, then
		// expires (ms), rqueue, wqueue, uid, inode.
		id := m[4:]
		if binary.BigEndian.Uint16(id[0:]) != local.Port() || binary.BigEndian.Uint16(id[2:]) != remote.Port() {
			return diagState{state: trace.StateClosed}, seq, nil
		}
		// A time-wait socket reports its substate (FIN_WAIT2 or TIME_WAIT)
		// and, with timer 3, the time left before the kernel forgets it.
		ds := diagState{state: stateName(m[1])}
		if ds.state == trace.StateTimeWait || ds.state == trace.StateFinWait2 {
			if timer := m[2]; timer != 0 {
				ds.left = time.Duration(ne.Uint32(m[4+sizeofInetDiagID:])) * time.Millisecond
			}
		}
		return ds, seq, nil
	default:
		return diagState{}, seq, fmt.Errorf("sock_diag reply: message type %d", typ)
	}
}
