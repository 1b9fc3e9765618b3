package scenarios

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// One connection moving a large amount of data as fast as loopback allows:
// segment sizes, window updates, and proof that the capture keeps up (the
// payload captured must add up to the bytes sent).
var bulk = &Scenario{
	Name:     "bulk",
	Summary:  "one connection moves 256 MB (--bytes) as fast as loopback allows: segment sizes, windows, and a capture that keeps up",
	Tutorial: "003_91d756ff9d2e4137.txt",
	Duration: "about 2 s for 256 MB",
	Listing:  bulkListing,
	Run:      runBulk,
	timeout:  bulkTimeout,
	traffic:  bulkBytes,
}

const bulkListing = `# bulk_server.py: reads until the client closes, counting bytes
from socket import *

server = socket(AF_INET, SOCK_STREAM)
server.bind(('127.0.0.1', 12345))
server.listen(1)
conn, addr = server.accept()
total = 0
while True:
    data = conn.recv(65536)
    if not data:
        break
    total += len(data)
print(total, 'bytes')
conn.close()
server.close()

# bulk_client.py: sends BYTES as fast as it can
from socket import *

BYTES = 256 * 1024 * 1024  # --bytes
block = b'sockscope bulk. ' * 65536  # 1 MB
client = socket(AF_INET, SOCK_STREAM)
client.connect(('127.0.0.1', 12345))
sent = 0
while sent < BYTES:
    sent += client.send(block[:BYTES - sent])
client.close()
`

var bulkLine = struct {
	socket, bind, listen, accept, recv, closeConn, closeServer int
	cSocket, cConnect, cSend, cClose                           int
}{
	socket:      lineOf(bulkListing, "server = socket("),
	bind:        lineOf(bulkListing, "server.bind("),
	listen:      lineOf(bulkListing, "server.listen("),
	accept:      lineOf(bulkListing, "server.accept()"),
	recv:        lineOf(bulkListing, "conn.recv("),
	closeConn:   lineOf(bulkListing, "conn.close()"),
	closeServer: lineOf(bulkListing, "server.close()"),
	cSocket:     lineOf(bulkListing, "client = socket("),
	cConnect:    lineOf(bulkListing, "client.connect("),
	cSend:       lineOf(bulkListing, "client.send("),
	cClose:      lineOf(bulkListing, "client.close()"),
}

// DefaultBulkBytes is what bulk moves when Options.Bytes is 0.
const DefaultBulkBytes = 256 << 20

const bulkRecvSize = 65536

var bulkBlock = bytes.Repeat([]byte("sockscope bulk. "), 65536) // 1 MiB

// bulkTimeout allows 20 MB/s on top of the default timeout: the capture,
// not the sockets, sets the pace.
func bulkTimeout(o Options) time.Duration {
	return DefaultTimeout + time.Duration(bulkBytes(o)/(20<<20))*time.Second
}

// bulkBytes is what bulk moves with o.
func bulkBytes(o Options) int64 {
	if o.Bytes == 0 {
		return DefaultBulkBytes
	}
	return o.Bytes
}

func runBulk(env *Env) error {
	n := bulkBytes(env.Options())
	ready := make(chan netip.AddrPort, 1)
	env.Go(func() error { return bulkServer(env, n, ready) })
	env.Go(func() error { return bulkClient(env, n, ready) })
	return nil
}

func bulkServer(env *Env, want int64, ready chan<- netip.AddrPort) error {
	l := &bulkLine
	server, err := listenTCP(env, listenLines{l.socket, l.bind, l.listen}, 1)
	if err != nil {
		return err
	}
	ready <- server.Local()
	conn, err := server.At(l.accept).Accept()
	if err != nil {
		return err
	}
	var total int64
	for {
		data, err := conn.At(l.recv).Recv(bulkRecvSize)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			break
		}
		total += int64(len(data))
	}
	if err := conn.At(l.closeConn).Close(); err != nil {
		return err
	}
	if err := server.At(l.closeServer).Close(); err != nil {
		return err
	}
	if total != want {
		return fmt.Errorf("server: received %d bytes, the client sent %d", total, want)
	}
	return nil
}

func bulkClient(env *Env, n int64, ready <-chan netip.AddrPort) error {
	l := &bulkLine
	addr, ok := await(env, ready)
	if !ok {
		return nil
	}
	client, err := connectTCP(env, "client", l.cSocket, l.cConnect, addr)
	if err != nil {
		return err
	}
	for sent := int64(0); sent < n; {
		block := bulkBlock[:min(int64(len(bulkBlock)), n-sent)]
		k, err := client.At(l.cSend).Send(block)
		if err != nil {
			return err
		}
		sent += int64(k)
	}
	return client.At(l.cClose).Close()
}

// ParseBytes reads a byte count for Options.Bytes: a number with an
// optional unit, K, M or G (powers of 1024; "KB", "MB", "GB", "KiB", "MiB",
// "GiB" too): "256M", "8MB", "1G", "5000".
func ParseBytes(s string) (int64, error) {
	num := strings.TrimRight(s, "KMGBkmgibI")
	unit := strings.ToUpper(strings.TrimPrefix(s, num))
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q: want a positive number of bytes, like 8M or 256MB", s)
	}
	shift := map[string]uint{"": 0, "B": 0, "K": 10, "KB": 10, "KIB": 10, "M": 20, "MB": 20, "MIB": 20, "G": 30, "GB": 30, "GIB": 30}
	sh, ok := shift[unit]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (use K, M or G)", s, unit)
	}
	if n > (1<<62)>>sh {
		return 0, fmt.Errorf("%q: too large", s)
	}
	return n << sh, nil
}
