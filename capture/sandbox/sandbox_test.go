package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockscope/sockscope/trace"
)

// The test binary doubles as the child: Spawn re-executes it, and TestMain
// plays the child's part when it finds itself spawned.
func TestMain(m *testing.M) {
	if IsChild() {
		os.Exit(childPart(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// childPart reports, through the record stream, what the child sees: its
// mode, whether lo is up, how many interfaces its network namespace has.
func childPart(args []string) int {
	s, err := Attach()
	if err != nil {
		if s != nil {
			s.Fail("loopback", err)
			s.Close()
		}
		return 3
	}
	defer s.Close()
	if len(args) > 0 && args[0] == "step" {
		// Two calls in step mode: wait for the parent's go-ahead before each.
		ctl := Control()
		for i := 1; i <= 2; i++ {
			_ = s.Send(Record{Step: &StepWait{Lane: "client", Op: trace.OpConnect, Line: 10 + i}})
			var b [1]byte
			if _, err := ctl.Read(b[:]); err != nil {
				s.Fail("step", err)
				return 2
			}
			_ = s.Send(Record{Event: &trace.Event{Kind: trace.KindNote, Note: &trace.Note{Time: time.Unix(int64(i), 0), Text: fmt.Sprintf("call %d made", i)}}})
		}
		return 0
	}
	if len(args) > 0 && args[0] == "fail" {
		s.Fail("capture", fmt.Errorf("open packet socket: %w", unix.EPERM))
		return 2
	}
	ifaces, _ := net.Interfaces() // netlink: the namespace's own view (sysfs would show the host's)
	text := fmt.Sprintf("mode=%s lo-up=%v interfaces=%d", ChildMode(), loIsUp(), len(ifaces))
	_ = s.Send(Record{Frame: &trace.Frame{Time: time.Unix(1, 2), LinkType: 1, Data: []byte{1, 2, 3}, WireLen: 3}})
	_ = s.Send(Record{Event: &trace.Event{Kind: trace.KindNote, Note: &trace.Note{Time: time.Unix(3, 0), Text: text}}})
	_ = s.Send(Record{Counters: &Counters{Received: 7, Dropped: 1}})
	return 0
}

func loIsUp() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	ifr, _ := unix.NewIfreq("lo")
	if unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr) != nil {
		return false
	}
	return ifr.Uint16()&unix.IFF_UP != 0
}

func collect(t *testing.T, c *Child) []Record {
	t.Helper()
	var recs []Record
	for {
		r, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	_ = c.Wait()
	return recs
}

func TestIsolatedChildHasItsOwnLoopback(t *testing.T) {
	c, err := Spawn(Isolated, nil)
	if errors.Is(err, ErrNoRights) {
		t.Skipf("no namespaces here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	recs := collect(t, c)
	if len(recs) != 3 || recs[0].Frame == nil || recs[1].Event == nil || recs[2].Counters == nil {
		t.Fatalf("records: %+v", recs)
	}
	if f := recs[0].Frame; !f.Time.Equal(time.Unix(1, 2)) || string(f.Data) != "\x01\x02\x03" {
		t.Errorf("frame came through as %+v", f)
	}
	// A fresh network namespace holds lo alone, and the child brought it up.
	if got := recs[1].Event.Note.Text; got != "mode=sandbox lo-up=true interfaces=1" {
		t.Errorf("child saw %q", got)
	}
	if *recs[2].Counters != (Counters{Received: 7, Dropped: 1}) {
		t.Errorf("counters %+v", recs[2].Counters)
	}
}

func TestHostChildSharesTheHostNetwork(t *testing.T) {
	c, err := Spawn(Host, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := collect(t, c)
	host, _ := net.Interfaces()
	want := fmt.Sprintf("mode=host loopback lo-up=%v interfaces=%d", loIsUp(), len(host))
	if len(recs) < 2 || recs[1].Event == nil || recs[1].Event.Note.Text != want {
		t.Fatalf("records %+v, want the note %q", recs, want)
	}
}

func TestChildPermissionFailureNamesTheFix(t *testing.T) {
	c, err := Spawn(Host, []string{"fail"})
	if err != nil {
		t.Fatal(err)
	}
	recs := collect(t, c)
	if len(recs) != 1 || recs[0].Failure == nil || recs[0].Failure.Errno != "EPERM" || recs[0].Failure.Stage != "capture" {
		t.Fatalf("records %+v", recs)
	}
	err = ChildFailureError(Host, recs[0].Failure)
	var re *RightsError
	if !errors.As(err, &re) || !errors.Is(err, ErrNoRights) || !strings.Contains(re.Fix, "setcap cap_net_raw+ep") || !strings.Contains(re.Fix, "sudo") {
		t.Errorf("host failure: %v (fix %q)", err, re.Fix)
	}
	if err := ChildFailureError(Isolated, &Failure{Stage: "scenario", Text: "boom"}); errors.Is(err, ErrNoRights) {
		t.Errorf("a failure that is not about rights reads as one: %v", err)
	}
}

// TestStepModeWaitsForTheParent: a child in step mode announces each call
// and makes it only after Child.Step.
func TestStepModeWaitsForTheParent(t *testing.T) {
	c, err := Spawn(Host, []string{"step"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		r, err := c.Next()
		if err != nil || r.Step == nil || r.Step.Line != 10+i || r.Step.Op != trace.OpConnect {
			t.Fatalf("step %d: %+v %v", i, r, err)
		}
		// Nothing more arrives before the go-ahead: the child is blocked.
		got := make(chan Record, 1)
		go func() {
			r, _ := c.Next()
			got <- r
		}()
		select {
		case r := <-got:
			t.Fatalf("the child went on without the go-ahead: %+v", r)
		case <-time.After(50 * time.Millisecond):
		}
		if err := c.Step(); err != nil {
			t.Fatal(err)
		}
		if r := <-got; r.Event == nil || r.Event.Note.Text != fmt.Sprintf("call %d made", i) {
			t.Fatalf("after step %d: %+v", i, r)
		}
	}
	if recs := collect(t, c); len(recs) != 0 {
		t.Errorf("left over: %+v", recs)
	}
}

func TestNamespaceFixNamesTheBlockingKnob(t *testing.T) {
	for _, tc := range []struct {
		sysctls map[string]string
		want    string
	}{
		{map[string]string{"user.max_user_namespaces": "0"}, "sysctl -w user.max_user_namespaces="},
		{map[string]string{"user.max_user_namespaces": "1000", "kernel.unprivileged_userns_clone": "0"}, "sysctl -w kernel.unprivileged_userns_clone=1"},
		{map[string]string{"kernel.apparmor_restrict_unprivileged_userns": "1"}, "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"},
		{map[string]string{}, "setcap cap_net_raw+ep"},
	} {
		fix := namespaceFix(func(name string) string { return tc.sysctls[name] })
		if !strings.Contains(fix, tc.want) || !strings.Contains(fix, "sudo") {
			t.Errorf("sysctls %v: fix %q, want it to name %q and sudo", tc.sysctls, fix, tc.want)
		}
	}
}

// TestControlPipeCarriesStepsAndTypedLines: go-aheads and typed lines
// arrive in order and whole, a long line is cut at MaxLine, EOF ends it.
func TestControlPipeCarriesStepsAndTypedLines(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &Child{ctl: w}
	long := strings.Repeat("x", MaxLine+10)
	go func() {
		_ = c.Step()
		_ = c.Type("héllo, server!")
		_ = c.Type("")
		_ = c.Step()
		_ = c.Type(long)
		w.Close()
	}()
	br := bufio.NewReader(r)
	var got []string
	for {
		m, err := ReadControl(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Step {
			got = append(got, "step")
		} else {
			got = append(got, fmt.Sprintf("line %d %.12s", len(m.Line), m.Line))
		}
	}
	want := "step|line 15 héllo, serve|line 0 |step|line 4096 xxxxxxxxxxxx"
	if s := strings.Join(got, "|"); s != want {
		t.Errorf("got  %s\nwant %s", s, want)
	}
}
