package scenarios

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// The UDP server and client of tutorial 002: no connection, no handshake,
// one datagram each way per name.
var udpEcho = &Scenario{
	Name:     "udp-echo",
	Summary:  `UDP: the client sendto's three names without connect, the server's recvfrom/sendto answers "Hello, <name>!"`,
	Tutorial: "002_e397b088a7bb013c.txt",
	Duration: "< 1 s",
	Listing:  udpEchoListing,
	Run:      runUDPEcho,
}

const udpEchoListing = `# udp_server.py
import socket

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
# bind the port:
s.bind(('127.0.0.1', 9999))
print('Bind UDP on 9999...')
for i in range(3):  # one per name; the tutorial loops forever: while True
    # receive data:
    data, addr = s.recvfrom(1024)
    print('Received from %s:%s.' % addr)
    s.sendto(b'Hello, %s!' % data, addr)
s.close()

# udp_client.py
import socket

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for data in [b'Michael', b'Tracy', b'Sarah']:
    # send data:
    s.sendto(data, ('127.0.0.1', 9999))
    # receive data:
    print(s.recv(1024).decode('utf-8'))
s.close()
`

var udpLine = struct {
	socket, bind, recvfrom, sendto, close int
	cSocket, cSendto, cRecv, cClose       int
}{
	socket:   lineAfter(udpEchoListing, "# udp_server.py", "s = socket.socket("),
	bind:     lineOf(udpEchoListing, "s.bind("),
	recvfrom: lineOf(udpEchoListing, "s.recvfrom("),
	sendto:   lineOf(udpEchoListing, "s.sendto(b'Hello"),
	close:    lineAfter(udpEchoListing, "# udp_server.py", "s.close()"),
	cSocket:  lineAfter(udpEchoListing, "# udp_client.py", "s = socket.socket("),
	cSendto:  lineOf(udpEchoListing, "s.sendto(data"),
	cRecv:    lineOf(udpEchoListing, "s.recv(1024)"),
	cClose:   lineAfter(udpEchoListing, "# udp_client.py", "s.close()"),
}

func runUDPEcho(env *Env) error {
	var names []string
	for _, m := range env.Messages(helloNames) {
		if m != "" { // an empty datagram is fine for UDP, but hard to see
			names = append(names, m)
		}
	}
	ready := make(chan netip.AddrPort, 1)
	env.Go(func() error { return udpServer(env, len(names), ready) })
	env.Go(func() error { return udpClient(env, names, ready) })
	return nil
}

func udpServer(env *Env, n int, ready chan<- netip.AddrPort) error {
	l := &udpLine
	s, err := env.At(l.socket).Socket("server", env.Family(), unix.SOCK_DGRAM)
	if err != nil {
		return err
	}
	if err := s.At(l.bind).Bind(env.Addr()); err != nil {
		return err
	}
	ready <- s.Local()
	for range n {
		data, addr, err := s.At(l.recvfrom).Recvfrom(1024)
		if err != nil {
			return err
		}
		if _, err := s.At(l.sendto).Sendto(fmt.Appendf(nil, "Hello, %s!", data), addr); err != nil {
			return err
		}
	}
	return s.At(l.close).Close()
}

func udpClient(env *Env, names []string, ready <-chan netip.AddrPort) error {
	l := &udpLine
	addr, ok := await(env, ready)
	if !ok {
		return nil
	}
	s, err := env.At(l.cSocket).Socket("client", env.Family(), unix.SOCK_DGRAM)
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, err := s.At(l.cSendto).Sendto([]byte(name), addr); err != nil {
			return err
		}
		if _, err := s.At(l.cRecv).Recv(1024); err != nil {
			return err
		}
	}
	return s.At(l.cClose).Close()
}
