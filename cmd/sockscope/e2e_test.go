package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// The end-to-end tests build the real binary and run real scenarios on real
// sockets with a real capture. They need capture rights: root, or a kernel
// that lets an ordinary user make user namespaces.

var binary string // built once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sockscope-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// World-readable, so that the test can also run it as an ordinary user.
	_ = os.Chmod(dir, 0o755)
	binary = filepath.Join(dir, "sockscope")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build sockscope: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// sockscope runs the binary; asUser > 0 runs it with that uid and gid.
func sockscope(t *testing.T, asUser int, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	if asUser > 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(asUser), Gid: uint32(asUser)}}
	}
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("sockscope %v: %v", args, err)
	}
	return r
}

// needCapture skips when this machine gives no capture rights at all.
func needCapture(t *testing.T, r result) {
	t.Helper()
	if r.code == exitCannot && strings.Contains(r.stderr, "sudo") {
		t.Skipf("no capture rights on this machine: %s", strings.TrimSpace(r.stderr))
	}
}

func decodeJSON(t *testing.T, s string) []trace.Event {
	t.Helper()
	d := trace.NewDecoder(strings.NewReader(s))
	var evs []trace.Event
	for {
		ev, err := d.Decode()
		if err == io.EOF {
			return evs
		}
		if err != nil {
			t.Fatalf("JSON Lines: %v", err)
		}
		evs = append(evs, ev)
	}
}

// checkTCPEcho asserts the story of tcp-echo: the handshake, data both
// ways, the client's FIN first, the server's FIN, the last ACK; the calls on
// each side; the state sequence of both endpoints.
func checkTCPEcho(t *testing.T, evs []trace.Event) {
	t.Helper()
	var packets []*trace.Packet
	ops := map[string][]string{}
	states := map[trace.Endpoint][]trace.State{}
	var client, server trace.Endpoint
	for _, ev := range evs {
		switch {
		case ev.Packet != nil:
			packets = append(packets, ev.Packet)
		case ev.Call != nil:
			c := ev.Call
			ops[c.Lane] = append(ops[c.Lane], string(c.Op))
			if c.Op == trace.OpConnect {
				client, server = c.Local, c.Remote
			}
		case ev.State != nil && ev.State.Source == trace.SourceInferred:
			states[ev.State.Endpoint] = append(states[ev.State.Endpoint], ev.State.To)
		case ev.Note != nil && ev.Note.Level != "info":
			t.Errorf("note: %s: %s", ev.Note.Level, ev.Note.Text)
		}
	}
	wantServer := "socket bind listen accept recv send recv send recv send recv close close"
	wantClient := "socket connect send recv send recv send recv close"
	if got := strings.Join(ops["server"], " "); got != wantServer {
		t.Errorf("server calls: %s\nwant        %s", got, wantServer)
	}
	if got := strings.Join(ops["client"], " "); got != wantClient {
		t.Errorf("client calls: %s\nwant        %s", got, wantClient)
	}
	if len(packets) < 9 {
		t.Fatalf("only %d packets", len(packets))
	}
	for i, p := range packets {
		if p.Proto != "tcp" || p.Conn != 1 {
			t.Errorf("packet %d: %s conn %d, want tcp conn 1", i+1, p.Proto, p.Conn)
		}
	}
	from := func(p *trace.Packet) string {
		switch p.Src {
		case client:
			return "client"
		case server:
			return "server"
		}
		return p.Src.String()
	}
	// The three-way handshake.
	hs := []struct{ from, flags string }{{"client", "S"}, {"server", "S."}, {"client", "."}}
	for i, w := range hs {
		if p := packets[i]; from(p) != w.from || p.Flags != w.flags {
			t.Errorf("handshake %d: %s %s, want %s %s", i+1, from(p), p.Flags, w.from, w.flags)
		}
	}
	if p := packets[1]; p.RSeq != 0 || p.RAck != 1 {
		t.Errorf("SYN-ACK seq=%d ack=%d, want 0 and 1", p.RSeq, p.RAck)
	}
	// Data both ways, and the FINs: the client's first.
	var sent = map[string]int{}
	var fins []*trace.Packet
	for _, p := range packets {
		sent[from(p)] += p.Len
		if strings.Contains(p.Flags, "F") {
			fins = append(fins, p)
		}
	}
	if sent["client"] != len("hello")+len("how are you?")+len("bye") {
		t.Errorf("client sent %d payload bytes", sent["client"])
	}
	if sent["server"] <= sent["client"] {
		t.Errorf("server sent %d payload bytes, less than its echo of %d", sent["server"], sent["client"])
	}
	if len(fins) != 2 || from(fins[0]) != "client" || from(fins[1]) != "server" {
		t.Fatalf("FINs: %d, want the client's then the server's", len(fins))
	}
	last := packets[len(packets)-1]
	if from(last) != "client" || last.Flags != "." || last.RAck != fins[1].RSeq+1 {
		t.Errorf("last packet %s %s ack=%d, want the client's ACK of the server's FIN (ack=%d)", from(last), last.Flags, last.RAck, fins[1].RSeq+1)
	}
	// Each endpoint's states: the closer may pass through FIN_WAIT2 or
	// skip it when the ACK of its FIN rides on the peer's FIN.
	cs := strings.Join(stateNames(states[client]), " ")
	if cs != "SYN_SENT ESTABLISHED FIN_WAIT1 TIME_WAIT" && cs != "SYN_SENT ESTABLISHED FIN_WAIT1 FIN_WAIT2 TIME_WAIT" {
		t.Errorf("client states: %s", cs)
	}
	if ss := strings.Join(stateNames(states[server]), " "); ss != "SYN_RECV ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED" {
		t.Errorf("server states: %s", ss)
	}
}

