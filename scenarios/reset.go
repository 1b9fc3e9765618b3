package scenarios

import (
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Two ways to end a connection with a RST instead of a FIN: a close() with
// SO_LINGER {on, 0}, and a close() while received data is still unread.
// Either way the peer's next recv fails with ECONNRESET.
var reset = &Scenario{
	Name:     "reset",
	Summary:  "RST instead of FIN: close() with SO_LINGER {1, 0}, then close() with unread data; the peer's recv fails with ECONNRESET",
	Tutorial: "003_91d756ff9d2e4137.txt",
	Duration: "< 1 s",
	Listing:  resetListing,
	Run:      runReset,
}

const resetListing = `# server.py
from socket import *

server = socket(AF_INET, SOCK_STREAM)
server.bind(('127.0.0.1', 12345))
server.listen(5)

# 1. the client aborts its connection
conn, addr = server.accept()
print(conn.recv(1024))  # b'hello'
try:
    conn.recv(1024)  # waits for more: the client's RST ends the wait
except ConnectionResetError as e:
    print(e)  # [Errno 104] Connection reset by peer
conn.close()

# 2. the server closes with data unread
conn, addr = server.accept()
print(conn.recv(5))  # b'hello': the rest stays unread
conn.close()  # unread data: RST instead of FIN
server.close()

# client.py
import struct
from socket import *

ADDR = ('127.0.0.1', 12345)

# 1. abort: SO_LINGER on, with a timeout of 0
client = socket(AF_INET, SOCK_STREAM)
client.setsockopt(SOL_SOCKET, SO_LINGER, struct.pack('ii', 1, 0))
client.connect(ADDR)
client.send(b'hello')
client.close()  # RST instead of FIN, no TIME_WAIT

# 2. more data than the server reads
client = socket(AF_INET, SOCK_STREAM)
client.connect(ADDR)
client.send(b'hello, and more')
try:
    client.recv(1024)  # the server's RST
except ConnectionResetError as e:
    print(e)  # [Errno 104] Connection reset by peer
client.close()
`

const (
	resetPart1       = "# 1. the client aborts"
	resetPart2       = "# 2. the server closes"
	resetClient      = "# client.py"
	resetClientPart1 = "# 1. abort"
	resetClientPart2 = "# 2. more data"
)

var resetLine = struct {
	socket, bind, listen, accept1, recv1, recvReset, close1, accept2, recv2, close2, closeServer int
	cSocket1, cLinger, cConnect1, cSend1, cClose1                                                int
	cSocket2, cConnect2, cSend2, cRecv2, cClose2                                                 int
}{
	socket:      lineOf(resetListing, "server = socket("),
	bind:        lineOf(resetListing, "server.bind("),
	listen:      lineOf(resetListing, "server.listen("),
	accept1:     lineAfter(resetListing, resetPart1, "server.accept()"),
	recv1:       lineOf(resetListing, "print(conn.recv(1024))"),
	recvReset:   lineOf(resetListing, "    conn.recv(1024)"),
	close1:      lineAfter(resetListing, resetPart1, "conn.close()"),
	accept2:     lineAfter(resetListing, resetPart2, "server.accept()"),
	recv2:       lineOf(resetListing, "conn.recv(5)"),
	close2:      lineAfter(resetListing, resetPart2, "conn.close()"),
	closeServer: lineOf(resetListing, "server.close()"),
	cSocket1:    lineAfter(resetListing, resetClientPart1, "client = socket("),
	cLinger:     lineOf(resetListing, "client.setsockopt(SOL_SOCKET, SO_LINGER"),
	cConnect1:   lineAfter(resetListing, resetClientPart1, "client.connect("),
	cSend1:      lineOf(resetListing, "client.send(b'hello')"),
	cClose1:     lineAfter(resetListing, resetClientPart1, "client.close()"),
	cSocket2:    lineAfter(resetListing, resetClientPart2, "client = socket("),
	cConnect2:   lineAfter(resetListing, resetClientPart2, "client.connect("),
	cSend2:      lineOf(resetListing, "client.send(b'hello, and more')"),
	cRecv2:      lineOf(resetListing, "client.recv(1024)"),
	cClose2:     lineAfter(resetListing, resetClientPart2, "client.close()"),
}

func runReset(env *Env) error {
	ready := make(chan netip.AddrPort, 1)
	// Part 1: the client's close waits until the server has read
	// b'hello', so that its RST meets a server waiting in recv() (in
	// Python, the RST could overtake the server's first recv()).
	helloRead := newSignal()
	env.Go(func() error {
		defer helloRead.fire()
		return resetServer(env, ready, helloRead)
	})
	env.Go(func() error { return resetClientRun(env, ready, helloRead) })
	return nil
}

// expect turns the error a program expects (and catches) into nil.
func expect(err, want error) error {
	switch {
	case errors.Is(err, want):
		return nil
	case err == nil:
		return fmt.Errorf("expected %v, the call succeeded", want)
	}
	return err
}

func resetServer(env *Env, ready chan<- netip.AddrPort, helloRead *signal) error {
	l := &resetLine
	server, err := listenTCP(env, listenLines{l.socket, l.bind, l.listen}, 5)
	if err != nil {
		return err
	}
	ready <- server.Local()

	conn, err := server.At(l.accept1).Accept()
	if err != nil {
		return err
	}
	if _, err := conn.At(l.recv1).Recv(1024); err != nil {
		return err
	}
	helloRead.fire()
	if _, err := conn.At(l.recvReset).Recv(1024); expect(err, unix.ECONNRESET) != nil {
		return fmt.Errorf("server: recv after the client's abort: %w", expect(err, unix.ECONNRESET))
	}
	if err := conn.At(l.close1).Close(); err != nil {
		return err
	}

	conn, err = server.At(l.accept2).Accept()
	if err != nil {
		return err
	}
	if _, err := conn.At(l.recv2).Recv(5); err != nil {
		return err
	}
	if err := conn.At(l.close2).Close(); err != nil {
		return err
	}
	return server.At(l.closeServer).Close()
}

func resetClientRun(env *Env, ready <-chan netip.AddrPort, helloRead *signal) error {
	l := &resetLine
	addr, ok := await(env, ready)
	if !ok {
		return nil
	}
	client, err := env.At(l.cSocket1).Socket("client", env.Family(), unix.SOCK_STREAM)
	if err != nil {
		return err
	}
	if err := client.At(l.cLinger).SetLinger(true, 0); err != nil {
		return err
	}
	if err := client.At(l.cConnect1).Connect(addr); err != nil {
		return err
	}
	if _, err := client.At(l.cSend1).Send([]byte("hello")); err != nil {
		return err
	}
	env.Wait(helloRead.done())
	if err := client.At(l.cClose1).Close(); err != nil {
		return err
	}

	client, err = connectTCP(env, "client", l.cSocket2, l.cConnect2, addr)
	if err != nil {
		return err
	}
	if _, err := client.At(l.cSend2).Send([]byte("hello, and more")); err != nil {
		return err
	}
	if _, err := client.At(l.cRecv2).Recv(1024); expect(err, unix.ECONNRESET) != nil {
		return fmt.Errorf("client: recv after the server's close: %w", expect(err, unix.ECONNRESET))
	}
	return client.At(l.cClose2).Close()
}
