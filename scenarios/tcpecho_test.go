package scenarios

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// collect runs sc and returns every event the sink received, in the order
// it received them.
func collect(t *testing.T, ctx context.Context, sc *Scenario, opts Options) ([]trace.Event, error) {
	t.Helper()
	var (
		mu  sync.Mutex
		evs []trace.Event
	)
	err := Run(ctx, sc, opts, func(ev trace.Event) {
		mu.Lock()
		evs = append(evs, ev)
		mu.Unlock()
	})
	return evs, err
}

func calls(evs []trace.Event) []*trace.Call {
	var cs []*trace.Call
	for _, ev := range evs {
		if ev.Call != nil {
			cs = append(cs, ev.Call)
		}
	}
	return cs
}

func notes(evs []trace.Event) []*trace.Note {
	var ns []*trace.Note
	for _, ev := range evs {
		if ev.Note != nil {
			ns = append(ns, ev.Note)
		}
	}
	return ns
}

func lane(cs []*trace.Call, name string) []*trace.Call {
	var out []*trace.Call
	for _, c := range cs {
		if c.Lane == name {
			out = append(out, c)
		}
	}
	// Within a lane, calls are sequential: entry order is return order.
	slices.SortFunc(out, func(a, b *trace.Call) int { return a.ID - b.ID })
	return out
}

func ops(cs []*trace.Call) string {
	var s []string
	for _, c := range cs {
		s = append(s, string(c.Op))
	}
	return strings.Join(s, " ")
}