func stateNames(s []trace.State) []string {
	out := make([]string, len(s))
	for i, st := range s {
		out[i] = string(st)
	}
	return out
}

func TestRunTCPEchoJSON(t *testing.T) {
	r := sockscope(t, 0, t.TempDir(), "run", "tcp-echo", "--format", "json")
	needCapture(t, r)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	checkTCPEcho(t, decodeJSON(t, r.stdout))
}

// TestRunAsOrdinaryUser runs tcp-echo as nobody, with no rights but a user
// namespace of its own: the way a student runs it without sudo.
func TestRunAsOrdinaryUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("this test switches to another user; as an ordinary user, TestRunTCPEchoJSON already runs without rights")
	}
	dir := worldWritableDir(t)
	r := sockscope(t, 65534, dir, "run", "tcp-echo", "--format", "json", "-w", "echo.pcapng")
	needCapture(t, r)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	checkTCPEcho(t, decodeJSON(t, r.stdout))
	st, err := os.Stat(filepath.Join(dir, "echo.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 65534 {
		t.Errorf("the capture file belongs to uid %d, not to the user who ran sockscope", uid)
	}
}

// TestRunUnderSudoDropsPrivileges: files written under sudo belong to the
// invoking user.
func TestRunUnderSudoDropsPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to play sudo")
	}
	dir := worldWritableDir(t)
	cmd := exec.Command(binary, "run", "tcp-echo", "--format", "json", "-w", "echo.pcapng")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SUDO_UID=65534", "SUDO_GID=65534"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v", err)
	}
	checkTCPEcho(t, decodeJSON(t, string(out)))
	st, err := os.Stat(filepath.Join(dir, "echo.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Sys().(*syscall.Stat_t); s.Uid != 65534 || s.Gid != 65534 {
		t.Errorf("the capture file belongs to %d:%d, want the sudo user 65534:65534", s.Uid, s.Gid)
	}
}

// TestPcapngKeepsTheCalls: -w then replay restores the same packets and the
// same calls; tshark shows the calls as packet comments.
func TestPcapngKeepsTheCalls(t *testing.T) {
	dir := t.TempDir()
	r := sockscope(t, 0, dir, "run", "tcp-echo", "--format", "json", "-w", "echo.pcapng")
	needCapture(t, r)
	if r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	rp := sockscope(t, 0, dir, "replay", "echo.pcapng", "--format", "json")
	if rp.code != 0 {
		t.Fatalf("replay: exit %d: %s", rp.code, rp.stderr)
	}
	live, replayed := withoutNotes(decodeJSON(t, r.stdout)), withoutNotes(decodeJSON(t, rp.stdout))
	checkTCPEcho(t, replayed)
	if len(live) != len(replayed) {
		t.Fatalf("run shows %d events, its replay %d", len(live), len(replayed))
	}
	for i := range live {
		if !reflect.DeepEqual(live[i], replayed[i]) {
			t.Errorf("event %d differs:\n run    %+v\n replay %+v", i, deref(live[i]), deref(replayed[i]))
		}
	}

	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark not installed: not checking what Wireshark users see")
		return
	}
	out, err := exec.Command(tshark, "-n", "-r", filepath.Join(dir, "echo.pcapng"), "-T", "fields", "-e", "frame.comment").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	calls, packets := 0, 0
	for _, ev := range live {
		if ev.Call != nil {
			calls++
		}
		if ev.Packet != nil {
			packets++
		}
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if got := strings.Count(string(out), "sockscope call #"); got != calls || len(lines) != packets {
		t.Errorf("tshark shows %d frames and %d calls, want %d and %d", len(lines), got, packets, calls)
	}
}

