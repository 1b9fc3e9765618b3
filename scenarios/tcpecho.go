package scenarios

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// The ctime echo server and its client, from tutorial 003. The tutorial's
// server loops back to accept() forever and its client reads lines from the
// keyboard; here the server serves one client and the client sends
// Options.Message.
var tcpEcho = &Scenario{
	Name:     "tcp-echo",
	Summary:  `a client sends three lines, the server answers each with "[ctime] line"; the client closes first`,
	Tutorial: "003_91d756ff9d2e4137.txt",
	Duration: "< 1 s",
	Listing:  tcpEchoListing,
	Run:      runTCPEcho,
}

const tcpEchoListing = `# tcpserver.py: the ctime echo server
from socket import *
from time import ctime

HOST = '127.0.0.1'
PORT = 12345
BUFSIZ = 1024
ADDR = (HOST, PORT)

sock = socket(AF_INET, SOCK_STREAM)
sock.bind(ADDR)
sock.listen(5)
print('waiting for connection')
tcpClientSock, addr = sock.accept()
print('connect from', addr)
while True:
    data = tcpClientSock.recv(BUFSIZ)
    if not data:
        break
    tcpClientSock.send(('[%s] %s' % (ctime(), data.decode())).encode())
    print([ctime()], ':', data)
tcpClientSock.close()
sock.close()

# tcpclient.py: its client, started once the server listens
from socket import *

HOST = '127.0.0.1'
PORT = 12345
BUFSIZ = 1024
ADDR = (HOST, PORT)

client = socket(AF_INET, SOCK_STREAM)
client.connect(ADDR)
for data in ['hello', 'how are you?', 'bye']:  # instead of input('>')
    client.send(data.encode())
    data = client.recv(BUFSIZ)
    if not data:
        break
    print(data.decode())
client.close()
`

// echoLines are the listing lines of tcp-echo's calls.
type echoLines struct {
	socket, bind, listen, accept, recv, send, closeConn, closeSock int
	cSocket, cConnect, cSend, cRecv, cClose                        int
}

func echoLinesOf(listing string) *echoLines {
	return &echoLines{
		socket:    lineOf(listing, "sock = socket("),
		bind:      lineOf(listing, "sock.bind("),
		listen:    lineOf(listing, "sock.listen("),
		accept:    lineOf(listing, "sock.accept()"),
		recv:      lineOf(listing, "tcpClientSock.recv("),
		send:      lineOf(listing, "tcpClientSock.send("),
		closeConn: lineOf(listing, "tcpClientSock.close()"),
		closeSock: lineOf(listing, "sock.close()"),
		cSocket:   lineOf(listing, "client = socket("),
		cConnect:  lineOf(listing, "client.connect("),
		cSend:     lineOf(listing, "client.send("),
		cRecv:     lineOf(listing, "client.recv("),
		cClose:    lineOf(listing, "client.close()"),
	}
}

var echoLine = echoLinesOf(tcpEchoListing)

// The same programs over IPv6: AF_INET6 sockets on ::1.
var ipv6Echo = &Scenario{
	Name:     "ipv6",
	Summary:  "tcp-echo over IPv6: AF_INET6 sockets on ::1, the same handshake, data and close",
	Tutorial: "003_91d756ff9d2e4137.txt",
	Duration: "< 1 s",
	Listing:  ipv6EchoListing,
	Run:      func(env *Env) error { return runEcho(env, ipv6EchoLine) },
	host:     "::1",
}

var ipv6EchoListing = strings.NewReplacer(
	"# tcpserver.py: the ctime echo server", "# tcpserver6.py: the ctime echo server over IPv6",
	"# tcpclient.py: its client", "# tcpclient6.py: its client",
	"AF_INET", "AF_INET6",
	"'127.0.0.1'", "'::1'",
).Replace(tcpEchoListing)

var ipv6EchoLine = echoLinesOf(ipv6EchoListing)

var tcpEchoMessages = []string{"hello", "how are you?", "bye"}

const echoBufSize = 1024

func runTCPEcho(env *Env) error { return runEcho(env, echoLine) }

func runEcho(env *Env, l *echoLines) error {
	ready := make(chan netip.AddrPort, 1) // the listening address
	env.Go(func() error { return echoServer(env, l, ready) })
	env.Go(func() error { return echoClient(env, l, ready) })
	return nil
}

func echoServer(env *Env, l *echoLines, ready chan<- netip.AddrPort) error {
	sock, err := listenTCP(env, listenLines{l.socket, l.bind, l.listen}, 5)
	if err != nil {
		return err
	}
	ready <- sock.Local()
	conn, err := sock.At(l.accept).Accept()
	if err != nil {
		return err
	}
	for {
		data, err := conn.At(l.recv).Recv(echoBufSize)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			break
		}
		reply := fmt.Sprintf("[%s] %s", ctime(time.Now()), data)
		if _, err := conn.At(l.send).Send([]byte(reply)); err != nil {
			return err
		}
	}
	if err := conn.At(l.closeConn).Close(); err != nil {
		return err
	}
	return sock.At(l.closeSock).Close()
}

func echoClient(env *Env, l *echoLines, ready <-chan netip.AddrPort) error {
	var addr netip.AddrPort
	select {
	case addr = <-ready:
	case <-env.Context().Done():
		return nil // the run says why it stopped
	}
	client, err := connectTCP(env, "client", l.cSocket, l.cConnect, addr)
	if err != nil {
		return err
	}
	msgs := env.Options().Message
	if len(msgs) == 0 {
		msgs = tcpEchoMessages
	}
	for _, m := range msgs {
		if m == "" {
			break // the tutorial's client stops at an empty line
		}
		if _, err := client.At(l.cSend).Send([]byte(m)); err != nil {
			return err
		}
		data, err := client.At(l.cRecv).Recv(echoBufSize)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			break
		}
	}
	return client.At(l.cClose).Close()
}

// ctime formats t as Python's time.ctime() does: "Sun Nov  2 01:14:19 2026".
func ctime(t time.Time) string { return t.Format("Mon Jan _2 15:04:05 2006") }
