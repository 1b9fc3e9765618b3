package scenarios

import (
	"net/netip"
	"strings"
	"sync"
)

// The multi-user chat of tutorial 001: a server thread per connection
// answers every message; the client quits when its user types 'Q'. The
// users' typing is scripted (Options.Message for the client), or typed in
// the dashboard (Options.Input, the first user only); the server's answers
// come from a fixed list.
var chat = &Scenario{
	Name:     "chat",
	Summary:  `chat with a thread per user: the client sends lines and reads each answer until 'Q'; the client closes first`,
	Tutorial: "001_e838be0f4307280d.txt",
	Duration: "< 1 s",
	Listing:  chatListing,
	Run:      runChat,
}

const chatListing = `# socket_server.py: one thread per user (tutorial 001)
import socket
import threading

CLIENTS = 1  # --clients; the tutorial accepts forever
backlog = 10
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(('127.0.0.1', 8000))
server.listen(backlog)

def handle_sock(sock, addr):
    replies = iter(['Hi! This is the server.', 'Fine, thanks.'])
    while True:
        data = sock.recv(1024)
        if not data or data.decode("utf8").upper() == "Q":
            break
        print(data.decode("utf8"))
        re_data = next(replies, 'OK')  # instead of input()
        sock.send(re_data.encode("utf8"))
    sock.close()

threads = []
for i in range(CLIENTS):
    sock, addr = server.accept()
    # a thread handles the new connection (user)
    client_thread = threading.Thread(target=handle_sock, args=(sock, addr))
    client_thread.start()
    threads.append(client_thread)
for t in threads:
    t.join()
server.close()

# socket_client.py
import socket

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(('127.0.0.1', 8000))
for re_data in ['Hello, server!', 'How are you?', 'Q']:  # instead of input()
    if re_data.upper() == "Q":
        break
    client.send(re_data.encode("utf8"))
    data = client.recv(1024)
    print(data.decode("utf8"))
client.close()
`

var chatLine = struct {
	socket, bind, listen, accept, recv, send, closeConn, closeServer int
	cSocket, cConnect, cSend, cRecv, cClose                          int
}{
	socket:      lineOf(chatListing, "server = socket.socket("),
	bind:        lineOf(chatListing, "server.bind("),
	listen:      lineOf(chatListing, "server.listen("),
	accept:      lineOf(chatListing, "server.accept()"),
	recv:        lineOf(chatListing, "data = sock.recv(1024)"),
	send:        lineOf(chatListing, "sock.send(re_data"),
	closeConn:   lineOf(chatListing, "    sock.close()"),
	closeServer: lineOf(chatListing, "server.close()"),
	cSocket:     lineOf(chatListing, "client = socket.socket("),
	cConnect:    lineOf(chatListing, "client.connect("),
	cSend:       lineOf(chatListing, "client.send("),
	cRecv:       lineOf(chatListing, "client.recv("),
	cClose:      lineOf(chatListing, "client.close()"),
}

var (
	chatMessages = []string{"Hello, server!", "How are you?", "Q"}
	chatReplies  = []string{"Hi! This is the server.", "Fine, thanks."}
)

func runChat(env *Env) error {
	n := env.Clients(1)
	ready := make(chan netip.AddrPort, 1)
	env.Go(func() error { return chatServer(env, n, ready) })
	env.Go(func() error {
		addr, ok := await(env, ready)
		if !ok {
			return nil
		}
		for i := range n {
			env.Go(func() error { return chatClient(env, clientLane(i, n), addr) })
		}
		return nil
	})
	return nil
}

func chatServer(env *Env, n int, ready chan<- netip.AddrPort) error {
	l := &chatLine
	server, err := listenTCP(env, listenLines{l.socket, l.bind, l.listen}, 10)
	if err != nil {
		return err
	}
	ready <- server.Local()
	var threads sync.WaitGroup
	for range n {
		sock, err := server.At(l.accept).Accept()
		if err != nil {
			return err
		}
		threads.Add(1)
		env.Go(func() error {
			defer threads.Done()
			return handleSock(sock)
		})
	}
	threads.Wait()
	return server.At(l.closeServer).Close()
}

func handleSock(sock *Sock) error {
	l := &chatLine
	replies := chatReplies
	for {
		data, err := sock.At(l.recv).Recv(1024)
		if err != nil {
			return err
		}
		if len(data) == 0 || strings.ToUpper(string(data)) == "Q" {
			break
		}
		reply := "OK"
		if len(replies) > 0 {
			reply, replies = replies[0], replies[1:]
		}
		if _, err := sock.At(l.send).Send([]byte(reply)); err != nil {
			return err
		}
	}
	return sock.At(l.closeConn).Close()
}

func chatClient(env *Env, lane string, addr netip.AddrPort) error {
	l := &chatLine
	client, err := connectTCP(env, lane, l.cSocket, l.cConnect, addr)
	if err != nil {
		return err
	}
	next := env.Lines(chatMessages)
	if lane != clientLane(0, 1) && lane != clientLane(0, 2) {
		next = scripted(env.Messages(chatMessages)) // only the first user types
	}
	for {
		m, ok := next()
		if !ok || strings.ToUpper(m) == "Q" {
			break
		}
		if m == "" {
			continue // input() gave an empty line: send(b'') would put nothing on the wire
		}
		if _, err := client.At(l.cSend).Send([]byte(m)); err != nil {
			return err
		}
		data, err := client.At(l.cRecv).Recv(1024)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			break
		}
	}
	return client.At(l.cClose).Close()
}
