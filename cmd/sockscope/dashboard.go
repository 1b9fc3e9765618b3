package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/sockscope/sockscope/capture/sandbox"
	"github.com/sockscope/sockscope/decode"
	"github.com/sockscope/sockscope/scenarios"
	"github.com/sockscope/sockscope/trace"
	"github.com/sockscope/sockscope/ui"
)

// wantDashboard says whether the output is the dashboard: asked for, or
// auto with a terminal on standard output.
func wantDashboard(format string, stdout io.Writer) bool {
	switch format {
	case "dashboard":
		return true
	case "auto":
		f, ok := stdout.(*os.File)
		return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb" && haveControllingTerminal()
	}
	return false
}

// haveControllingTerminal reports whether /dev/tty opens: the dashboard
// draws there, and a process started by `su -c` or a service has none.
func haveControllingTerminal() bool {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	tty.Close()
	return true
}

// recorder collects what the child streams. A dashboard reads snapshots of
// it while the child runs.
type recorder struct {
	mu       sync.Mutex
	frames   []trace.Frame
	calls    []trace.Event
	counters *sandbox.Counters
	failure  *sandbox.Failure
	version  atomic.Uint64

	onStep func(*sandbox.StepWait) // step mode: the child waits before a call
}

// read takes the child's records until it is done.
func (r *recorder) read(child *sandbox.Child, stderr io.Writer) {
	for {
		rec, err := child.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Fprintln(stderr, "sockscope: "+err.Error())
			return
		}
		if rec.Step != nil {
			if r.onStep != nil {
				r.onStep(rec.Step)
			} else {
				_ = child.Step() // nobody to ask: let it run
			}
			continue
		}
		r.mu.Lock()
		switch {
		case rec.Frame != nil:
			r.frames = append(r.frames, *rec.Frame)
		case rec.Event != nil:
			r.calls = append(r.calls, *rec.Event)
		case rec.Counters != nil:
			r.counters = rec.Counters
		case rec.Failure != nil:
			r.failure = rec.Failure
		}
		r.mu.Unlock()
		r.version.Add(1)
	}
}

// snapshot returns the frames and events so far. Frames are only ever
// appended, so the frames slice is shared, not copied.
func (r *recorder) snapshot() ([]trace.Frame, []trace.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frames[:len(r.frames):len(r.frames)], append([]trace.Event(nil), r.calls...)
}

// dashboard runs the terminal UI beside a run or a replay: it republishes
// snapshots of the session into the UI's model while the session grows,
// and keeps the frames the shown events were built from for the detail
// pane.
type dashboard struct {
	model  *ui.Model
	cancel context.CancelFunc
	done   chan struct{} // ui.Run returned
	err    error         // what ui.Run returned
	byUser atomic.Bool   // the user quit (not a signal)
	early  atomic.Bool   // … before the run had finished: it was cut short
	ended  atomic.Bool   // finish was called: the session is complete

	framesMu sync.Mutex
	frames   []trace.Frame
	frameOf  func(int) (trace.Frame, bool) // a replay's frames, by number (instead of frames)

	pubStop chan struct{}
	pubDone chan struct{}
	pubErr  atomic.Value // a panic in the publisher, as error

	stderr bytes.Buffer // diagnostics held back while the terminal is the UI's
}

// dashboardForTest, when set, adjusts the dashboard's options (tests give
// it a simulated screen).
var dashboardForTest func(*ui.Options)

// startDashboard shows the model on the terminal, in its own goroutine.
// onQuit runs when the UI is gone, however it ended.
func startDashboard(ctx context.Context, st ui.Status, opts ui.Options, onQuit func()) *dashboard {
	d := &dashboard{model: ui.NewModel(st), done: make(chan struct{})}
	opts.Inspect = d.inspect
	if dashboardForTest != nil {
		dashboardForTest(&opts)
	}
	uiCtx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	go func() {
		defer close(d.done)
		d.err = ui.Run(uiCtx, d.model, opts)
		if uiCtx.Err() == nil {
			d.byUser.Store(true)
			d.early.Store(!d.ended.Load())
		}
		if onQuit != nil {
			onQuit()
		}
	}()
	return d
}

// publish rebuilds the model from snapshot whenever version changes, at
// most every 50 ms and leaving at least three quarters of the time to the
// producer: a rebuild decodes everything again.
func (d *dashboard) publish(version func() uint64, snapshot func() ([]trace.Frame, []trace.Event), status func(*ui.Status, []trace.Frame)) {
	d.pubStop, d.pubDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(d.pubDone)
		defer func() {
			if p := recover(); p != nil {
				d.pubErr.Store(fmt.Errorf("panic while building the timeline: %v", p))
				d.cancel() // restore the terminal
			}
		}()
		var seen uint64
		wait := 50 * time.Millisecond
		for {
			select {
			case <-d.pubStop:
				return
			case <-time.After(wait):
			}
			v := version()
			if v == seen {
				continue
			}
			seen = v
			t0 := time.Now()
			frames, recorded := snapshot()
			evs := buildTimeline(frames, recorded)
			d.show(evs, frames)
			d.model.SetStatus(func(s *ui.Status) { status(s, frames) })
			wait = max(50*time.Millisecond, 3*time.Since(t0))
		}
	}()
}

// stopPublishing ends the publisher and waits for it.
func (d *dashboard) stopPublishing() {
	if d.pubStop != nil {
		close(d.pubStop)
		<-d.pubDone
		d.pubStop = nil
	}
}

// show hands a snapshot to the UI with the frames it was built from.
func (d *dashboard) show(evs []trace.Event, frames []trace.Frame) {
	d.framesMu.Lock()
	d.frames = frames
	d.framesMu.Unlock()
	d.model.SetEvents(evs)
}

