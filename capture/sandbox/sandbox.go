// Package sandbox runs sockscope's capture-and-scenario half in a child
// process: by default inside a new network namespace (and, for an ordinary
// user, a new user namespace, so no sudo is needed), or on the host's
// loopback with --host. It owns the re-exec, the namespace set-up, the
// privilege drop and the record stream from child to parent.
//
// It does not capture or decode packets and never runs scenario code itself:
// cmd wires those in the child.
package sandbox

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sockscope/sockscope/trace"
)

// Mode says where the child runs.
type Mode int

const (
	// Isolated is a fresh network namespace holding only its own loopback:
	// the capture holds only the scenario's traffic.
	Isolated Mode = iota
	// Host is the host's own loopback (needs CAP_NET_RAW), so that other
	// programs can talk to the scenario.
	Host
)

func (m Mode) String() string {
	if m == Host {
		return "host loopback"
	}
	return "sandbox"
}

// childEnv marks the re-executed child and carries its mode.
const childEnv = "SOCKSCOPE_CHILD"

// streamFD is the child's end of the record pipe (ExtraFiles[0]).
const streamFD = 3

// controlFD is the child's end of the control pipe (ExtraFiles[1]): the
// parent writes one byte to it per step the child may take.
const controlFD = 4

// ErrNoRights means the capture cannot be opened with the rights at hand.
var ErrNoRights = errors.New("no capture rights")

// RightsError explains a missing privilege and the one thing that fixes it.
type RightsError struct {
	Problem string // what failed, in words
	Fix     string // one sentence naming the fix
	Err     error  // the underlying error, if any
}

func (e *RightsError) Error() string {
	if e.Err != nil {
		return e.Problem + ": " + e.Err.Error()
	}
	return e.Problem
}

// Unwrap lets errors.Is(err, ErrNoRights) hold.
func (e *RightsError) Unwrap() []error { return []error{ErrNoRights, e.Err} }

// Counters are the capture's totals, sent by the child when it is done.
type Counters struct {
	Received uint64 // packets the capture delivered
	Dropped  uint64 // packets the kernel dropped for want of buffer space
}

// Failure is an error that happened in the child, with the stage it
// happened at, so that the parent can explain it.
type Failure struct {
	Stage string // "loopback", "capture", "privileges", "scenario"
	Errno string // the errno's name, if the error carried one
	Text  string
}

// Record is one message from child to parent. Exactly one field is set.
type Record struct {
	Frame    *trace.Frame
	Event    *trace.Event
	Counters *Counters
	Failure  *Failure
	Step     *StepWait
}

// StepWait says that a scenario in step mode waits, before a socket call,
// for the parent's go-ahead (Child.Step).
type StepWait struct {
	Lane string
	Op   trace.Op
	Line int // the listing line of the call
}

// Child is a running child process and the stream of its records.
type Child struct {
	Mode Mode
	cmd  *exec.Cmd
	r    *os.File
	dec  *gob.Decoder
	ctl  *os.File // the parent's end of the control pipe
}

// Spawn re-executes the running binary with args as a child in the given
// mode. The child must call Attach.
func Spawn(mode Mode, args []string) (*Child, error) {
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("record pipe: %w", err)
	}
	cr, cw, err := os.Pipe()
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("control pipe: %w", err)
	}
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Args[0] = self
	cmd.Env = append(os.Environ(), childEnv+"="+strconv.Itoa(int(mode)))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{w, cr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if mode == Isolated {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNET
		if os.Geteuid() != 0 {
			// An ordinary user becomes root of a user namespace of its own,
			// which owns the new network namespace: capabilities there and
			// nowhere else.
			cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
			cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
			cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
			cmd.SysProcAttr.GidMappingsEnableSetgroups = false
		}
	}
	err = cmd.Start()
	w.Close()
	cr.Close()
	if err != nil {
		r.Close()
		cw.Close()
		if mode == Isolated {
			return nil, namespaceError(err)
		}
		return nil, fmt.Errorf("start child: %w", err)
	}
	return &Child{Mode: mode, cmd: cmd, r: r, ctl: cw, dec: gob.NewDecoder(bufio.NewReaderSize(r, 1<<20))}, nil
}

// Next returns the child's next record; io.EOF when the child is done.
func (c *Child) Next() (Record, error) {
	var rec Record
	err := c.dec.Decode(&rec)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("child stream cut short: %w", err)
	}
	return rec, err
}

// Signal forwards a signal to the child.
func (c *Child) Signal(sig os.Signal) {
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(sig)
	}
}

// The control pipe carries messages from parent to child: a go-ahead for
// step mode is the byte ctlStep; a line the user typed is ctlLine, its
// length in two bytes (big-endian), then the text.
const (
	ctlStep byte = 1
	ctlLine byte = 2
)

// MaxLine bounds a typed line sent with Child.Type.
const MaxLine = 4096

// Step lets a child in step mode make the call it waits to make (see
// StepWait). It never blocks for long: the pipe holds many steps.
func (c *Child) Step() error {
	_, err := c.ctl.Write([]byte{ctlStep})
	return err
}

