package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// Shutdown: Ctrl-C (SIGINT to the whole process group, as a terminal sends
// it) or SIGTERM (to sockscope alone, as kill or systemd send it) during a
// run or a replay ends sockscope with status 130, after it has shown what
// it had and written a -w capture that tshark reads to its end, and leaves
// no child process behind.

// started is a sockscope process running in a process group of its own.
type started struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

func startSockscope(t *testing.T, dir string, args ...string) *started {
	t.Helper()
	return startCmd(t, dir, exec.Command(binary, args...))
}

// startCmd starts cmd in dir, in a process group of its own, with a clean
// environment plus what cmd.Env already holds.
func startCmd(t *testing.T, dir string, cmd *exec.Cmd) *started {
	t.Helper()
	s := &started{cmd: cmd}
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
	s.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, cmd.Env...)
	if s.cmd.SysProcAttr == nil {
		s.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	s.cmd.SysProcAttr.Setpgid = true
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			_ = s.cmd.Wait()
		}
	})
	return s
}

// wait waits for the process to exit and returns its exit status.
func (s *started) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() {
				t.Fatalf("sockscope was killed by %v instead of exiting: %s", ws.Signal(), s.stderr.String())
			}
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("sockscope did not exit within 60 s of the signal; stderr: %s", s.stderr.String())
	}
	return -1
}

// children returns the pids of a process's children (of all its threads:
// Go forks from whichever thread runs the goroutine).
func children(pid int) []int {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// sockets counts the sockets a process holds open.
func sockets(pid int) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gone reports whether no process with pid runs any more (a zombie counts
// as gone only once reaped, so it does not).
func gone(pid int) bool {
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

// tsharkFrames reads a capture file with tshark and returns how many
// frames it read; tshark complaining about the file fails the test.
func tsharkFrames(t *testing.T, path string) int {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Log("tshark is not installed: the capture file is checked by sockscope replay only")
		return -1
	}
	cmd := exec.Command("tshark", "-n", "-r", path, "-T", "fields", "-e", "frame.number")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	// tshark warns that it runs as root; anything else on stderr (a file
	// "cut short in the middle of a packet") is damage.
	var complaints []string
	for _, l := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		if l != "" && !strings.Contains(l, "Running as user") && !strings.Contains(l, "could be dangerous") {
			complaints = append(complaints, l)
		}
	}
	if err != nil || len(complaints) > 0 {
		t.Fatalf("tshark -r %s: %v: %s", path, err, strings.Join(complaints, "; "))
	}
	return len(strings.Fields(out.String()))
}

func countPackets(evs []trace.Event) int {
	n := 0
	for _, ev := range evs {
		if ev.Packet != nil {
			n++
		}
	}
	return n
}

// TestInterruptedRunKeepsItsCapture interrupts a paced tcp-echo in the
// middle of its conversation, with Ctrl-C and with SIGTERM, and checks that
// sockscope exits 130 after printing the timeline so far, that the -w file
// holds every packet shown (tshark reads it to its end), that the cleanup's
// closes made it onto the wire, and that the child is gone.
func TestInterruptedRunKeepsItsCapture(t *testing.T) {
	for _, tc := range []struct {
		name  string
		group bool // the whole process group, as a terminal's Ctrl-C
		sig   syscall.Signal
	}{
		{"CtrlC", true, syscall.SIGINT},
		{"SIGTERM", false, syscall.SIGTERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := startSockscope(t, dir, "run", "tcp-echo", "--format", "json", "--pace", "150ms", "-w", "echo.pcapng")
			pid := s.cmd.Process.Pid
			var child int
			waitFor(t, "the scenario's connection", func() bool {
				if s.cmd.ProcessState != nil {
					return true
				}
				if cs := children(pid); len(cs) == 1 {
					child = cs[0]
					// The capture's packet socket, the sock_diag netlink
					// socket, the listener, the client's socket and the
					// accepted one: the handshake is done.
					return sockets(child) >= 5
				}
				return false
			})
			if child == 0 {
				r := result{stderr: s.stderr.String(), code: s.wait(t)}
				needCapture(t, r)
				t.Fatalf("sockscope ended before it was interrupted: exit %d: %s", r.code, r.stderr)
			}
			time.Sleep(300 * time.Millisecond) // into the conversation
			target := pid
			if tc.group {
				target = -pid
			}
			if err := syscall.Kill(target, tc.sig); err != nil {
				t.Fatal(err)
			}
			code := s.wait(t)
			if code != exitInterrupted {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitInterrupted, s.stderr.String())
			}
			if !strings.Contains(s.stderr.String(), "interrupted") {
				t.Errorf("stderr does not say it was interrupted: %q", s.stderr.String())
			}
			waitFor(t, "the child to be gone", func() bool { return gone(child) })

			evs := decodeJSON(t, s.stdout.String())
			var stopped bool
			var calls int
			for _, ev := range evs {
				if n := ev.Note; n != nil && n.Level == "error" && strings.Contains(n.Text, "tcp-echo stopped") {
					stopped = true
				}
				if ev.Call != nil {
					calls++
				}
			}
			if !stopped || calls == 0 {
				t.Errorf("the timeline has %d calls and no note that the scenario was stopped", calls)
			}
			shown := countPackets(evs)
			if shown < 3 {
				t.Fatalf("only %d packets shown: the conversation had begun", shown)
			}
			// The stop closes the sockets the scenario left open: the
			// connection ends on the wire with FINs (or a RST), captured.
			tail := ""
			for _, ev := range evs {
				if p := ev.Packet; p != nil && (strings.Contains(p.Flags, "F") || strings.Contains(p.Flags, "R")) {
					tail += p.Flags + " "
				}
			}
			if tail == "" {
				t.Errorf("no FIN or RST captured after the stop closed the sockets")
			}
			path := filepath.Join(dir, "echo.pcapng")
			if n := tsharkFrames(t, path); n >= 0 && n != shown {
				t.Errorf("tshark reads %d frames from the -w file, the timeline showed %d", n, shown)
			}
			r := sockscope(t, 0, dir, "replay", "echo.pcapng", "--format", "json")
			if r.code != 0 {
				t.Fatalf("replay of the interrupted capture: exit %d: %s", r.code, r.stderr)
			}
			if n := countPackets(decodeJSON(t, r.stdout)); n != shown {
				t.Errorf("replay shows %d packets, the run showed %d", n, shown)
			}
		})
	}
}

