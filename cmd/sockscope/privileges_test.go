package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Privileges: what each process runs with, in each mode. The scenario's
// own process (the child) must run as the invoking user with no capability
// at all once its capture is open; a setcap'd binary captures on the host
// without sudo; where namespaces are forbidden sockscope says what to do.

// threadCreds is what /proc says of every thread of a process: the set of
// distinct "Uid:", "Gid:", "CapEff:", "CapPrm:" and "NoNewPrivs:" lines.
func threadCreds(t *testing.T, pid int) map[string]bool {
	t.Helper()
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/status")
	got := map[string]bool{}
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue // a thread that just ended
		}
		for _, l := range strings.Split(string(b), "\n") {
			for _, k := range []string{"Uid:", "Gid:", "CapEff:", "CapPrm:", "NoNewPrivs:"} {
				if strings.HasPrefix(l, k) {
					got[strings.Join(strings.Fields(l), " ")] = true
				}
			}
		}
	}
	if len(got) == 0 {
		t.Fatalf("no thread of %d to read", pid)
	}
	return got
}

// TestScenarioRunsAsTheUserWithNoCapability looks at the child while its
// scenario runs: under sudo (SUDO_UID/SUDO_GID set, as root) and as an
// ordinary user (root of a user namespace of its own), every thread of it
// runs as the user, with no effective or permitted capability and
// no_new_privs set. The test binary is built without cgo, so that the
// capabilities can be dropped on every thread.
func TestScenarioRunsAsTheUserWithNoCapability(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to play sudo and to switch to another user")
	}
	for _, tc := range []struct {
		name string
		cmd  func(args ...string) *exec.Cmd
	}{
		{"sudo", func(args ...string) *exec.Cmd {
			c := exec.Command(binary, args...)
			c.Env = []string{"SUDO_UID=65534", "SUDO_GID=65534"}
			return c
		}},
		{"user namespace", func(args ...string) *exec.Cmd {
			c := exec.Command(binary, args...)
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := worldWritableDir(t)
			s := startCmd(t, dir, tc.cmd("run", "tcp-echo", "--format", "json", "--pace", "100ms", "-w", "echo.pcapng"))
			var child int
			waitFor(t, "the scenario's connection", func() bool {
				if cs := children(s.cmd.Process.Pid); len(cs) == 1 {
					child = cs[0]
					return sockets(child) >= 5
				}
				return false
			})
			childCreds, parentCreds := threadCreds(t, child), threadCreds(t, s.cmd.Process.Pid)
			if code := s.wait(t); code != 0 {
				r := result{stderr: s.stderr.String(), code: code}
				needCapture(t, r)
				t.Fatalf("exit %d: %s", code, r.stderr)
			}
			for _, want := range []string{"Uid: 65534 65534 65534 65534", "Gid: 65534 65534 65534 65534",
				"CapEff: 0000000000000000", "CapPrm: 0000000000000000", "NoNewPrivs: 1"} {
				if !childCreds[want] || len(childCreds) != 5 {
					t.Errorf("the scenario's threads are not all %q: %v", want, keys(childCreds))
				}
			}
			// The parent writes the output and the -w file as the user.
			if !parentCreds["Uid: 65534 65534 65534 65534"] || !parentCreds["CapEff: 0000000000000000"] {
				t.Errorf("sockscope itself runs with %v", keys(parentCreds))
			}
			checkTCPEcho(t, decodeJSON(t, s.stdout.String()))
			st, err := os.Stat(filepath.Join(dir, "echo.pcapng"))
			if err != nil {
				t.Fatal(err)
			}
			if s := st.Sys().(*syscall.Stat_t); s.Uid != 65534 || s.Gid != 65534 {
				t.Errorf("the capture file belongs to %d:%d, not to the user", s.Uid, s.Gid)
			}
		})
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// setcapBinary copies the binary into a directory everyone may read and
// gives the copy cap_net_raw, or skips.
func setcapBinary(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run setcap")
	}
	setcap, err := exec.LookPath("setcap")
	if err != nil {
		t.Skip("setcap is not installed (apt-get install libcap2-bin)")
	}
	dir := worldWritableDir(t)
	path := filepath.Join(dir, "sockscope-cap")
	in, err := os.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
	if b, err := exec.Command(setcap, "cap_net_raw+ep", path).CombinedOutput(); err != nil {
		t.Skipf("setcap on %s: %v: %s (a file system without extended attributes?)", dir, err, b)
	}
	return path
}

