package scenarios

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Scenario is one socket program from the tutorials.
type Scenario struct {
	Name     string // "tcp-echo": what `sockscope run` takes
	Summary  string // one line
	Tutorial string // the file under shared/tutorials it comes from
	Duration string // how long a run takes, "< 1 s"
	// Listing is the program in Python 3, as the tutorial writes it (with
	// loopback addresses). Every recorded Call's Line is a 1-based line
	// number in Listing, whatever its lane.
	Listing string
	Run     func(*Env) error // runs the lanes; Run (the function) waits for them

	host    string                      // the address the server binds unless Options.Host says; "" is 127.0.0.1
	timeout func(Options) time.Duration // the run's timeout when Options.Timeout is 0; nil: DefaultTimeout
	traffic func(Options) int64         // the bytes it sends at most; nil: smallTraffic
}

// smallTraffic bounds what a scenario without a traffic function sends of
// its own: a few lines, far below it.
const smallTraffic = 1 << 20

// Traffic is how many bytes of payload the scenario's programs send at
// most with o, so that a capture can size its buffer to them. The
// messages of o count for every client, and again for the server's answer.
func (s *Scenario) Traffic(o Options) int64 {
	if s.traffic != nil {
		return s.traffic(o)
	}
	n := int64(smallTraffic)
	for _, m := range o.Message {
		n += 2 * MaxClients * int64(len(m))
	}
	return n
}

// registry holds every scenario; names are unique.
var registry = []*Scenario{
	tcpEcho,
	ipv6Echo,
	hello,
	chat,
	httpGet,
	requestReply,
	udpEcho,
	refused,
	halfClose,
	reset,
	boundaries,
	backlog,
	udpUnreachable,
	addrInUse,
	bulk,
}

// All returns every scenario, sorted by name.
func All() []*Scenario {
	all := append([]*Scenario(nil), registry...)
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return all
}

// Lookup finds a scenario by name.
func Lookup(name string) (*Scenario, bool) {
	for _, sc := range registry {
		if sc.Name == name {
			return sc, true
		}
	}
	return nil, false
}

// lineOf is the 1-based number of the one listing line containing s. It
// panics otherwise, so that an edit to a listing that leaves a call without
// its line fails when the package loads, not in a classroom.
func lineOf(listing, s string) int {
	line := 0
	for i, l := range strings.Split(listing, "\n") {
		if strings.Contains(l, s) {
			if line != 0 {
				panic(fmt.Sprintf("scenarios: %q is on listing lines %d and %d", s, line, i+1))
			}
			line = i + 1
		}
	}
	if line == 0 {
		panic(fmt.Sprintf("scenarios: %q is not in the listing", s))
	}
	return line
}