// TestStuckScenarioEndsAtTimeout: a run slower than its --timeout ends at
// the timeout with a note saying so, exit status 1, and a -w capture that
// holds every packet shown.
func TestStuckScenarioEndsAtTimeout(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	r := sockscope(t, 0, dir, "run", "tcp-echo", "--format", "json", "--pace", "100ms", "--timeout", "700ms", "-w", "echo.pcapng")
	took := time.Since(start)
	needCapture(t, r)
	if r.code != exitDamaged {
		t.Fatalf("exit %d, want %d: %s", r.code, exitDamaged, r.stderr)
	}
	if took > 20*time.Second {
		t.Errorf("a run with --timeout 700ms took %v", took)
	}
	evs := decodeJSON(t, r.stdout)
	var note string
	for _, ev := range evs {
		if n := ev.Note; n != nil && n.Level == "error" {
			note = n.Text
		}
	}
	if !strings.Contains(note, "timed out after 700ms") {
		t.Errorf("no note that the scenario timed out after 700ms: %q", note)
	}
	if !strings.Contains(r.stderr, "did not finish cleanly") {
		t.Errorf("stderr: %q", r.stderr)
	}
	shown := countPackets(evs)
	if shown == 0 {
		t.Fatal("no packets: the handshake happens well before the timeout")
	}
	if n := tsharkFrames(t, filepath.Join(dir, "echo.pcapng")); n >= 0 && n != shown {
		t.Errorf("tshark reads %d frames from the -w file, the timeline showed %d", n, shown)
	}
}
