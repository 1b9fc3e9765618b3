package scenarios

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// UDP to a port where nothing listens: the kernel answers each datagram
// with an ICMP port unreachable. An unconnected socket is never told (its
// recvfrom just times out); a connected one is: its next recv fails with
// ECONNREFUSED.
var udpUnreachable = &Scenario{
	Name:     "udp-unreachable",
	Summary:  "sendto a port where nothing listens: ICMP port unreachable; an unconnected socket's recvfrom times out, a connected one's recv fails with ECONNREFUSED",
	Tutorial: "002_e397b088a7bb013c.txt",
	Duration: "about 1 s (an SO_RCVTIMEO of 1 s runs out)",
	Listing:  udpUnreachableListing,
	Run:      runUDPUnreachable,
}

const udpUnreachableListing = `# client.py: UDP to a port where nothing listens
from socket import *
import struct

ADDR = ('127.0.0.1', 9999)  # nothing listens here

# unconnected, as in the tutorial
s = socket(AF_INET, SOCK_DGRAM)
s.setsockopt(SOL_SOCKET, SO_RCVTIMEO, struct.pack('ll', 1, 0))  # recv waits 1 s at most
s.sendto(b'anyone there?', ADDR)  # an ICMP port unreachable comes back...
try:
    s.recvfrom(1024)  # ...but an unconnected socket is not told: it waits
except BlockingIOError as e:
    print(e)  # [Errno 11] Resource temporarily unavailable
s.close()

# connected: connect() sends nothing, it fixes the peer
c = socket(AF_INET, SOCK_DGRAM)
c.connect(ADDR)
c.send(b'anyone there?')  # ICMP port unreachable again
try:
    c.recv(1024)  # this time the socket is told
except ConnectionRefusedError as e:
    print(e)  # [Errno 111] Connection refused
c.close()
`

var unreachLine = struct {
	socket, setsockopt, sendto, recvfrom, close int
	cSocket, cConnect, cSend, cRecv, cClose     int
}{
	socket:     lineOf(udpUnreachableListing, "s = socket("),
	setsockopt: lineOf(udpUnreachableListing, "s.setsockopt("),
	sendto:     lineOf(udpUnreachableListing, "s.sendto("),
	recvfrom:   lineOf(udpUnreachableListing, "s.recvfrom("),
	close:      lineOf(udpUnreachableListing, "s.close()"),
	cSocket:    lineOf(udpUnreachableListing, "c = socket("),
	cConnect:   lineOf(udpUnreachableListing, "c.connect("),
	cSend:      lineOf(udpUnreachableListing, "c.send("),
	cRecv:      lineOf(udpUnreachableListing, "c.recv("),
	cClose:     lineOf(udpUnreachableListing, "c.close()"),
}

const unreachTimeout = time.Second

func runUDPUnreachable(env *Env) error {
	l := &unreachLine
	addr, err := closedPort(env, unix.SOCK_DGRAM)
	if err != nil {
		return err
	}
	msg := []byte("anyone there?")
	if m := env.Messages(nil); len(m) > 0 {
		msg = []byte(m[0])
	}

	s, err := env.At(l.socket).Socket("client", env.Family(), unix.SOCK_DGRAM)
	if err != nil {
		return err
	}
	if err := s.At(l.setsockopt).SetRcvTimeout(unreachTimeout); err != nil {
		return err
	}
	if _, err := s.At(l.sendto).Sendto(msg, addr); err != nil {
		return err
	}
	if _, _, err := s.At(l.recvfrom).Recvfrom(1024); expect(err, unix.EAGAIN) != nil {
		return fmt.Errorf("client: unconnected recvfrom: %w", expect(err, unix.EAGAIN))
	}
	if err := s.At(l.close).Close(); err != nil {
		return err
	}

	c, err := env.At(l.cSocket).Socket("client", env.Family(), unix.SOCK_DGRAM)
	if err != nil {
		return err
	}
	if err := c.At(l.cConnect).Connect(addr); err != nil {
		return err
	}
	if _, err := c.At(l.cSend).Send(msg); err != nil {
		return err
	}
	if _, err := c.At(l.cRecv).Recv(1024); expect(err, unix.ECONNREFUSED) != nil {
		return fmt.Errorf("client: connected recv: %w", expect(err, unix.ECONNREFUSED))
	}
	return c.At(l.cClose).Close()
}
