package scenarios

import (
	"net/netip"
	"time"
)

// The listen backlog, from tutorial 003 ("requests must queue; if the
// queue is full, the request is refused"). On Linux a full accept queue
// does not refuse: the kernel drops the SYN without an answer, and the
// client's kernel sends it again after its retransmission timeout (1 s for
// a first SYN). listen(1) lets backlog+1 = 2 finished handshakes wait, so
// the third client's SYN is dropped while the server is busy, and its
// retransmission gets through once the server has accepted.
var backlog = &Scenario{
	Name:     "backlog",
	Summary:  "listen(1) and a busy server: 3 clients (--clients) connect, the queue holds 2, the third SYN is dropped and sent again 1 s later",
	Tutorial: "003_91d756ff9d2e4137.txt",
	Duration: "about 1.1 s (the kernel resends a dropped SYN after 1 s)",
	Listing:  backlogListing,
	Run:      runBacklog,
}

const backlogListing = `# server.py: listen(1), then busy before it accepts
from socket import *
import time

CLIENTS = 3  # --clients
server = socket(AF_INET, SOCK_STREAM)
server.bind(('127.0.0.1', 12345))
server.listen(1)  # Linux queues backlog+1 = 2 finished handshakes
time.sleep(0.5)  # busy, not accepting: a SYN that finds the queue full is dropped
for i in range(CLIENTS):
    conn, addr = server.accept()
    conn.send(b'served')
    conn.close()
server.close()

# client.py: CLIENTS copies, started one after the other
from socket import *

client = socket(AF_INET, SOCK_STREAM)
client.connect(('127.0.0.1', 12345))  # waits until a SYN gets through
while True:
    data = client.recv(1024)
    if not data:
        break
    print(data)
client.close()
`

var backlogLine = struct {
	socket, bind, listen, accept, send, closeConn, closeServer int
	cSocket, cConnect, cRecv, cClose                           int
}{
	socket:      lineOf(backlogListing, "server = socket("),
	bind:        lineOf(backlogListing, "server.bind("),
	listen:      lineOf(backlogListing, "server.listen("),
	accept:      lineOf(backlogListing, "server.accept()"),
	send:        lineOf(backlogListing, "conn.send("),
	closeConn:   lineOf(backlogListing, "conn.close()"),
	closeServer: lineOf(backlogListing, "server.close()"),
	cSocket:     lineOf(backlogListing, "client = socket("),
	cConnect:    lineOf(backlogListing, "client.connect("),
	cRecv:       lineOf(backlogListing, "client.recv("),
	cClose:      lineOf(backlogListing, "client.close()"),
}

const (
	backlogBusy = 500 * time.Millisecond // the server's time.sleep(0.5)
	// backlogStagger is how long a client waits for the previous one's
	// connect before it starts anyway: the previous SYN was dropped.
	backlogStagger = 50 * time.Millisecond
)

func runBacklog(env *Env) error {
	n := env.Clients(3)
	ready := make(chan netip.AddrPort, 1)
	env.Go(func() error { return backlogServer(env, n, ready) })
	env.Go(func() error {
		addr, ok := await(env, ready)
		if !ok {
			return nil
		}
		// One after the other: a client starts once the previous one is
		// connected (or waits in connect, its SYN dropped). Started all
		// at once, SYNs would meet half-open connections and the kernel
		// would answer with SYN cookies instead.
		for i := range n {
			connected := newSignal()
			env.Go(func() error {
				defer connected.fire()
				return backlogClient(env, clientLane(i, n), addr, connected)
			})
			select {
			case <-connected.done():
			case <-time.After(backlogStagger):
			case <-env.Context().Done():
				return nil
			}
		}
		return nil
	})
	return nil
}

func backlogServer(env *Env, n int, ready chan<- netip.AddrPort) error {
	l := &backlogLine
	server, err := listenTCP(env, listenLines{l.socket, l.bind, l.listen}, 1)
	if err != nil {
		return err
	}
	ready <- server.Local()
	env.Sleep(backlogBusy)
	for range n {
		conn, err := server.At(l.accept).Accept()
		if err != nil {
			return err
		}
		if _, err := conn.At(l.send).Send([]byte("served")); err != nil {
			return err
		}
		if err := conn.At(l.closeConn).Close(); err != nil {
			return err
		}
	}
	return server.At(l.closeServer).Close()
}

func backlogClient(env *Env, lane string, addr netip.AddrPort, connected *signal) error {
	l := &backlogLine
	client, err := connectTCP(env, lane, l.cSocket, l.cConnect, addr)
	if err != nil {
		return err
	}
	connected.fire()
	if err := recvUntilClosed(client, l.cRecv); err != nil {
		return err
	}
	return client.At(l.cClose).Close()
}