// Type sends a line the user typed to an interactive scenario (chat);
// longer lines are cut at MaxLine bytes.
func (c *Child) Type(line string) error {
	if len(line) > MaxLine {
		line = strings.ToValidUTF8(line[:MaxLine], "") // not in the middle of a character
	}
	msg := append([]byte{ctlLine, byte(len(line) >> 8), byte(len(line))}, line...)
	_, err := c.ctl.Write(msg)
	return err
}

// ControlMsg is one message of the control pipe: a go-ahead, or a line.
type ControlMsg struct {
	Step bool
	Line string
}

// ReadControl reads the next control message; io.EOF when the parent has
// gone.
func ReadControl(r *bufio.Reader) (ControlMsg, error) {
	kind, err := r.ReadByte()
	if err != nil {
		return ControlMsg{}, err
	}
	switch kind {
	case ctlStep:
		return ControlMsg{Step: true}, nil
	case ctlLine:
		var n [2]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return ControlMsg{}, fmt.Errorf("control pipe: %w", err)
		}
		b := make([]byte, int(n[0])<<8|int(n[1]))
		if _, err := io.ReadFull(r, b); err != nil {
			return ControlMsg{}, fmt.Errorf("control pipe: %w", err)
		}
		return ControlMsg{Line: string(b)}, nil
	}
	return ControlMsg{}, fmt.Errorf("control pipe: unknown message %d", kind)
}

// Wait waits for the child to exit and releases the stream.
func (c *Child) Wait() error {
	err := c.cmd.Wait()
	c.r.Close()
	c.ctl.Close()
	return err
}

// IsChild reports whether this process is a child made by Spawn.
func IsChild() bool { return os.Getenv(childEnv) != "" }

// ChildMode is the mode this child was spawned in.
func ChildMode() Mode {
	if os.Getenv(childEnv) == strconv.Itoa(int(Host)) {
		return Host
	}
	return Isolated
}

// Control is the child's end of the control pipe (see ReadControl): EOF
// when the parent has gone. Nil when there is none.
func Control() *os.File {
	f := os.NewFile(controlFD, "sockscope-control")
	if f == nil {
		return nil
	}
	if _, err := f.Stat(); err != nil {
		return nil
	}
	return f
}

// Stream is the child's end of the record stream; Send is safe for
// concurrent use.
type Stream struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	enc *gob.Encoder
	err error
}

// Attach prepares the child: it opens the record stream and, in a fresh
// network namespace, brings its loopback up.
func Attach() (*Stream, error) {
	f := os.NewFile(streamFD, "sockscope-records")
	if f == nil {
		return nil, errors.New("no record stream on fd 3")
	}
	w := bufio.NewWriterSize(f, 1<<20)
	s := &Stream{f: f, w: w, enc: gob.NewEncoder(w)}
	if ChildMode() == Isolated {
		if err := loopbackUp(); err != nil {
			return s, err
		}
	}
	return s, nil
}

// Send writes one record and flushes it, so that the parent sees events as
// they happen.
func (s *Stream) Send(r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if err := s.enc.Encode(&r); err != nil {
		s.err = err
		return err
	}
	s.err = s.w.Flush()
	return s.err
}

// Fail sends a Failure record for err at stage.
func (s *Stream) Fail(stage string, err error) {
	f := &Failure{Stage: stage, Text: err.Error()}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		f.Errno = unix.ErrnoName(errno)
	}
	_ = s.Send(Record{Failure: f})
}

// Close flushes and closes the stream.
func (s *Stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = s.w.Flush()
	}
	cerr := s.f.Close()
	if s.err != nil {
		return s.err
	}
	return cerr
}

// loopbackUp sets IFF_UP on lo: a new network namespace starts with it down.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: read flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	return nil
}

