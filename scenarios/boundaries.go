package scenarios

import (
	"bytes"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// Message boundaries, from tutorial 003's note that recv(BUFSIZ) returns
// at most BUFSIZ bytes and that the rest waits in the receive buffer. TCP
// is a byte stream: three quick sends arrive in one recv, and one
// 5000-byte send is read by recv(1024) in five pieces. UDP keeps each
// datagram whole, and cuts one larger than the buffer: the rest is lost.
var boundaries = &Scenario{
	Name:     "boundaries",
	Summary:  "TCP is a byte stream: three sends read by one recv, one 5000-byte send read by recv(1024) in pieces; UDP keeps datagrams whole and truncates a big one",
	Tutorial: "003_91d756ff9d2e4137.txt",
	Duration: "< 1 s",
	Listing:  boundariesListing,
	Run:      runBoundaries,
}

const boundariesListing = `# server.py
from socket import *
import time

# TCP: a byte stream
server = socket(AF_INET, SOCK_STREAM)
server.bind(('127.0.0.1', 12345))
server.listen(5)
conn, addr = server.accept()
time.sleep(0.1)  # busy: meanwhile the client's three sends arrive
print(conn.recv(1024))  # b'onetwothree': three sends, one recv
conn.send(b'ok')
got = 0
while got < 5000:
    piece = conn.recv(1024)  # at most 1024 bytes; the rest waits in the buffer
    got += len(piece)
print(conn.recv(1024))  # b'': the client closed
conn.close()
server.close()

# UDP: datagrams
udp = socket(AF_INET, SOCK_DGRAM)
udp.bind(('127.0.0.1', 12346))
time.sleep(0.1)  # busy: meanwhile the client's datagrams arrive
for i in range(3):
    print(udp.recvfrom(1024))  # one datagram each time, whole
data, addr = udp.recvfrom(1024)  # 2000 bytes sent: the first 1024, the rest is lost
data, addr = udp.recvfrom(1024)  # b'last': the next datagram
udp.close()

# client.py
from socket import *

client = socket(AF_INET, SOCK_STREAM)
client.connect(('127.0.0.1', 12345))
for word in [b'one', b'two', b'three']:
    client.send(word)
client.recv(1024)  # b'ok': the server has read them
client.send(b'0123456789' * 500)  # 5000 bytes in one send
client.close()

udp = socket(AF_INET, SOCK_DGRAM)
for word in [b'one', b'two', b'three']:
    udp.sendto(word, ('127.0.0.1', 12346))
udp.sendto(b'x' * 2000, ('127.0.0.1', 12346))
udp.sendto(b'last', ('127.0.0.1', 12346))
udp.close()
`

const boundClient = "# client.py"

var boundLine = struct {
	socket, bind, listen, accept, recvAll, sendOK, recvPiece, recvEOF, closeConn, closeServer int
	uSocket, uBind, uRecv, uRecvBig, uRecvLast, uClose                                        int
	cSocket, cConnect, cSend, cRecv, cSendBig, cClose                                         int
	cuSocket, cuSendto, cuSendBig, cuSendLast, cuClose                                        int
}{
	socket:      lineOf(boundariesListing, "server = socket("),
	bind:        lineOf(boundariesListing, "server.bind("),
	listen:      lineOf(boundariesListing, "server.listen("),
	accept:      lineOf(boundariesListing, "server.accept()"),
	recvAll:     lineOf(boundariesListing, "three sends, one recv"),
	sendOK:      lineOf(boundariesListing, "conn.send(b'ok')"),
	recvPiece:   lineOf(boundariesListing, "piece = conn.recv(1024)"),
	recvEOF:     lineOf(boundariesListing, "the client closed"),
	closeConn:   lineOf(boundariesListing, "conn.close()"),
	closeServer: lineOf(boundariesListing, "server.close()"),
	uSocket:     lineAfter(boundariesListing, "# UDP: datagrams", "udp = socket("),
	uBind:       lineOf(boundariesListing, "udp.bind("),
	uRecv:       lineOf(boundariesListing, "print(udp.recvfrom(1024))"),
	uRecvBig:    lineOf(boundariesListing, "the rest is lost"),
	uRecvLast:   lineOf(boundariesListing, "the next datagram"),
	uClose:      lineAfter(boundariesListing, "# UDP: datagrams", "udp.close()"),
	cSocket:     lineOf(boundariesListing, "client = socket("),
	cConnect:    lineOf(boundariesListing, "client.connect("),
	cSend:       lineOf(boundariesListing, "client.send(word)"),
	cRecv:       lineOf(boundariesListing, "client.recv(1024)"),
	cSendBig:    lineOf(boundariesListing, "client.send(b'0123456789' * 500)"),
	cClose:      lineOf(boundariesListing, "client.close()"),
	cuSocket:    lineAfter(boundariesListing, boundClient, "udp = socket("),
	cuSendto:    lineOf(boundariesListing, "udp.sendto(word"),
	cuSendBig:   lineOf(boundariesListing, "udp.sendto(b'x' * 2000"),
	cuSendLast:  lineOf(boundariesListing, "udp.sendto(b'last'"),
	cuClose:     lineAfter(boundariesListing, boundClient, "udp.close()"),
}

// boundaryPause is the server's time.sleep(0.1): it is busy while the
// client's data arrives.
const boundaryPause = 100 * time.Millisecond

var (
	boundWords = []string{"one", "two", "three"}
	boundBig   = bytes.Repeat([]byte("0123456789"), 500)
	boundDgram = bytes.Repeat([]byte("x"), 2000)
)

func runBoundaries(env *Env) error {
	tcpReady := make(chan netip.AddrPort, 1)
	udpReady := make(chan netip.AddrPort, 1)
	// Python's server sleeps and trusts that the data arrives meanwhile;
	// here it also waits until the client's last send has returned (on
	// loopback, send returns once the bytes are delivered), so that the
	// story holds on a loaded machine too.
	wordsSent, dgramsSent := newSignal(), newSignal()
	env.Go(func() error {
		if err := boundTCPServer(env, tcpReady, wordsSent); err != nil {
			return err
		}
		return boundUDPServer(env, udpReady, dgramsSent)
	})
	env.Go(func() error {
		defer wordsSent.fire()
		defer dgramsSent.fire()
		if err := boundTCPClient(env, tcpReady, wordsSent); err != nil {
			return err
		}
		return boundUDPClient(env, udpReady, dgramsSent)
	})
	return nil
}

func boundTCPServer(env *Env, ready chan<- netip.AddrPort, wordsSent *signal) error {
	l := &boundLine
	server, err := listenTCP(env, listenLines{l.socket, l.bind, l.listen}, 5)
	if err != nil {
		return err
	}
	ready <- server.Local()
	conn, err := server.At(l.accept).Accept()
	if err != nil {
		return err
	}
	env.Sleep(boundaryPause)
	env.Wait(wordsSent.done())
	if _, err := conn.At(l.recvAll).Recv(1024); err != nil {
		return err
	}
	if _, err := conn.At(l.sendOK).Send([]byte("ok")); err != nil {
		return err
	}
	for got := 0; got < len(boundBig); {
		piece, err := conn.At(l.recvPiece).Recv(1024)
		if err != nil {
			return err
		}
		if len(piece) == 0 {
			break // the client closed early
		}
		got += len(piece)
	}
	if _, err := conn.At(l.recvEOF).Recv(1024); err != nil {
		return err
	}
	if err := conn.At(l.closeConn).Close(); err != nil {
		return err
	}
	return server.At(l.closeServer).Close()
}

func boundUDPServer(env *Env, ready chan<- netip.AddrPort, dgramsSent *signal) error {
	l := &boundLine
	udp, err := env.At(l.uSocket).Socket("server", env.Family(), unix.SOCK_DGRAM)
	if err != nil {
		return err
	}
	// The kernel picks the port unless --port asked for one: then the
	// next one, as the listing's 12346.
	addr := env.Addr()
	if addr.Port() != 0 {
		addr = netip.AddrPortFrom(addr.Addr(), addr.Port()+1)
	}
	if err := udp.At(l.uBind).Bind(addr); err != nil {
		return err
	}
	ready <- udp.Local()
	env.Sleep(boundaryPause)
	env.Wait(dgramsSent.done())
	for range boundWords {
		if _, _, err := udp.At(l.uRecv).Recvfrom(1024); err != nil {
			return err
		}
	}
	if _, _, err := udp.At(l.uRecvBig).Recvfrom(1024); err != nil {
		return err
	}
	if _, _, err := udp.At(l.uRecvLast).Recvfrom(1024); err != nil {
		return err
	}
	return udp.At(l.uClose).Close()
}

func boundTCPClient(env *Env, ready <-chan netip.AddrPort, wordsSent *signal) error {
	l := &boundLine
	addr, ok := await(env, ready)
	if !ok {
		return nil
	}
	client, err := connectTCP(env, "client", l.cSocket, l.cConnect, addr)
	if err != nil {
		return err
	}
	for _, w := range boundWords {
		if _, err := client.At(l.cSend).Send([]byte(w)); err != nil {
			return err
		}
	}
	wordsSent.fire()
	if _, err := client.At(l.cRecv).Recv(1024); err != nil {
		return err
	}
	if _, err := client.At(l.cSendBig).Send(boundBig); err != nil {
		return err
	}
	return client.At(l.cClose).Close()
}

func boundUDPClient(env *Env, ready <-chan netip.AddrPort, dgramsSent *signal) error {
	l := &boundLine
	addr, ok := await(env, ready)
	if !ok {
		return nil
	}
	udp, err := env.At(l.cuSocket).Socket("client", env.Family(), unix.SOCK_DGRAM)
	if err != nil {
		return err
	}
	for _, w := range boundWords {
		if _, err := udp.At(l.cuSendto).Sendto([]byte(w), addr); err != nil {
			return err
		}
	}
	if _, err := udp.At(l.cuSendBig).Sendto(boundDgram, addr); err != nil {
		return err
	}
	if _, err := udp.At(l.cuSendLast).Sendto([]byte("last"), addr); err != nil {
		return err
	}
	dgramsSent.fire()
	return udp.At(l.cuClose).Close()
}
