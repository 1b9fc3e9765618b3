package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sockscope/sockscope/capture"
	"github.com/sockscope/sockscope/capture/sandbox"
	"github.com/sockscope/sockscope/scenarios"
	"github.com/sockscope/sockscope/trace"
)

// childRequest is what the parent asks the child to run.
type childRequest struct {
	Scenario string
	Options  scenarios.Options
	Step     bool // pause before each socket call until the parent says go (run --step)
	Typed    bool // the user types the client's lines in the dashboard (chat)
}

// childMain is the re-executed half of `run`: inside the sandbox (or on the
// host with --host) it opens the capture, drops privileges, runs the
// scenario and streams frames and events to the parent.
func childMain(args []string) int {
	// Ctrl-C reaches the whole process group: end the scenario, then finish
	// the capture so that nothing already captured is lost. Caught from the
	// start, so that a signal during the set-up does not kill the child
	// before it has said anything.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	stream, err := sandbox.Attach()
	if err != nil {
		if stream != nil {
			stream.Fail("loopback", err)
			stream.Close()
		} else {
			fmt.Fprintln(os.Stderr, "sockscope child:", err)
		}
		return exitCannot
	}
	defer stream.Close()
	fail := func(stage string, err error) int {
		stream.Fail(stage, err)
		return exitCannot
	}
	if len(args) != 2 || args[0] != childCommand {
		return fail("start", fmt.Errorf("bad child arguments %q", args))
	}
	var req childRequest
	if err := json.Unmarshal([]byte(args[1]), &req); err != nil {
		return fail("start", fmt.Errorf("bad child request: %w", err))
	}
	sc, ok := scenarios.Lookup(req.Scenario)
	if !ok {
		return fail("start", fmt.Errorf("no scenario %q", req.Scenario))
	}

	live, err := capture.OpenLive("lo", capture.LiveOptions{BufferSize: captureBuffer(sc.Traffic(req.Options), sandbox.ChildMode())})
	if err != nil {
		return fail("capture", err)
	}
	// The capture is open: from here on nothing needs privileges. Under
	// sudo the child becomes the invoking user; in every mode it then
	// gives up every capability (as root of a user namespace of its own it
	// had them all there), so that no scenario code runs with any. In a
	// namespace of its own, ports below 1024 stay open to --port first.
	if sandbox.ChildMode() == sandbox.Isolated {
		// Where /proc/sys is read-only (some containers) low ports stay
		// closed: bind says EACCES in the ladder; nothing else changes.
		_ = sandbox.AllowLowPorts()
	}
	if _, err := sandbox.DropPrivileges(); err != nil {
		return fail("privileges", err)
	}
	if err := sandbox.DropCapabilities(); err != nil && !errors.Is(err, sandbox.ErrCapsKept) {
		return fail("privileges", err)
	}

	captured := live.Start(func(f trace.Frame) { _ = stream.Send(sandbox.Record{Frame: &f}) })
	sink := func(ev trace.Event) { _ = stream.Send(sandbox.Record{Event: &ev}) }
	if req.Step || req.Typed {
		ctl := startControl(ctx)
		if req.Step {
			req.Options.Step = ctl.stepHook(ctx, stream)
		}
		if req.Typed {
			req.Options.Input = ctl.input(ctx)
		}
	}
	runErr := scenarios.Run(ctx, sc, req.Options, sink)
	live.Stop()
	capErr := <-captured

	// A failed run has already said why in a note of its own.
	if capErr != nil {
		sink(trace.NoteEvent(&trace.Note{Time: time.Now(), Level: "error", Text: "capture: " + capErr.Error()}))
	}
	if st, err := live.Stats(); err == nil {
		if st.Unread > 0 {
			sink(trace.NoteEvent(&trace.Note{Time: time.Now(), Level: "warning", Text: fmt.Sprintf(
				"capture: %d PACKETS NOT READ: the kernel had not handed them over a second after the scenario ended; the ladder is incomplete", st.Unread)}))
		}
		_ = stream.Send(sandbox.Record{Counters: &sandbox.Counters{Received: st.Received, Dropped: st.Dropped}})
	}
	if ctx.Err() != nil {
		return exitInterrupted
	}
	if req.Options.Port != 0 && errors.Is(runErr, syscall.EADDRINUSE) {
		// The scenario could not bind the port it was given: say so in one
		// line instead of a ladder that stops at bind. (addr-in-use's own
		// EADDRINUSE is part of its story, not an error of the run.)
		return fail("port", portInUse(req.Options.Port, sandbox.ChildMode()))
	}
	if runErr != nil || capErr != nil {
		return exitDamaged
	}
	return exitOK
}

// portInUse explains a --port that the scenario's server could not bind. In
// the sandbox nothing but the scenario uses ports, so only --host meets
// another program's port; either way a connection of an earlier run still
// in TIME_WAIT holds a port too, for 60 s.
func portInUse(port int, mode sandbox.Mode) error {
	where := "on the host's loopback (another program uses it, or a connection of an earlier run is in TIME_WAIT for up to 60 s)"
	if mode == sandbox.Isolated {
		where = "in the sandbox (the scenario itself holds it)"
	}
	return portError(fmt.Sprintf("--port %d is already in use %s: choose another port, or leave --port out and the kernel picks a free one", port, where))
}

// portError is a --port in use; it is an EADDRINUSE.
type portError string

func (e portError) Error() string { return string(e) }
func (e portError) Unwrap() error { return syscall.EADDRINUSE }

// Bounds of a run's capture buffer (the ring the kernel fills).
const (
	minCaptureBuffer = 8 << 20   // every scenario but bulk: a few messages
	maxCaptureBuffer = 128 << 20 // bulk's 256 MB; capture.LiveOptions' default
)

// captureBuffer sizes the capture's ring to what the scenario sends
// (traffic bytes): twice that, within the bounds above. The reader can
// fall behind a bulk transfer by about a quarter of it (a 64 MiB ring
// sometimes overflowed on 200 MB), and a small ring spares every other
// run 120 MiB of kernel memory that cannot be swapped out. On the host's loopback other
// programs' traffic is captured too: the ring is the largest.
func captureBuffer(traffic int64, mode sandbox.Mode) int {
	if mode == sandbox.Host {
		return maxCaptureBuffer
	}
	return int(min(max(2*traffic, minCaptureBuffer), maxCaptureBuffer))
}