// TestSetcapBinaryCapturesOnHostWithoutSudo: a binary given cap_net_raw
// by setcap, run by an ordinary user, captures on the host's loopback with
// --host, and its child drops the capability once the capture is open.
func TestSetcapBinaryCapturesOnHostWithoutSudo(t *testing.T) {
	bin := setcapBinary(t)
	dir := filepath.Dir(bin)
	cmd := exec.Command(bin, "run", "tcp-echo", "--host", "--format", "json", "--pace", "100ms")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	s := startCmd(t, dir, cmd)
	var child int
	waitFor(t, "the scenario's connection", func() bool {
		if cs := children(s.cmd.Process.Pid); len(cs) == 1 {
			child = cs[0]
			return sockets(child) >= 5
		}
		return false
	})
	creds := threadCreds(t, child)
	if code := s.wait(t); code != 0 {
		t.Fatalf("exit %d: %s", code, s.stderr.String())
	}
	if !creds["CapEff: 0000000000000000"] || !creds["CapPrm: 0000000000000000"] || len(creds) != 5 {
		t.Errorf("the scenario runs with %v", keys(creds))
	}
	evs := decodeJSON(t, s.stdout.String())
	checkTCPEcho(t, evs)
	if !strings.Contains(s.stdout.String(), "host loopback") {
		t.Errorf("the summary does not say the capture was on the host's loopback")
	}
}

// TestPortInUse: on the host's loopback, --port of a port another program
// listens on is one clear line and exit status 2. In the sandbox, the
// same port is free: the sandbox has ports of its own.
func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)

	r := sockscope(t, 0, t.TempDir(), "run", "tcp-echo", "--port", port, "--format", "json")
	needCapture(t, r)
	if r.code != 0 {
		t.Errorf("sandbox: --port %s (in use on the host only): exit %d: %s", port, r.code, r.stderr)
	}

	if os.Geteuid() != 0 {
		t.Skip("--host needs capture rights on the host")
	}
	r = sockscope(t, 0, t.TempDir(), "run", "tcp-echo", "--host", "--port", port, "--format", "json")
	if r.code != exitCannot || r.stdout != "" {
		t.Fatalf("--host --port %s in use: exit %d, stdout %q", port, r.code, r.stdout)
	}
	want := "sockscope: --port " + port + " is already in use on the host's loopback"
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], want) ||
		!strings.Contains(lines[0], "leave --port out") {
		t.Errorf("stderr is not one line starting %q and saying what to do: %q", want, r.stderr)
	}
}

// seccompEnv makes the test binary a wrapper (see init) that forbids
// CLONE_NEWUSER as Docker's default seccomp profile does, switches to uid
// and gid 65534 and runs the command in its arguments.
const seccompEnv = "SOCKSCOPE_TEST_NO_USERNS"

func init() {
	if os.Getenv(seccompEnv) == "" {
		return
	}
	// Everything below acts on this thread, which then execs.
	runtime.LockOSThread()
	fail := func(what string, err error) {
		os.Stderr.WriteString("no-userns wrapper: " + what + ": " + err.Error() + "\n")
		os.Exit(97)
	}
	if err := forbidUserNamespaces(); err != nil {
		fail("seccomp", err)
	}
	// Per-thread set*id calls: the raw system calls, not Go's wrappers,
	// which change every thread.
	for _, c := range [][3]uintptr{{unix.SYS_SETGROUPS, 0, 0}, {unix.SYS_SETRESGID, 65534, 65534}, {unix.SYS_SETRESUID, 65534, 65534}} {
		a3 := c[2]
		if c[0] != unix.SYS_SETGROUPS {
			a3 = c[1]
		}
		if _, _, e := syscall.RawSyscall(c[0], c[1], c[2], a3); e != 0 {
			fail("drop to 65534", e)
		}
	}
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, seccompEnv+"=") {
			env = append(env, e)
		}
	}
	fail("exec", syscall.Exec(os.Args[1], os.Args[1:], env))
}

