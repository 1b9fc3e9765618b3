package scenarios

import (
	"errors"

	"golang.org/x/sys/unix"
)

// A connect to a port where nothing listens: the kernel answers the SYN
// with a RST and connect fails with ECONNREFUSED.
var refused = &Scenario{
	Name:     "refused",
	Summary:  "connect to a port where nothing listens: the SYN is answered by a RST, connect fails with ECONNREFUSED",
	Tutorial: "003_91d756ff9d2e4137.txt",
	Duration: "< 1 s",
	Listing:  refusedListing,
	Run:      runRefused,
}

const refusedListing = `# client.py: connect to a port where nothing listens
from socket import *

client = socket(AF_INET, SOCK_STREAM)
try:
    client.connect(('127.0.0.1', 9999))  # SYN →, ← RST
except ConnectionRefusedError as e:
    print(e)  # [Errno 111] Connection refused
client.close()
`

var refusedLine = struct{ socket, connect, close int }{
	socket:  lineOf(refusedListing, "client = socket("),
	connect: lineOf(refusedListing, "client.connect("),
	close:   lineOf(refusedListing, "client.close()"),
}

func runRefused(env *Env) error {
	l := &refusedLine
	addr, err := closedPort(env, unix.SOCK_STREAM)
	if err != nil {
		return err
	}
	client, err := env.At(l.socket).Socket("client", env.Family(), unix.SOCK_STREAM)
	if err != nil {
		return err
	}
	err = client.At(l.connect).Connect(addr)
	switch {
	case errors.Is(err, unix.ECONNREFUSED): // what the program expects
	case err == nil:
		return errors.New("client: connect succeeded: something listens on " + addr.String())
	default:
		return err
	}
	return client.At(l.close).Close()
}
