package scenarios

import (
	"bytes"
	"net/netip"

	"golang.org/x/sys/unix"
)

// A half-close: the client sends its request and shutdown(SHUT_WR)s its
// sending half (a FIN), then keeps reading: the server reads until that
// FIN, then answers on the connection's other half.
var halfClose = &Scenario{
	Name:     "half-close",
	Summary:  "the client sends, then shutdown(SHUT_WR): its FIN goes one way while the server's answer still flows the other",
	Tutorial: "001_e838be0f4307280d.txt",
	Duration: "< 1 s",
	Listing:  halfCloseListing,
	Run:      runHalfClose,
}

const halfCloseListing = `# server.py: reads the whole request (until the client's FIN), then answers
from socket import *

server = socket(AF_INET, SOCK_STREAM)
server.bind(('127.0.0.1', 12345))
server.listen(5)
conn, addr = server.accept()
request = b''
while True:
    data = conn.recv(1024)
    if not data:  # the client's FIN: it will send nothing more
        break
    request += data
conn.send(request.upper())  # the client still reads, after its FIN
conn.close()
server.close()

# client.py: sends its request, then says "I'm done sending"
from socket import *

client = socket(AF_INET, SOCK_STREAM)
client.connect(('127.0.0.1', 12345))
client.send(b'please answer in capitals')
client.shutdown(SHUT_WR)  # FIN: no more data from the client, but it still reads
while True:
    data = client.recv(1024)
    if not data:  # the server's FIN
        break
    print(data.decode())
client.close()
`

var halfLine = struct {
	socket, bind, listen, accept, recv, send, closeConn, closeServer int
	cSocket, cConnect, cSend, cShutdown, cRecv, cClose               int
}{
	socket:      lineOf(halfCloseListing, "server = socket("),
	bind:        lineOf(halfCloseListing, "server.bind("),
	listen:      lineOf(halfCloseListing, "server.listen("),
	accept:      lineOf(halfCloseListing, "server.accept()"),
	recv:        lineOf(halfCloseListing, "conn.recv("),
	send:        lineOf(halfCloseListing, "conn.send("),
	closeConn:   lineOf(halfCloseListing, "conn.close()"),
	closeServer: lineOf(halfCloseListing, "server.close()"),
	cSocket:     lineOf(halfCloseListing, "client = socket("),
	cConnect:    lineOf(halfCloseListing, "client.connect("),
	cSend:       lineOf(halfCloseListing, "client.send("),
	cShutdown:   lineOf(halfCloseListing, "client.shutdown("),
	cRecv:       lineOf(halfCloseListing, "client.recv("),
	cClose:      lineOf(halfCloseListing, "client.close()"),
}

func runHalfClose(env *Env) error {
	ready := make(chan netip.AddrPort, 1)
	env.Go(func() error { return halfServer(env, ready) })
	env.Go(func() error { return halfClient(env, ready) })
	return nil
}

func halfServer(env *Env, ready chan<- netip.AddrPort) error {
	l := &halfLine
	server, err := listenTCP(env, listenLines{l.socket, l.bind, l.listen}, 5)
	if err != nil {
		return err
	}
	ready <- server.Local()
	conn, err := server.At(l.accept).Accept()
	if err != nil {
		return err
	}
	var request []byte
	for {
		data, err := conn.At(l.recv).Recv(1024)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			break
		}
		request = append(request, data...)
	}
	if len(request) > 0 {
		if _, err := conn.At(l.send).Send(bytes.ToUpper(request)); err != nil {
			return err
		}
	}
	if err := conn.At(l.closeConn).Close(); err != nil {
		return err
	}
	return server.At(l.closeServer).Close()
}

func halfClient(env *Env, ready <-chan netip.AddrPort) error {
	l := &halfLine
	addr, ok := await(env, ready)
	if !ok {
		return nil
	}
	request := "please answer in capitals"
	if m := env.Messages(nil); len(m) > 0 {
		request = m[0]
	}
	client, err := connectTCP(env, "client", l.cSocket, l.cConnect, addr)
	if err != nil {
		return err
	}
	if request != "" {
		if _, err := client.At(l.cSend).Send([]byte(request)); err != nil {
			return err
		}
	}
	if err := client.At(l.cShutdown).Shutdown(unix.SHUT_WR); err != nil {
		return err
	}
	if err := recvUntilClosed(client, l.cRecv); err != nil {
		return err
	}
	return client.At(l.cClose).Close()
}