// forbidUserNamespaces installs, on this thread, a seccomp filter like
// Docker's: clone and unshare with CLONE_NEWUSER fail with EPERM, clone3
// with ENOSYS (so that callers fall back to clone). As root it needs no
// no_new_privs, so that a setcap'd binary still gets its capability.
func forbidUserNamespaces() error {
	var arch uint32
	switch runtime.GOARCH {
	case "amd64":
		arch = unix.AUDIT_ARCH_X86_64
	case "arm64":
		arch = unix.AUDIT_ARCH_AARCH64
	default:
		return errors.New("no seccomp filter for " + runtime.GOARCH)
	}
	const (
		retAllow = 0x7fff0000
		retErrno = 0x00050000
	)
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: arch, SkipTrue: 1},
		bpf.RetConstant{Val: retAllow},
		bpf.LoadAbsolute{Off: 0, Size: 4}, // nr
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_CLONE3, SkipFalse: 1},
		bpf.RetConstant{Val: retErrno | uint32(unix.ENOSYS)},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_CLONE, SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_UNSHARE, SkipTrue: 1},
		bpf.RetConstant{Val: retAllow},
		bpf.LoadAbsolute{Off: 16, Size: 4}, // the low half of args[0]: the flags
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: unix.CLONE_NEWUSER, SkipFalse: 1},
		bpf.RetConstant{Val: retErrno | uint32(unix.EPERM)},
		bpf.RetConstant{Val: retAllow},
	})
	if err != nil {
		return err
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if _, _, e := syscall.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return e
	}
	return nil
}

// noUserns runs bin with args as uid 65534 where user namespaces are
// forbidden (as in a Docker container), through the test binary as a
// wrapper.
func noUserns(t *testing.T, dir, bin string, args ...string) result {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to install the seccomp filter without no_new_privs and to switch users")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, append([]string{bin}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, seccompEnv + "=1"}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	if r.code == 97 {
		t.Skipf("cannot simulate a system without user namespaces: %s", r.stderr)
	}
	return r
}

// TestNoNamespacesSaysWhatToDo: an ordinary user on a system that forbids
// user namespaces (here a seccomp filter like Docker's) gets exit status 2
// and one sentence naming the fixes; with a setcap'd binary, sockscope
// falls back to the host's loopback and says so in the timeline.
func TestNoNamespacesSaysWhatToDo(t *testing.T) {
	t.Run("no rights", func(t *testing.T) {
		dir := worldWritableDir(t)
		r := noUserns(t, dir, binary, "run", "tcp-echo", "--format", "json")
		if r.code != exitCannot || r.stdout != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		msg := strings.TrimSpace(r.stderr)
		if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "cannot create the capture sandbox") ||
			!strings.Contains(msg, "run it with sudo") || !strings.Contains(msg, "setcap cap_net_raw+ep") || !strings.Contains(msg, "--host") {
			t.Errorf("not one line naming sudo and setcap --host: %q", msg)
		}
		t.Logf("the message: %s", msg)
	})
	t.Run("setcap falls back to the host", func(t *testing.T) {
		bin := setcapBinary(t)
		r := noUserns(t, filepath.Dir(bin), bin, "run", "tcp-echo", "--format", "json")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		evs := decodeJSON(t, r.stdout)
		checkTCPEcho(t, withoutNotes(evs)) // the story, with the fallback's warning apart
		var warned bool
		for _, ev := range evs {
			if n := ev.Note; n != nil && n.Level == "warning" && strings.Contains(n.Text, "running on the host's loopback") {
				warned = true
				t.Logf("the note: %s", n.Text)
			}
		}
		if !warned {
			t.Error("no warning that the run fell back to the host's loopback")
		}
	})
}