// DropPrivileges switches a process started with sudo to the invoking user
// (SUDO_UID/SUDO_GID). Since Go 1.16 the set*id calls apply to every thread.
// It reports whether it dropped anything.
func DropPrivileges() (bool, error) {
	if os.Geteuid() != 0 {
		return false, nil
	}
	uid, uerr := strconv.Atoi(os.Getenv("SUDO_UID"))
	gid, gerr := strconv.Atoi(os.Getenv("SUDO_GID"))
	if uerr != nil || gerr != nil || uid == 0 {
		return false, nil
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return false, fmt.Errorf("drop privileges: setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return false, fmt.Errorf("drop privileges: setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return false, fmt.Errorf("drop privileges: setuid %d: %w", uid, err)
	}
	return true, nil
}

// ErrCapsKept is returned by DropCapabilities when the binary links cgo:
// Go then cannot change the capabilities of every thread (capset acts on
// one thread; syscall.AllThreadsSyscall refuses to run beside cgo), so they
// are kept.
var ErrCapsKept = errors.New("capabilities kept: a cgo build cannot drop them on every thread (build with CGO_ENABLED=0)")

// DropCapabilities gives up every capability on every thread of the
// process, for good: it empties the bounding set (where CAP_SETPCAP still
// allows it), sets no_new_privs (no execve can grant anything again) and
// clears the effective, permitted and inheritable sets. Call it once the
// capture is open: the child then runs the scenario without a single
// capability, even as root of its user namespace. It returns ErrCapsKept
// in a binary built with cgo.
func DropCapabilities() error {
	all := func(trap, a1, a2, a3 uintptr) error {
		if _, _, e := syscall.AllThreadsSyscall(trap, a1, a2, a3); e != 0 {
			return e
		}
		return nil
	}
	if err := all(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		if errors.Is(err, syscall.ENOTSUP) {
			return ErrCapsKept
		}
		return fmt.Errorf("drop capabilities: no_new_privs: %w", err)
	}
	last, err := strconv.Atoi(readSysctl("kernel.cap_last_cap"))
	if err != nil {
		last = 40 // CAP_CHECKPOINT_RESTORE, the last one in Linux 6.x
	}
	for c := 0; c <= last; c++ {
		// EPERM without CAP_SETPCAP (after a setuid, which already emptied
		// the other sets), EINVAL for a capability this kernel lacks.
		_ = all(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := all(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); err != nil {
		return fmt.Errorf("drop capabilities: capset: %w", err)
	}
	return nil
}

// AllowLowPorts lets every user bind ports below 1024 in this network
// namespace (net.ipv4.ip_unprivileged_port_start = 0, which covers IPv6
// too), so that --port 80 still works in the sandbox once the child has
// dropped its capabilities. Call it only inside a namespace of its own:
// on the host it would change the machine's setting (and fail without
// root).
func AllowLowPorts() error {
	if ChildMode() != Isolated {
		return errors.New("allow low ports: not in a namespace of its own")
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_unprivileged_port_start", []byte("0"), 0); err != nil {
		return fmt.Errorf("allow low ports: %w", err)
	}
	return nil
}

// CanCaptureOnHost reports whether this process may open a packet socket on
// the host (root, or CAP_NET_RAW from setcap).
func CanCaptureOnHost() bool {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// readSysctl returns a /proc/sys value, "" when it does not exist.
func readSysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// namespaceError explains why no namespace could be made, naming the knob
// that blocks it.
func namespaceError(err error) error {
	return &RightsError{Problem: "cannot create the capture sandbox (a user and network namespace)", Err: err, Fix: namespaceFix(readSysctl)}
}

// namespaceFix names the fix for namespaces that could not be made, given a
// way to read sysctls.
func namespaceFix(readSysctl func(string) string) string {
	switch {
	case readSysctl("user.max_user_namespaces") == "0":
		return "user namespaces are switched off (user.max_user_namespaces = 0): run it with sudo, or allow them with `sudo sysctl -w user.max_user_namespaces=15000`"
	case readSysctl("kernel.unprivileged_userns_clone") == "0":
		return "Debian's kernel.unprivileged_userns_clone = 0 forbids user namespaces: run it with sudo, or allow them with `sudo sysctl -w kernel.unprivileged_userns_clone=1`"
	case readSysctl("kernel.apparmor_restrict_unprivileged_userns") == "1":
		return "AppArmor restricts unprivileged user namespaces: run it with sudo, or `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`"
	default:
		return "this system (a container's seccomp profile?) forbids namespaces: run it with sudo, or give the binary capture rights with " + setcapHint() + " and use --host"
	}
}

// ChildFailureError turns a failure reported by the child into an error,
// with a fix where it is about rights.
func ChildFailureError(mode Mode, f *Failure) error {
	if f.Stage == "port" {
		return errors.New(f.Text) // says it all: --port N is in use
	}
	base := fmt.Errorf("%s: %s", f.Stage, f.Text)
	if f.Errno != "EPERM" && f.Errno != "EACCES" {
		return base
	}
	if mode == Host {
		return &RightsError{Problem: "capturing on the host's loopback needs CAP_NET_RAW", Err: base,
			Fix: "run it with sudo, or drop --host, or give the binary capture rights with " + setcapHint()}
	}
	re := &RightsError{Problem: "the sandbox was created but has no capabilities in it", Err: base}
	if readSysctl("kernel.apparmor_restrict_unprivileged_userns") == "1" {
		re.Fix = "AppArmor denies capabilities in unprivileged user namespaces: run it with sudo, or `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`"
	} else {
		re.Fix = "run it with sudo, or give the binary capture rights with " + setcapHint() + " and use --host"
	}
	return re
}

// setcapHint names the setcap command for this binary; a `go run` binary
// lives in a temporary directory, so it points at a built one instead.
func setcapHint() string {
	p, err := os.Executable()
	if err != nil || strings.Contains(p, "go-build") {
		return "`go build ./cmd/sockscope && sudo setcap cap_net_raw+ep ./sockscope`"
	}
	return "`sudo setcap cap_net_raw+ep " + p + "`"
}