// worldWritableDir is a directory another user can work in (t.TempDir's
// parent is private to root).
func worldWritableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sockscope-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

func withoutNotes(evs []trace.Event) []trace.Event {
	var out []trace.Event
	for _, ev := range evs {
		if ev.Note == nil {
			out = append(out, ev)
		}
	}
	return out
}

func deref(e trace.Event) any {
	switch {
	case e.Call != nil:
		return *e.Call
	case e.Packet != nil:
		return *e.Packet
	case e.State != nil:
		return *e.State
	}
	return *e.Note
}

// TestHostCaptureMatchesTcpdump: on the host's loopback, sockscope captures
// exactly the packets tcpdump records for the same exchange.
func TestHostCaptureMatchesTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("tcpdump and --host need root here")
	}
	port := freePort(t)
	dir := t.TempDir()
	// --immediate-mode: without it libpcap holds packets in a ring block
	// for up to a second, and the SIGINT below would lose them.
	dump := exec.Command(tcpdump, "-i", "lo", "-n", "--immediate-mode", "-U", "-w", filepath.Join(dir, "ref.pcap"), "tcp port "+strconv.Itoa(port))
	stderr, _ := dump.StderrPipe()
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	// tcpdump says "listening on lo" once its capture is open.
	ready := make(chan bool, 1)
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			if strings.Contains(s.Text(), "listening on") {
				ready <- true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		_ = dump.Process.Kill()
		t.Fatal("tcpdump did not start")
	}
	r := sockscope(t, 0, dir, "run", "tcp-echo", "--host", "--port", strconv.Itoa(port), "--format", "json", "-w", "mine.pcapng")
	time.Sleep(200 * time.Millisecond)
	_ = dump.Process.Signal(os.Interrupt)
	_ = dump.Wait()
	if r.code != 0 {
		t.Fatalf("run --host: exit %d: %s", r.code, r.stderr)
	}
	checkTCPEcho(t, decodeJSON(t, r.stdout))
	mine := sockscope(t, 0, dir, "replay", "mine.pcapng", "--format", "json")
	ref := sockscope(t, 0, dir, "replay", "ref.pcap", "--format", "json")
	a, b := packetsOf(decodeJSON(t, mine.stdout)), packetsOf(decodeJSON(t, ref.stdout))
	if len(a) != len(b) {
		t.Fatalf("sockscope captured %d packets, tcpdump %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("packet %d: sockscope %s, tcpdump %s", i+1, a[i], b[i])
		}
	}
}

func packetsOf(evs []trace.Event) []string {
	var out []string
	for _, ev := range evs {
		if p := ev.Packet; p != nil {
			out = append(out, fmt.Sprintf("%s>%s %s %d:%d ack %d len %d", p.Src, p.Dst, p.Flags, p.Seq, p.Seq+uint32(p.Len), p.Ack, p.Len))
		}
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*syscall.SockaddrInet4).Port
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "no-such-scenario"}, exitCannot, "no scenario \"no-such-scenario\""},
		{[]string{"run", "tcp-echo", "--format", "xml"}, exitCannot, "--format \"xml\""},
		{[]string{"run", "hello", "--clients", "100"}, exitCannot, "100 clients: use 1 to 16"},
		{[]string{"replay", "/nonexistent.pcap"}, exitCannot, "replay /nonexistent.pcap"},
		{[]string{"frobnicate"}, exitCannot, "unknown command"},
	} {
		r := sockscope(t, 0, t.TempDir(), tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q in one or two lines", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

func TestListAndHelp(t *testing.T) {
	r := sockscope(t, 0, t.TempDir(), "list")
	if r.code != 0 || !strings.Contains(r.stdout, "tcp-echo") || !strings.Contains(r.stdout, "tutorial") {
		t.Errorf("list: exit %d\n%s", r.code, r.stdout)
	}
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"replay", "--help"}} {
		r := sockscope(t, 0, t.TempDir(), args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("%v: exit %d, no examples:\n%s", args, r.code, r.stdout)
		}
	}
}
