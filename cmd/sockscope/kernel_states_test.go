package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sockscope/sockscope/trace"
)

// The kernel's own record of every TCP state transition is the tracepoint
// sock:inet_sock_set_state: it fires inside tcp_set_state, for every full
// socket, including the transitions that last microseconds (SYN_RECV,
// LAST_ACK, the FIN_WAIT2 a delayed ACK riding on the peer's FIN passes
// through). These tests run scenarios with the tracepoint on and compare,
// per endpoint, the kernel's sequence of transitions with the one sockscope
// inferred from the segments.
//
// Two things the tracepoint does not see, by construction:
//   - a request socket (the listener's half-open connection) is not a full
//     socket: the accepted socket appears at the handshake's last ACK as a
//     clone of the listener, LISTEN → SYN_RECV → ESTABLISHED;
//   - a socket entering TIME_WAIT is replaced by a time-wait mini-socket:
//     the full socket's last record is "X → CLOSE" where sockscope infers
//     "X → TIME_WAIT" (sock_diag, not the tracepoint, sees the TIME_WAIT).

// tcpStateNames are Linux's enum values (include/net/tcp_states.h).
var tcpStateNames = map[int]trace.State{
	1: trace.StateEstablished, 2: trace.StateSynSent, 3: trace.StateSynRecv, 4: trace.StateFinWait1,
	5: trace.StateFinWait2, 6: trace.StateTimeWait, 7: trace.StateClosed, 8: trace.StateCloseWait,
	9: trace.StateLastAck, 10: trace.StateListen, 11: trace.StateClosing, 12: "NEW_SYN_RECV",
}

// tracepoint is one instance of the kernel's tracing buffer with
// sock:inet_sock_set_state enabled in it.
type tracepoint struct {
	dir string // the instance's directory
}

// openTracepoint makes a private tracing instance (so that other users of
// tracefs are not disturbed) with the event enabled, or skips the test
// saying why it cannot.
func openTracepoint(t *testing.T) *tracepoint {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the tracepoint sock:inet_sock_set_state needs root")
	}
	root := ""
	for _, d := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(filepath.Join(d, "events/sock/inet_sock_set_state")); err == nil {
			root = d
			break
		}
	}
	if root == "" {
		d := t.TempDir()
		if err := syscall.Mount("nodev", d, "tracefs", 0, ""); err != nil {
			t.Skipf("tracefs is not mounted and cannot be (%v)", err)
		}
		t.Cleanup(func() { _ = syscall.Unmount(d, 0) })
		root = d
	}
	if _, err := os.Stat(filepath.Join(root, "events/sock/inet_sock_set_state")); err != nil {
		t.Skipf("this kernel has no sock:inet_sock_set_state tracepoint: %v", err)
	}
	dir := filepath.Join(root, "instances", fmt.Sprintf("sockscope-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Skipf("cannot make a tracing instance: %v", err)
	}
	tp := &tracepoint{dir: dir}
	t.Cleanup(func() {
		_ = tp.write("events/sock/inet_sock_set_state/enable", "0")
		_ = os.Remove(dir)
	})
	// Print every field, the socket's address (skaddr) among them: a
	// client's first transition has no port yet.
	if err := tp.write("options/fields", "1"); err != nil {
		t.Skipf("this kernel's tracing cannot print fields (options/fields): %v", err)
	}
	if err := tp.write("events/sock/inet_sock_set_state/enable", "1"); err != nil {
		t.Skipf("cannot enable sock:inet_sock_set_state: %v", err)
	}
	return tp
}

func (tp *tracepoint) write(name, v string) error {
	return os.WriteFile(filepath.Join(tp.dir, name), []byte(v), 0)
}

// clear empties the instance's buffer.
func (tp *tracepoint) clear(t *testing.T) {
	if err := tp.write("trace", ""); err != nil {
		t.Fatalf("clear the trace: %v", err)
	}
}

// kernelTransition is one record of the tracepoint.
type kernelTransition struct {
	sock         string
	from, to     trace.State
	sport, dport uint16
}

var fieldRE = regexp.MustCompile(`(\w+)=(\S+)(?: \((-?\d+)\))?`)

// read parses the buffer: "skaddr=0xffff… (-1313…) oldstate=0x7 (7)
// newstate=0x2 (2) sport=0x0 (0) dport=0xe4dd (58589) …".
func (tp *tracepoint) read(t *testing.T) []kernelTransition {
	b, err := os.ReadFile(filepath.Join(tp.dir, "trace"))
	if err != nil {
		t.Fatalf("read the trace: %v", err)
	}
	var out []kernelTransition
	for _, line := range strings.Split(string(b), "\n") {
		i := strings.Index(line, "inet_sock_set_state:")
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		f := map[string]string{}
		for _, m := range fieldRE.FindAllStringSubmatch(line[i:], -1) {
			v := m[2]
			if m[3] != "" {
				v = m[3]
			}
			f[m[1]] = v
		}
		if f["protocol"] != "6" {
			continue
		}
		num := func(k string) int {
			n, err := strconv.Atoi(f[k])
			if err != nil {
				t.Fatalf("tracepoint line without %s: %q", k, line)
			}
			return n
		}
		out = append(out, kernelTransition{sock: f["skaddr"], from: tcpStateNames[num("oldstate")], to: tcpStateNames[num("newstate")],
			sport: uint16(num("sport")), dport: uint16(num("dport"))})
	}
	return out
}

