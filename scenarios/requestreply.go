package scenarios

import (
	"net/netip"
)

// The server that answers "Yes" to "can you hear me?", from tutorial 004:
// listen(3), sendall, and the server closes first.
var requestReply = &Scenario{
	Name:     "request-reply",
	Summary:  `one request, one reply: "can you hear me?" → "Yes" with listen(3) and sendall; the server closes first`,
	Tutorial: "004_8b501c2cc411b5ba.txt",
	Duration: "< 1 s",
	Listing:  requestReplyListing,
	Run:      runRequestReply,
}

const requestReplyListing = `# org_ser.py: the server
import socket

HOST = '127.0.0.1'
PORT = 8000
reply = 'Yes'

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((HOST, PORT))
# passively wait, 3: maximum number of connections in the queue
s.listen(3)
# accept and establish connection
conn, addr = s.accept()
# receive message
request = conn.recv(1024)
print('request is: ', request.decode())
print('Connected by', addr)
# send message
conn.sendall(reply.encode())
# close connection
conn.close()
s.close()

# org_cli.py: the client
import socket

HOST = '127.0.0.1'
PORT = 8000
request = 'can you hear me?'

# configure socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((HOST, PORT))
# send message
s.sendall(request.encode())
# receive message
reply = s.recv(1024)
print('reply is: ', reply.decode())
# close connection
s.close()
`

const rrClient = "# org_cli.py"

var rrLine = struct {
	socket, bind, listen, accept, recv, send, closeConn, closeSock int
	cSocket, cConnect, cSend, cRecv, cClose                        int
}{
	socket:    lineAfter(requestReplyListing, "# org_ser.py", "s = socket.socket("),
	bind:      lineOf(requestReplyListing, "s.bind("),
	listen:    lineOf(requestReplyListing, "s.listen(3)"),
	accept:    lineOf(requestReplyListing, "s.accept()"),
	recv:      lineOf(requestReplyListing, "conn.recv("),
	send:      lineOf(requestReplyListing, "conn.sendall("),
	closeConn: lineOf(requestReplyListing, "conn.close()"),
	closeSock: lineAfter(requestReplyListing, "conn.close()", "s.close()"),
	cSocket:   lineAfter(requestReplyListing, rrClient, "s = socket.socket("),
	cConnect:  lineOf(requestReplyListing, "s.connect("),
	cSend:     lineOf(requestReplyListing, "s.sendall("),
	cRecv:     lineOf(requestReplyListing, "reply = s.recv("),
	cClose:    lineAfter(requestReplyListing, rrClient+": the client", "s.close()"),
}

func runRequestReply(env *Env) error {
	ready := make(chan netip.AddrPort, 1)
	// The client closes as soon as it has "Yes", while the server's close
	// follows its sendall: in Python the two closes race. Here the client
	// closes after the server did, so the server's FIN always comes first.
	serverClosed := newSignal()
	env.Go(func() error {
		defer serverClosed.fire()
		return rrServer(env, ready, serverClosed)
	})
	env.Go(func() error { return rrClientRun(env, ready, serverClosed) })
	return nil
}

func rrServer(env *Env, ready chan<- netip.AddrPort, closed *signal) error {
	l := &rrLine
	s, err := listenTCP(env, listenLines{l.socket, l.bind, l.listen}, 3)
	if err != nil {
		return err
	}
	ready <- s.Local()
	conn, err := s.At(l.accept).Accept()
	if err != nil {
		return err
	}
	if _, err := conn.At(l.recv).Recv(1024); err != nil {
		return err
	}
	if err := conn.At(l.send).Sendall([]byte("Yes")); err != nil {
		return err
	}
	if err := conn.At(l.closeConn).Close(); err != nil {
		return err
	}
	closed.fire()
	return s.At(l.closeSock).Close()
}

func rrClientRun(env *Env, ready <-chan netip.AddrPort, serverClosed *signal) error {
	l := &rrLine
	addr, ok := await(env, ready)
	if !ok {
		return nil
	}
	request := "can you hear me?"
	if m := env.Messages(nil); len(m) > 0 && m[0] != "" {
		request = m[0]
	}
	s, err := connectTCP(env, "client", l.cSocket, l.cConnect, addr)
	if err != nil {
		return err
	}
	if err := s.At(l.cSend).Sendall([]byte(request)); err != nil {
		return err
	}
	if _, err := s.At(l.cRecv).Recv(1024); err != nil {
		return err
	}
	env.Wait(serverClosed.done())
	return s.At(l.cClose).Close()
}
