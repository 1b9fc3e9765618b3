package scenarios

// Conversions between the kernel's vocabulary and trace's.

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sockscope/sockscope/trace"
)

// tcpState is the fd's TCP state from TCP_INFO.
func tcpState(fd int) trace.State {
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return trace.StateUnknown
	}
	return stateName(ti.State)
}

// stateName maps a Linux tcp_states.h number to its name.
func stateName(n uint8) trace.State {
	switch n {
	case 1:
		return trace.StateEstablished
	case 2:
		return trace.StateSynSent
	case 3, 12: // 12 is TCP_NEW_SYN_RECV, a request socket
		return trace.StateSynRecv
	case 4:
		return trace.StateFinWait1
	case 5:
		return trace.StateFinWait2
	case 6:
		return trace.StateTimeWait
	case 7:
		return trace.StateClosed
	case 8:
		return trace.StateCloseWait
	case 9:
		return trace.StateLastAck
	case 10:
		return trace.StateListen
	case 11:
		return trace.StateClosing
	}
	return trace.StateUnknown
}

func errnoName(err error) string {
	var e syscall.Errno
	if errors.As(err, &e) {
		if name := unix.ErrnoName(e); name != "" {
			return name
		}
		return fmt.Sprintf("errno %d", int(e))
	}
	return err.Error()
}

func clip(b []byte) []byte {
	if len(b) > trace.MaxData {
		b = b[:trace.MaxData]
	}
	return append([]byte(nil), b...)
}

// sockaddr converts addr for a socket of family; IPv4 addresses on an
// AF_INET6 socket become v4-mapped.
func sockaddr(family int, addr netip.AddrPort) (unix.Sockaddr, error) {
	a := addr.Addr()
	switch {
	case family == unix.AF_INET && a.Unmap().Is4():
		return &unix.SockaddrInet4{Port: int(addr.Port()), Addr: a.Unmap().As4()}, nil
	case family == unix.AF_INET6 && a.IsValid():
		return &unix.SockaddrInet6{Port: int(addr.Port()), Addr: a.As16()}, nil
	}
	return nil, fmt.Errorf("address %s does not fit %s", addr, familyName(family))
}

// rawSockaddr is sockaddr in the kernel's layout, for sendtoSyscall.
func rawSockaddr(family int, addr netip.AddrPort) ([]byte, error) {
	sa, err := sockaddr(family, addr)
	if err != nil {
		return nil, err
	}
	port := [2]byte{byte(addr.Port() >> 8), byte(addr.Port())} // network order
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		var raw unix.RawSockaddrInet4
		raw.Family = unix.AF_INET
		*(*[2]byte)(unsafe.Pointer(&raw.Port)) = port
		raw.Addr = sa.Addr
		return unsafe.Slice((*byte)(unsafe.Pointer(&raw)), unix.SizeofSockaddrInet4), nil
	case *unix.SockaddrInet6:
		var raw unix.RawSockaddrInet6
		raw.Family = unix.AF_INET6
		*(*[2]byte)(unsafe.Pointer(&raw.Port)) = port
		raw.Addr = sa.Addr
		return unsafe.Slice((*byte)(unsafe.Pointer(&raw)), unix.SizeofSockaddrInet6), nil
	}
	return nil, fmt.Errorf("address %s: unsupported", addr)
}

// addrPort converts a kernel address; v4-mapped addresses are unmapped so
// that they match the IPv4 packets on the wire.
func addrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

func familyName(f int) string {
	switch f {
	case unix.AF_INET:
		return "AF_INET"
	case unix.AF_INET6:
		return "AF_INET6"
	}
	return fmt.Sprintf("AF_%d", f)
}

func typeName(t int) string {
	switch t {
	case unix.SOCK_STREAM:
		return "SOCK_STREAM"
	case unix.SOCK_DGRAM:
		return "SOCK_DGRAM"
	}
	return fmt.Sprintf("SOCK_%d", t)
}

func protoName(t int) string {
	if t == unix.SOCK_DGRAM {
		return "udp"
	}
	return "tcp"
}

func howName(how int) string {
	switch how {
	case unix.SHUT_RD:
		return "SHUT_RD"
	case unix.SHUT_WR:
		return "SHUT_WR"
	case unix.SHUT_RDWR:
		return "SHUT_RDWR"
	}
	return fmt.Sprint(how)
}
