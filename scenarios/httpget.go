package scenarios

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

// The raw-socket HTTP GET of tutorials 000, 001 and 004. The tutorials
// fetch a public web site; here a tiny web server on loopback serves a page
// of a few KB. The request says "Connection: close", so the server closes
// first and its end of the connection waits in TIME_WAIT.
var httpGet = &Scenario{
	Name:     "http-get",
	Summary:  "an HTTP/1.1 GET with Connection: close: the client reads the page 1024 bytes at a time until the server closes first",
	Tutorial: "000_f8a12a00259c81ed.txt",
	Duration: "< 1 s",
	Listing:  httpGetListing,
	Run:      runHTTPGet,
}

const httpGetListing = `# webserver.py: a tiny web server, standing in for www.sina.com.cn
from socket import *

page = open('index.html', 'rb').read()  # a page of 3 KB
server = socket(AF_INET, SOCK_STREAM)
server.bind(('127.0.0.1', 8080))
server.listen(5)
conn, addr = server.accept()
request = conn.recv(1024)  # GET / HTTP/1.1 ...
conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' % len(page) + page)
conn.close()  # Connection: close: the server closes first
server.close()

# client.py: the tutorial's GET (000)
import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect(('127.0.0.1', 8080))
s.send(b'GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n\r\n')
buffer = []
while True:
    # at most 1 KB each time
    d = s.recv(1024)
    if d:
        buffer.append(d)
    else:
        break
data = b''.join(buffer)
s.close()
header, html = data.split(b'\r\n\r\n', 1)
print(header.decode('utf-8'))
with open('sina.html', 'wb') as f:
    f.write(html)
`

var httpLine = struct {
	socket, bind, listen, accept, recv, send, closeConn, closeServer int
	cSocket, cConnect, cSend, cRecv, cClose                          int
}{
	socket:      lineOf(httpGetListing, "server = socket("),
	bind:        lineOf(httpGetListing, "server.bind("),
	listen:      lineOf(httpGetListing, "server.listen("),
	accept:      lineOf(httpGetListing, "server.accept()"),
	recv:        lineOf(httpGetListing, "request = conn.recv("),
	send:        lineOf(httpGetListing, "conn.sendall("),
	closeConn:   lineOf(httpGetListing, "conn.close()"),
	closeServer: lineOf(httpGetListing, "server.close()"),
	cSocket:     lineOf(httpGetListing, "s = socket.socket("),
	cConnect:    lineOf(httpGetListing, "s.connect("),
	cSend:       lineOf(httpGetListing, "s.send("),
	cRecv:       lineOf(httpGetListing, "d = s.recv(1024)"),
	cClose:      lineOf(httpGetListing, "s.close()"),
}

// httpPage is the page the server serves: about 3 KB of HTML.
var httpPage = func() []byte {
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html>\n<head><title>sockscope</title></head>\n<body>\n<h1>Hello from loopback</h1>\n")
	facts := []string{
		"TCP carries a stream of bytes, not messages.",
		"A SYN and a FIN each use up one sequence number.",
		"recv(1024) returns at most 1024 bytes; the rest waits in the receive buffer.",
		"The side that closes first waits in TIME_WAIT.",
	}
	for i := 0; b.Len() < 3000; i++ {
		fmt.Fprintf(&b, "<p>%2d. %s</p>\n", i+1, facts[i%len(facts)])
	}
	b.WriteString("</body>\n</html>\n")
	return b.Bytes()
}()

func runHTTPGet(env *Env) error {
	ready := make(chan netip.AddrPort, 1)
	env.Go(func() error { return httpServer(env, ready) })
	env.Go(func() error { return httpClient(env, ready) })
	return nil
}

func httpServer(env *Env, ready chan<- netip.AddrPort) error {
	l := &httpLine
	server, err := listenTCP(env, listenLines{l.socket, l.bind, l.listen}, 5)
	if err != nil {
		return err
	}
	ready <- server.Local()
	conn, err := server.At(l.accept).Accept()
	if err != nil {
		return err
	}
	if _, err := conn.At(l.recv).Recv(1024); err != nil {
		return err
	}
	resp := fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", len(httpPage))
	if err := conn.At(l.send).Sendall(append(resp, httpPage...)); err != nil {
		return err
	}
	if err := conn.At(l.closeConn).Close(); err != nil {
		return err
	}
	return server.At(l.closeServer).Close()
}

func httpClient(env *Env, ready <-chan netip.AddrPort) error {
	l := &httpLine
	addr, ok := await(env, ready)
	if !ok {
		return nil
	}
	s, err := connectTCP(env, "client", l.cSocket, l.cConnect, addr)
	if err != nil {
		return err
	}
	req := fmt.Sprintf("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
	if _, err := s.At(l.cSend).Send([]byte(req)); err != nil {
		return err
	}
	var data []byte
	for {
		d, err := s.At(l.cRecv).Recv(1024)
		if err != nil {
			return err
		}
		if len(d) == 0 {
			break
		}
		data = append(data, d...)
	}
	if err := s.At(l.cClose).Close(); err != nil {
		return err
	}
	header, body, ok := strings.Cut(string(data), "\r\n\r\n")
	if !ok || !strings.HasPrefix(header, "HTTP/1.1 200 OK") || body != string(httpPage) {
		return fmt.Errorf("client: the response is not the page: %d bytes", len(data))
	}
	return nil
}