// portPair is an endpoint as the tracepoint tells it: its port and its
// peer's (all the scenarios run on one loopback address).
type portPair struct{ local, peer uint16 }

// kernelSequences groups the records by socket and names each socket by
// its ports; a socket address reused after CLOSE starts a new socket.
func kernelSequences(recs []kernelTransition) map[portPair][]string {
	type sock struct {
		pair portPair
		seq  []string
	}
	var socks []*sock
	cur := map[string]*sock{}
	for _, r := range recs {
		s := cur[r.sock]
		if s == nil || len(s.seq) > 0 && strings.HasSuffix(s.seq[len(s.seq)-1], ">"+string(trace.StateClosed)) {
			s = &sock{}
			cur[r.sock] = s
			socks = append(socks, s)
		}
		if r.sport != 0 && r.dport != 0 {
			s.pair = portPair{r.sport, r.dport}
		}
		s.seq = append(s.seq, string(r.from)+">"+string(r.to))
	}
	out := map[portPair][]string{}
	for _, s := range socks {
		if s.pair.local != 0 {
			out[s.pair] = append(out[s.pair], s.seq...)
		}
	}
	return out
}

// inferredSequences are sockscope's inferred transitions per endpoint.
func inferredSequences(evs []trace.Event) map[portPair][]string {
	peers := map[int]map[trace.Endpoint]trace.Endpoint{}
	for _, ev := range evs {
		if p := ev.Packet; p != nil && p.Proto == "tcp" {
			if peers[p.Conn] == nil {
				peers[p.Conn] = map[trace.Endpoint]trace.Endpoint{}
			}
			peers[p.Conn][p.Src], peers[p.Conn][p.Dst] = p.Dst, p.Src
		}
	}
	out := map[portPair][]string{}
	for _, ev := range evs {
		if s := ev.State; s != nil && s.Source == trace.SourceInferred {
			k := portPair{s.Endpoint.Port(), peers[s.Conn][s.Endpoint].Port()}
			out[k] = append(out[k], string(s.From)+">"+string(s.To))
		}
	}
	return out
}

// sameTransitions compares a kernel sequence with an inferred one: equal,
// but for the full socket's "X>CLOSED" that stands for sockscope's
// "X>TIME_WAIT" (the time-wait mini-socket is not traced).
func sameTransitions(kernel, inferred []string) bool {
	if len(kernel) != len(inferred) {
		return false
	}
	for i := range kernel {
		k, in := kernel[i], inferred[i]
		if k == in {
			continue
		}
		from, _, _ := strings.Cut(k, ">")
		if i == len(kernel)-1 && k == from+">"+string(trace.StateClosed) && in == from+">"+string(trace.StateTimeWait) {
			continue
		}
		return false
	}
	return true
}

// TestInferredStatesMatchTheKernelsTracepoint runs the TCP scenarios with
// the tracepoint on and compares, for every endpoint of every connection,
// all of its transitions with the kernel's.
func TestInferredStatesMatchTheKernelsTracepoint(t *testing.T) {
	tp := openTracepoint(t)
	r := sockscope(t, 0, t.TempDir(), "list")
	if r.code != 0 {
		t.Fatalf("list: exit %d: %s", r.code, r.stderr)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		name, _, _ := strings.Cut(line, " ")
		names = append(names, name)
	}
	endpoints, transitions := 0, 0
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			args := []string{"run", name, "--format", "json"}
			if name == "bulk" {
				args = append(args, "--bytes", "1MB")
			}
			tp.clear(t)
			r := sockscope(t, 0, t.TempDir(), args...)
			needCapture(t, r)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			evs := decodeJSON(t, r.stdout)
			for _, ev := range evs {
				if n := ev.Note; n != nil && strings.Contains(n.Text, "DROPPED") {
					t.Skipf("the capture dropped packets: %s", n.Text)
				}
			}
			kernel := kernelSequences(tp.read(t))
			inferred := inferredSequences(evs)
			for pair, want := range kernel {
				got, ok := inferred[pair]
				if !ok {
					// Another test's socket on the machine, not one of the run.
					continue
				}
				endpoints++
				transitions += len(want)
				if !sameTransitions(want, got) {
					t.Errorf("endpoint :%d (peer :%d):\n kernel   %s\n inferred %s", pair.local, pair.peer, strings.Join(want, " "), strings.Join(got, " "))
				}
			}
			for pair, got := range inferred {
				if _, ok := kernel[pair]; !ok {
					t.Errorf("endpoint :%d (peer :%d): inferred %s, the kernel recorded nothing", pair.local, pair.peer, strings.Join(got, " "))
				}
			}
			// The run's own check of the kernel's sampled states.
			for _, ev := range evs {
				if n := ev.Note; n != nil && n.Topic == trace.TopicKernelDisagrees {
					t.Errorf("sockscope noted a disagreement: %s", n.Text)
				}
			}
		})
	}
	t.Logf("%d endpoints, %d transitions compared with the tracepoint", endpoints, transitions)
}