func TestTCPEcho(t *testing.T) {
	sc, ok := Lookup("tcp-echo")
	if !ok {
		t.Fatal("tcp-echo not registered")
	}
	evs, err := collect(t, context.Background(), sc, Options{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ns := notes(evs); len(ns) != 0 {
		t.Errorf("notes: %+v", ns)
	}
	cs := calls(evs)
	server, client := lane(cs, "server"), lane(cs, "client")
	if len(server)+len(client) != len(cs) {
		t.Errorf("calls outside the server and client lanes: %d of %d", len(cs)-len(server)-len(client), len(cs))
	}
	if got, want := ops(server), "socket bind listen accept recv send recv send recv send recv close close"; got != want {
		t.Fatalf("server ops:\n got %s\nwant %s", got, want)
	}
	if got, want := ops(client), "socket connect send recv send recv send recv close"; got != want {
		t.Fatalf("client ops:\n got %s\nwant %s", got, want)
	}
	for _, c := range cs {
		t.Logf("#%-2d %-6s %-40s %-12s %s→%s line %d", c.ID, c.Lane, c.String(), c.State, c.Local, c.Remote, c.Line)
	}

	// IDs: 1..n, unique, and in entry order.
	byStart := slices.Clone(cs)
	slices.SortStableFunc(byStart, func(a, b *trace.Call) int { return a.Start.Compare(b.Start) })
	for i, c := range byStart {
		if c.ID != i+1 {
			t.Errorf("call %d by start time has ID %d (%s %s)", i+1, c.ID, c.Lane, c.Op)
		}
		if c.End.Before(c.Start) {
			t.Errorf("#%d ends before it starts", c.ID)
		}
		if c.Errno != "" {
			t.Errorf("#%d %s: errno %s", c.ID, c.Op, c.Errno)
		}
		if c.Proto != "tcp" {
			t.Errorf("#%d proto %q", c.ID, c.Proto)
		}
	}

	// Payloads.
	msgs := []string{"hello", "how are you?", "bye"}
	reply := regexp.MustCompile(`^\[(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d \d{4}\] (.*)$`)
	for i, m := range msgs {
		cSend, cRecv := client[2+2*i], client[3+2*i]
		sRecv, sSend := server[4+2*i], server[5+2*i]
		if string(cSend.Data) != m || cSend.Ret != len(m) || cSend.Len != len(m) {
			t.Errorf("client send %d: %q ret %d len %d", i, cSend.Data, cSend.Ret, cSend.Len)
		}
		if string(sRecv.Data) != m || sRecv.Ret != len(m) || sRecv.Len != 1024 {
			t.Errorf("server recv %d: %q ret %d len %d", i, sRecv.Data, sRecv.Ret, sRecv.Len)
		}
		if g := reply.FindStringSubmatch(string(sSend.Data)); g == nil || g[2] != m {
			t.Errorf("server send %d: %q", i, sSend.Data)
		}
		if string(cRecv.Data) != string(sSend.Data) || cRecv.Ret != sSend.Ret {
			t.Errorf("client recv %d: %q, server sent %q", i, cRecv.Data, sSend.Data)
		}
	}
	last := server[10]
	if last.Ret != 0 || last.Data != nil || last.Result() != "= 0 (peer closed)" {
		t.Errorf("server's last recv: %s", last)
	}

	// Addresses.
	listen, accept, connect := server[2], server[3], client[1]
	if !listen.Local.IsValid() || listen.Local.Port() == 0 || listen.Local.Addr().String() != "127.0.0.1" {
		t.Errorf("listener local %s", listen.Local)
	}
	if server[1].Local != listen.Local {
		t.Errorf("bind local %s, listen local %s", server[1].Local, listen.Local)
	}
	if connect.Remote != listen.Local {
		t.Errorf("client connected to %s, server listens on %s", connect.Remote, listen.Local)
	}
	if connect.Local != accept.Remote || accept.Local != connect.Remote {
		t.Errorf("client %s→%s, server accepted %s←%s", connect.Local, connect.Remote, accept.Local, accept.Remote)
	}
	if accept.Ret <= 0 || accept.FD != listen.FD || accept.Ret == accept.FD {
		t.Errorf("accept fd %d ret %d, listener %d", accept.FD, accept.Ret, listen.FD)
	}
	for _, c := range server[4:12] {
		if c.FD != accept.Ret || c.Local != accept.Local || c.Remote != accept.Remote {
			t.Errorf("server #%d %s on fd %d %s→%s, want fd %d", c.ID, c.Op, c.FD, c.Local, c.Remote, accept.Ret)
		}
	}
	for _, c := range client[2:] {
		if c.Local != connect.Local || c.Remote != connect.Remote {
			t.Errorf("client #%d %s: %s→%s", c.ID, c.Op, c.Local, c.Remote)
		}
	}

	// Kernel states.
	want := map[*trace.Call][]trace.State{
		server[0]:  {trace.StateClosed},
		server[1]:  {trace.StateClosed},
		listen:     {trace.StateListen},
		accept:     {trace.StateEstablished},
		connect:    {trace.StateEstablished},
		client[8]:  {trace.StateFinWait1, trace.StateFinWait2, trace.StateTimeWait},
		server[10]: {trace.StateCloseWait},
		server[11]: {trace.StateLastAck, trace.StateClosed},
		server[12]: {trace.StateClosed},
	}
	for c, states := range want {
		if !slices.Contains(states, c.State) {
			t.Errorf("%s #%d %s: state %q, want one of %q", c.Lane, c.ID, c.Op, c.State, states)
		}
	}
	// The client closes as soon as it has the last reply, which it can
	// have before the server's send() returns: the server's last send may
	// already see CLOSE_WAIT.
	if s := server[9].State; s != trace.StateEstablished && s != trace.StateCloseWait {
		t.Errorf("server's last send: state %q", s)
	}
	for _, c := range append(server[4:9], client[2:8]...) {
		if c.State != trace.StateEstablished {
			t.Errorf("%s #%d %s: state %q", c.Lane, c.ID, c.Op, c.State)
		}
	}
}

// Every call points at the listing line that makes it.
func TestTCPEchoLines(t *testing.T) {
	evs, err := collect(t, context.Background(), tcpEcho, Options{Message: []string{"one", "two"}})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(tcpEcho.Listing, "\n")
	token := map[trace.Op]string{
		trace.OpSocket: "= socket(AF_INET, SOCK_STREAM)", trace.OpBind: ".bind(", trace.OpListen: ".listen(5)",
		trace.OpAccept: ".accept()", trace.OpConnect: ".connect(", trace.OpSend: ".send(",
		trace.OpRecv: ".recv(BUFSIZ)", trace.OpClose: ".close()",
	}
	cs := calls(evs)
	if len(cs) != 18 {
		t.Errorf("%d calls, want 18", len(cs))
	}
	for _, c := range cs {
		if c.Line < 1 || c.Line > len(lines) {
			t.Errorf("#%d %s: line %d", c.ID, c.Op, c.Line)
			continue
		}
		l := lines[c.Line-1]
		if !strings.Contains(l, token[c.Op]) {
			t.Errorf("#%d %s %s: line %d is %q", c.ID, c.Lane, c.Op, c.Line, l)
		}
		// The server's lines come before the client's program.
		if isClient := strings.Contains(l, "client."); isClient != (c.Lane == "client") && c.Op != trace.OpSocket {
			t.Errorf("#%d %s %s: line %d is %q", c.ID, c.Lane, c.Op, c.Line, l)
		}
	}
}

func TestCtime(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 11, 22, 1, 14, 19, 0, time.Local), "Sun Nov 22 01:14:19 2026"},
		{time.Date(2026, 11, 2, 13, 4, 9, 0, time.Local), "Mon Nov  2 13:04:09 2026"},
	} {
		if got := ctime(tc.t); got != tc.want {
			t.Errorf("ctime = %q, want %q", got, tc.want)
		}
	}
}

func TestRegistry(t *testing.T) {
	all := All()
	if len(all) == 0 {
		t.Fatal("no scenarios")
	}
	seen := map[string]bool{}
	for i, sc := range all {
		if seen[sc.Name] {
			t.Errorf("%s registered twice", sc.Name)
		}
		seen[sc.Name] = true
		if i > 0 && all[i-1].Name > sc.Name {
			t.Errorf("All not sorted: %s before %s", all[i-1].Name, sc.Name)
		}
		if sc.Summary == "" || sc.Tutorial == "" || sc.Duration == "" || sc.Listing == "" || sc.Run == nil {
			t.Errorf("%s: incomplete: %+v", sc.Name, sc)
		}
		if got, ok := Lookup(sc.Name); !ok || got != sc {
			t.Errorf("Lookup(%q) = %v, %v", sc.Name, got, ok)
		}
	}
	if _, ok := Lookup("no-such"); ok {
		t.Error("Lookup found no-such")
	}
}