// showEvents hands a replay's snapshot to the UI; frameOf finds the frames
// of its packets.
func (d *dashboard) showEvents(evs []trace.Event, frameOf func(int) (trace.Frame, bool)) {
	d.framesMu.Lock()
	d.frameOf = frameOf
	d.framesMu.Unlock()
	d.model.SetEvents(evs)
}

// setFrameSource gives the detail pane a replay's frames, by number.
func (d *dashboard) setFrameSource(frameOf func(int) (trace.Frame, bool)) {
	d.framesMu.Lock()
	d.frameOf = frameOf
	d.framesMu.Unlock()
}

// inspect decodes one frame field by field; the UI calls it for the
// selected packet only.
func (d *dashboard) inspect(n int) *ui.Inspection {
	d.framesMu.Lock()
	frames, frameOf := d.frames, d.frameOf
	d.framesMu.Unlock()
	var f trace.Frame
	switch {
	case frameOf != nil:
		var ok bool
		if f, ok = frameOf(n); !ok {
			return nil
		}
	case n < 1 || n > len(frames):
		return nil
	default:
		f = frames[n-1]
	}
	in := &ui.Inspection{Raw: f.Data}
	if frameOf != nil {
		// A long replay's timeline is held in an index, without the
		// packets' absolute numbers, options and payload: decode the frame
		// alone for them.
		if evs := decode.NewDecoder().Feed(&f, n); len(evs) > 0 {
			in.Packet = evs[0].Packet
		}
	}
	for _, l := range decode.Layers(f.LinkType, f.Data) {
		il := ui.InspectLayer{Name: l.Name}
		for _, fl := range l.Fields {
			il.Fields = append(il.Fields, ui.InspectField{Name: fl.Name, Value: fl.Value})
		}
		in.Layers = append(in.Layers, il)
	}
	return in
}

// stop ends the UI (restoring the terminal) and waits for it.
func (d *dashboard) stop() {
	d.cancel()
	<-d.done
}

// wait waits for the user to quit.
func (d *dashboard) wait() { <-d.done }

// result is the UI's error (a panic it recovered from), or the publisher's.
func (d *dashboard) result() error {
	if d.err != nil {
		return d.err
	}
	if e, ok := d.pubErr.Load().(error); ok {
		return e
	}
	return nil
}

// startLiveDashboard shows a run as it happens: the child's records go to
// rec, rec's snapshots to the UI. Quitting the UI stops the child.
func startLiveDashboard(ctx context.Context, sc *scenarios.Scenario, child *sandbox.Child, rec *recorder, typed bool) *dashboard {
	st := ui.Status{Source: sc.Name, Where: child.Mode.String(), Started: time.Now(), Live: true}
	opts := ui.Options{Listing: sc.Listing, Step: func() { _ = child.Step() }}
	if typed {
		opts.Input = func(line string) { _ = child.Type(line) }
	}
	d := startDashboard(ctx, st, opts, func() { child.Signal(syscall.SIGTERM) })
	rec.onStep = func(w *sandbox.StepWait) {
		d.model.SetStep(&ui.StepPrompt{Lane: w.Lane, Op: w.Op, Line: w.Line})
	}
	host := child.Mode == sandbox.Host
	d.publish(rec.version.Load, func() ([]trace.Frame, []trace.Event) {
		frames, calls := rec.snapshot()
		if host {
			frames = onlyScenarioFrames(frames, calls)
		}
		return frames, calls
	}, func(s *ui.Status, frames []trace.Frame) { s.Packets = len(frames) })
	return d
}

// finish shows the finished session: the final timeline, the kernel's drop
// counter, and no more live rows.
func (d *dashboard) finish(s *session, message string) {
	d.ended.Store(true)
	d.stopPublishing()
	d.show(s.events, s.frames)
	d.model.SetStep(nil)
	d.model.SetStatus(func(st *ui.Status) {
		st.Live = false
		st.Ended = time.Now()
		st.Packets = len(s.frames)
		if s.counters != nil {
			st.DropsKnown, st.Dropped = true, s.counters.Dropped
		}
		st.Message = message
	})
}

// finishLiveDashboard shows the finished run until the user quits; the
// capture file is written at once, before that.
func finishLiveDashboard(ctx context.Context, d *dashboard, s *session, pcapngPath string, waitErr error, stderr io.Writer) error {
	var ee *exec.ExitError
	failed := errors.As(waitErr, &ee) && ee.ExitCode() != 0 && ctx.Err() == nil && !d.byUser.Load()
	msg := ""
	if failed {
		msg = "the scenario did not finish cleanly (see the notes)"
	}
	d.finish(s, msg)
	var werr error
	if pcapngPath != "" {
		werr = writePcapng(pcapngPath, s)
	}
	d.wait()
	stderr.Write(d.stderr.Bytes())
	switch {
	case d.result() != nil:
		return &exitError{exitCannot, d.result()}
	case werr != nil:
		return &exitError{exitCannot, werr}
	case ctx.Err() != nil:
		return &exitError{exitInterrupted, errors.New("interrupted" + savedHint(pcapngPath))}
	case d.early.Load():
		// Quitting a run that still ran cut it short, as Ctrl-C does.
		return &exitError{exitInterrupted, errors.New("quit before the scenario finished" + savedHint(pcapngPath))}
	case failed:
		return &exitError{exitDamaged, errors.New("the scenario did not finish cleanly")}
	}
	return nil
}

func savedHint(path string) string {
	if path == "" {
		return ""
	}
	return ": the capture so far is saved in " + path
}
