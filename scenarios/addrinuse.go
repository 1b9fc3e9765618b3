package scenarios

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// A server that closes first and restarts at once on the same port: its
// old connection waits in TIME_WAIT and keeps the port, so bind() fails
// with EADDRINUSE, until SO_REUSEADDR lets the new socket share it. Linux
// allows that only when both sockets set SO_REUSEADDR: the TIME_WAIT
// connection inherits the flag from the listener that accepted it, so the
// first run sets it too (without it, the restart fails with or without
// the flag, until the 60 s of TIME_WAIT are over).
var addrInUse = &Scenario{
	Name:     "addr-in-use",
	Summary:  "the server closes first and restarts on its port: bind fails with EADDRINUSE while the old connection is in TIME_WAIT, then works with SO_REUSEADDR",
	Tutorial: "003_91d756ff9d2e4137.txt",
	Duration: "< 1 s",
	Listing:  addrInUseListing,
	Run:      runAddrInUse,
}

const addrInUseListing = `# server.py, run twice: the second run starts while the first one's connection is in TIME_WAIT
from socket import *

ADDR = ('127.0.0.1', 12345)

# first run
server = socket(AF_INET, SOCK_STREAM)
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)  # Linux shares a port with TIME_WAIT only if both runs set it
server.bind(ADDR)
server.listen(5)
conn, addr = server.accept()
conn.send(b'bye')
conn.close()  # the server closes first: this end waits in TIME_WAIT for 60 s
server.close()

# second run, at once
server = socket(AF_INET, SOCK_STREAM)
try:
    server.bind(ADDR)  # OSError: [Errno 98] Address already in use
except OSError as e:
    print(e)
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
server.bind(ADDR)  # works now, TIME_WAIT or not
server.listen(5)
server.close()

# client.py
from socket import *

client = socket(AF_INET, SOCK_STREAM)
client.connect(('127.0.0.1', 12345))
while True:
    data = client.recv(1024)
    if not data:  # the server closed
        break
client.close()
`

const (
	aiuFirst  = "# first run"
	aiuSecond = "# second run"
)

var aiuLine = struct {
	socket, reuse, bind, listen, accept, send, closeConn, closeServer int
	socket2, bindFail, reuse2, bind2, listen2, close2                 int
	cSocket, cConnect, cRecv, cClose                                  int
}{
	socket:      lineAfter(addrInUseListing, aiuFirst, "server = socket("),
	reuse:       lineAfter(addrInUseListing, aiuFirst, "server.setsockopt("),
	bind:        lineAfter(addrInUseListing, aiuFirst, "server.bind("),
	listen:      lineAfter(addrInUseListing, aiuFirst, "server.listen("),
	accept:      lineOf(addrInUseListing, "server.accept()"),
	send:        lineOf(addrInUseListing, "conn.send("),
	closeConn:   lineOf(addrInUseListing, "conn.close()"),
	closeServer: lineAfter(addrInUseListing, aiuFirst, "server.close()"),
	socket2:     lineAfter(addrInUseListing, aiuSecond, "server = socket("),
	bindFail:    lineAfter(addrInUseListing, aiuSecond, "server.bind("),
	reuse2:      lineAfter(addrInUseListing, aiuSecond, "server.setsockopt("),
	bind2:       lineOf(addrInUseListing, "works now"),
	listen2:     lineAfter(addrInUseListing, aiuSecond, "server.listen("),
	close2:      lineAfter(addrInUseListing, aiuSecond, "server.close()"),
	cSocket:     lineOf(addrInUseListing, "client = socket("),
	cConnect:    lineOf(addrInUseListing, "client.connect("),
	cRecv:       lineOf(addrInUseListing, "client.recv("),
	cClose:      lineOf(addrInUseListing, "client.close()"),
}

func runAddrInUse(env *Env) error {
	ready := make(chan netip.AddrPort, 1)
	// The restart follows the client's close, so that the old connection
	// is in TIME_WAIT (not FIN_WAIT2) when bind() runs into it.
	clientClosed := newSignal()
	env.Go(func() error { return aiuServer(env, ready, clientClosed) })
	env.Go(func() error {
		defer clientClosed.fire()
		return aiuClient(env, ready)
	})
	return nil
}

func aiuServer(env *Env, ready chan<- netip.AddrPort, clientClosed *signal) error {
	l := &aiuLine
	server, err := env.At(l.socket).Socket("server", env.Family(), unix.SOCK_STREAM)
	if err != nil {
		return err
	}
	if err := server.At(l.reuse).SetReuseAddr(true); err != nil {
		return err
	}
	if err := server.At(l.bind).Bind(env.Addr()); err != nil {
		return err
	}
	if err := server.At(l.listen).Listen(5); err != nil {
		return err
	}
	addr := server.Local()
	ready <- addr
	conn, err := server.At(l.accept).Accept()
	if err != nil {
		return err
	}
	if _, err := conn.At(l.send).Send([]byte("bye")); err != nil {
		return err
	}
	if err := conn.At(l.closeConn).Close(); err != nil {
		return err
	}
	if err := server.At(l.closeServer).Close(); err != nil {
		return err
	}

	env.Wait(clientClosed.done())
	server, err = env.At(l.socket2).Socket("server", env.Family(), unix.SOCK_STREAM)
	if err != nil {
		return err
	}
	if err := server.At(l.bindFail).Bind(addr); expect(err, unix.EADDRINUSE) != nil {
		return fmt.Errorf("server: bind beside TIME_WAIT: %w", expect(err, unix.EADDRINUSE))
	}
	if err := server.At(l.reuse2).SetReuseAddr(true); err != nil {
		return err
	}
	if err := server.At(l.bind2).Bind(addr); err != nil {
		return err
	}
	if err := server.At(l.listen2).Listen(5); err != nil {
		return err
	}
	return server.At(l.close2).Close()
}

func aiuClient(env *Env, ready <-chan netip.AddrPort) error {
	l := &aiuLine
	addr, ok := await(env, ready)
	if !ok {
		return nil
	}
	client, err := connectTCP(env, "client", l.cSocket, l.cConnect, addr)
	if err != nil {
		return err
	}
	if err := recvUntilClosed(client, l.cRecv); err != nil {
		return err
	}
	return client.At(l.cClose).Close()
}
