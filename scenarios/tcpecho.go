package scenarios

import (
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
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

// The listing lines of tcp-echo's calls.
var echoLine = struct {
	socket, bind, listen, accept, recv, send, closeConn, closeSock int
	cSocket, cConnect, cSend, cRecv, cClose                        int
}{
	socket:    lineOf(tcpEchoListing, "sock = socket("),
	bind:      lineOf(tcpEchoListing, "sock.bind("),
	listen:    lineOf(tcpEchoListing, "sock.listen("),
	accept:    lineOf(tcpEchoListing, "sock.accept()"),
	recv:      lineOf(tcpEchoListing, "tcpClientSock.recv("),
	send:      lineOf(tcpEchoListing, "tcpClientSock.send("),
	closeConn: lineOf(tcpEchoListing, "tcpClientSock.close()"),
	closeSock: lineOf(tcpEchoListing, "sock.close()"),
	cSocket:   lineOf(tcpEchoListing, "client = socket("),
	cConnect:  lineOf(tcpEchoListing, "client.connect("),
	cSend:     lineOf(tcpEchoListing, "client.send("),
	cRecv:     lineOf(tcpEchoListing, "client.recv("),
	cClose:    lineOf(tcpEchoListing, "client.close()"),
}

var tcpEchoMessages = []string{"hello", "how are you?", "bye"}

const echoBufSize = 1024

func runTCPEcho(env *Env) error {
	ready := make(chan netip.AddrPort, 1) // the listening address
	env.Go(func() error { return echoServer(env, ready) })
	env.Go(func() error { return echoClient(env, ready) })
	return nil
}

func echoServer(env *Env, ready chan<- netip.AddrPort) error {
	l := &echoLine
	sock, err := env.At(l.socket).Socket("server", env.Family(), unix.SOCK_STREAM)
	if err != nil {
		return err
	}
	if err := sock.At(l.bind).Bind(env.Addr()); err != nil {
		return err
	}
	if err := sock.At(l.listen).Listen(5); err != nil {
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

func echoClient(env *Env, ready <-chan netip.AddrPort) error {
	l := &echoLine
	var addr netip.AddrPort
	select {
	case addr = <-ready:
	case <-env.Context().Done():
		return nil // the run says why it stopped
	}
	client, err := env.At(l.cSocket).Socket("client", env.Family(), unix.SOCK_STREAM)
	if err != nil {
		return err
	}
	if err := client.At(l.cConnect).Connect(addr); err != nil {
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
