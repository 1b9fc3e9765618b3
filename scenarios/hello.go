package scenarios

import (
	"fmt"
	"net/netip"
	"sync"
)

// The threaded server of tutorial 002: it welcomes each client, then greets
// every name the client sends until "exit". Several clients run at once,
// each on its own ephemeral port: the server tells their connections apart
// by the four-tuple, although every accepted socket has the same local
// address.
var hello = &Scenario{
	Name:     "hello",
	Summary:  `a threaded server: each client (--clients, default 2) gets "Welcome!", then "Hello, <name>!" for every name until "exit"`,
	Tutorial: "002_e397b088a7bb013c.txt",
	Duration: "< 1 s",
	Listing:  helloListing,
	Run:      runHello,
}

const helloListing = `# server.py: one thread per connection (tutorial 002)
import socket
import threading

CLIENTS = 2  # --clients

def tcplink(sock, addr):
    print('Accept new connection from %s:%s...' % addr)
    sock.send(b'Welcome!')
    while True:
        data = sock.recv(1024)
        # the tutorial sleeps here: time.sleep(1)
        if not data or data.decode('utf-8') == 'exit':
            break
        sock.send(('Hello, %s!' % data.decode('utf-8')).encode('utf-8'))
    sock.close()
    print('Connection from %s:%s closed.' % addr)

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(('127.0.0.1', 9999))
s.listen(5)
print('Waiting for connection...')
threads = []
for i in range(CLIENTS):  # the tutorial loops forever: while True
    sock, addr = s.accept()
    t = threading.Thread(target=tcplink, args=(sock, addr))
    t.start()
    threads.append(t)
for t in threads:
    t.join()
s.close()

# client.py: CLIENTS copies run at once, each in its own thread
import socket

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect(('127.0.0.1', 9999))
print(s.recv(1024).decode('utf-8'))  # Welcome!
for data in [b'Michael', b'Tracy', b'Sarah']:
    s.send(data)
    print(s.recv(1024).decode('utf-8'))
s.send(b'exit')
s.close()
`

var helloLine = struct {
	socket, bind, listen, accept, welcome, recv, send, closeConn, closeSock int
	cSocket, cConnect, cWelcome, cSend, cRecv, cExit, cClose                int
}{
	socket:    lineAfter(helloListing, "# server.py", "s = socket.socket("),
	bind:      lineOf(helloListing, "s.bind("),
	listen:    lineOf(helloListing, "s.listen("),
	accept:    lineOf(helloListing, "s.accept()"),
	welcome:   lineOf(helloListing, "sock.send(b'Welcome!')"),
	recv:      lineOf(helloListing, "data = sock.recv(1024)"),
	send:      lineOf(helloListing, "sock.send(('Hello"),
	closeConn: lineOf(helloListing, "    sock.close()"),
	closeSock: lineAfter(helloListing, "t.join()", "s.close()"),
	cSocket:   lineAfter(helloListing, "# client.py", "s = socket.socket("),
	cConnect:  lineOf(helloListing, "s.connect("),
	cWelcome:  lineOf(helloListing, "# Welcome!"),
	cSend:     lineOf(helloListing, "    s.send(data)"),
	cRecv:     lineAfter(helloListing, "    s.send(data)", "s.recv(1024)"),
	cExit:     lineOf(helloListing, "s.send(b'exit')"),
	cClose:    lineAfter(helloListing, "s.send(b'exit')", "s.close()"),
}

var helloNames = []string{"Michael", "Tracy", "Sarah"}

func runHello(env *Env) error {
	n := env.Clients(2)
	ready := make(chan netip.AddrPort, 1)
	// The client sends "exit" and closes at once while its server thread
	// is still in recv(): in Python the two closes race. Here each server
	// thread closes after its client did, so the client's FIN always comes
	// first.
	var closed signals
	env.Go(func() error { return helloServer(env, n, ready, &closed) })
	env.Go(func() error {
		addr, ok := await(env, ready)
		if !ok {
			return nil
		}
		for i := range n {
			env.Go(func() error { return helloClient(env, clientLane(i, n), addr, &closed) })
		}
		return nil
	})
	return nil
}

func helloServer(env *Env, n int, ready chan<- netip.AddrPort, closed *signals) error {
	l := &helloLine
	s, err := listenTCP(env, listenLines{l.socket, l.bind, l.listen}, 5)
	if err != nil {
		return err
	}
	ready <- s.Local()
	var threads sync.WaitGroup
	for range n {
		conn, err := s.At(l.accept).Accept()
		if err != nil {
			return err
		}
		threads.Add(1)
		env.Go(func() error {
			defer threads.Done()
			return tcplink(env, conn, closed.get(conn.Remote()))
		})
	}
	threads.Wait()
	return s.At(l.closeSock).Close()
}

func tcplink(env *Env, sock *Sock, clientClosed *signal) error {
	l := &helloLine
	if _, err := sock.At(l.welcome).Send([]byte("Welcome!")); err != nil {
		return err
	}
	for {
		data, err := sock.At(l.recv).Recv(1024)
		if err != nil {
			return err
		}
		if len(data) == 0 || string(data) == "exit" {
			break
		}
		if _, err := sock.At(l.send).Send([]byte(fmt.Sprintf("Hello, %s!", data))); err != nil {
			return err
		}
	}
	env.Wait(clientClosed.done())
	return sock.At(l.closeConn).Close()
}

func helloClient(env *Env, lane string, addr netip.AddrPort, closed *signals) error {
	l := &helloLine
	s, err := connectTCP(env, lane, l.cSocket, l.cConnect, addr)
	if err != nil {
		return err
	}
	done := closed.get(s.Local())
	defer done.fire()
	if _, err := s.At(l.cWelcome).Recv(1024); err != nil {
		return err
	}
	for _, name := range env.Messages(helloNames) {
		if name == "exit" {
			break // the quit word: sent below
		}
		if name == "" {
			continue // send(b'') puts nothing on the wire and the server would wait
		}
		if _, err := s.At(l.cSend).Send([]byte(name)); err != nil {
			return err
		}
		if _, err := s.At(l.cRecv).Recv(1024); err != nil {
			return err
		}
	}
	if _, err := s.At(l.cExit).Send([]byte("exit")); err != nil {
		return err
	}
	return s.At(l.cClose).Close()
}
