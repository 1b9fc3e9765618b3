package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"

	"github.com/sockscope/sockscope/capture/sandbox"
	"github.com/sockscope/sockscope/decode"
	"github.com/sockscope/sockscope/scenarios"
	"github.com/sockscope/sockscope/trace"
)

// childCommand is the hidden first argument of the re-executed child.
const childCommand = "__child"

// session is everything a run or a replay produced.
type session struct {
	source   string // "tcp-echo (sandbox)", "file.pcap"
	frames   []trace.Frame
	recorded []trace.Event // what the scenario recorded: calls, kernel states, notes (-w stores these)
	events   []trace.Event
	counters *sandbox.Counters
}

func runScenario(ctx context.Context, name string, f runFlags, stdout, stderr io.Writer) error {
	sc, ok := scenarios.Lookup(name)
	if !ok {
		return &exitError{exitCannot, fmt.Errorf("no scenario %q: 'sockscope list' shows them", name)}
	}
	dash := wantDashboard(f.format, stdout)
	if f.step && !dash {
		return &exitError{exitCannot, errors.New("--step needs the dashboard: run it in a terminal (or with --format dashboard)")}
	}
	// In the dashboard the chat's user types the lines, unless --message
	// scripts them.
	typed := dash && sc.Name == "chat" && len(f.messages) == 0
	timeout := f.timeout
	if (f.step || typed) && timeout == 0 {
		timeout = time.Hour // the user takes their time
	}
	opts := scenarios.Options{
		Port: f.port, Clients: f.clients, Message: f.messages, Pace: f.pace, Timeout: timeout, Bytes: int64(f.bytes),
	}
	if err := opts.Check(); err != nil {
		return &exitError{exitCannot, err}
	}
	req, err := json.Marshal(childRequest{Scenario: sc.Name, Step: f.step, Typed: typed, Options: opts})
	if err != nil {
		return &exitError{exitCannot, err}
	}
	mode := sandbox.Isolated
	if f.host {
		mode = sandbox.Host
	}
	child, err := sandbox.Spawn(mode, []string{childCommand, string(req)})
	var fallback string
	if err != nil && mode == sandbox.Isolated && errors.Is(err, sandbox.ErrNoRights) && sandbox.CanCaptureOnHost() {
		fallback = "no namespace could be made (" + err.Error() + "): running on the host's loopback"
		child, err = sandbox.Spawn(sandbox.Host, []string{childCommand, string(req)})
	}
	if err != nil {
		return rightsExit(err)
	}
	// Under sudo the parent needs no privileges once the child runs: the
	// files it writes belong to the invoking user.
	if _, err := sandbox.DropPrivileges(); err != nil {
		child.Signal(syscall.SIGKILL)
		_ = child.Wait()
		return &exitError{exitCannot, err}
	}
	// A binary given cap_net_raw by setcap needs it no more either.
	if err := sandbox.DropCapabilities(); err != nil && !errors.Is(err, sandbox.ErrCapsKept) {
		child.Signal(syscall.SIGKILL)
		_ = child.Wait()
		return &exitError{exitCannot, err}
	}

	// SIGTERM or SIGHUP sent to the parent alone reaches the child too; a
	// terminal's Ctrl-C already went to both.
	stopForward := context.AfterFunc(ctx, func() { child.Signal(syscall.SIGTERM) })
	defer stopForward()

	s := &session{source: sc.Name + " (" + child.Mode.String() + ")"}
	rec := &recorder{}
	var board *dashboard
	if dash {
		// The dashboard shows the records as they arrive, in its own
		// goroutine; this one goes on exactly as for text output.
		board = startLiveDashboard(ctx, sc, child, rec, typed)
		defer func() {
			if p := recover(); p != nil {
				board.stop() // restore the terminal before the panic is printed
				panic(p)
			}
		}()
		rec.read(child, &board.stderr)
	} else {
		rec.read(child, stderr)
	}
	s.frames, s.counters = rec.frames, rec.counters
	calls, failure := rec.calls, rec.failure
	waitErr := child.Wait()
	if failure != nil {
		if board != nil {
			board.stop()
			stderr.Write(board.stderr.Bytes())
		}
		return rightsExit(sandbox.ChildFailureError(child.Mode, failure))
	}
	if fallback != "" {
		calls = append(calls, trace.NoteEvent(&trace.Note{Time: firstTime(calls), Level: "warning", Text: fallback}))
	}
	if child.Mode == sandbox.Host {
		s.frames = onlyScenarioFrames(s.frames, calls)
	}
	s.recorded = calls
	s.events = buildTimeline(s.frames, calls)
	summary := captureSummary(s)
	summary.Explain = decode.ExplainNote(summary.Note, timelineOptions.Annotate.Lang)
	s.events = append(s.events, summary)

	if board != nil {
		return finishLiveDashboard(ctx, board, s, f.write, waitErr, stderr)
	}
	if err := writeOutputs(s, f.format, f.write, stdout); err != nil {
		return &exitError{exitCannot, err}
	}
	if ctx.Err() != nil {
		return &exitError{exitInterrupted, errors.New("interrupted: the capture so far is shown (and saved with -w)")}
	}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) && ee.ExitCode() != 0 {
		return &exitError{exitDamaged, fmt.Errorf("the scenario did not finish cleanly (see the notes above)")}
	}
	return nil
}

// rightsExit turns a missing-rights error into its one-sentence fix.
func rightsExit(err error) error {
	var re *sandbox.RightsError
	if errors.As(err, &re) && re.Fix != "" {
		return &exitError{exitCannot, fmt.Errorf("%s: %s (%v)", re.Problem, re.Fix, re.Err)}
	}
	return &exitError{exitCannot, err}
}

func firstTime(evs []trace.Event) time.Time {
	if len(evs) == 0 {
		return time.Now()
	}
	t := evs[0].Time()
	for _, ev := range evs {
		if ev.Time().Before(t) {
			t = ev.Time()
		}
	}
	return t
}

// timelineOptions are set from the flags (--lang, --explain) before a
// timeline is built and shown.
var timelineOptions struct {
	Annotate decode.AnnotateOptions // the narration's language
	Explain  bool                   // the text ladder shows each event's narration under its row
}

// buildTimeline decodes the frames, merges the packets and their states
// with the recorded events in time order, and annotates the result: calls
// tied to their segments, analysis flags, kernel states checked against
// the inferred ones, connection summaries and the narration (see
// decode.Annotate).
func buildTimeline(frames []trace.Frame, recorded []trace.Event) []trace.Event {
	var tl trace.Timeline
	d := decode.NewDecoder()
	for i := range frames {
		tl.Append(d.Feed(&frames[i], i+1)...)
	}
	tl.Append(recorded...)
	return decode.Annotate(tl.Snapshot(), timelineOptions.Annotate)
}

// onlyScenarioFrames keeps, of a capture on the host's busy loopback, the
// frames to or from the ports the scenario's sockets used.
func onlyScenarioFrames(frames []trace.Frame, recorded []trace.Event) []trace.Frame {
	ports := map[uint16]bool{}
	for _, ev := range recorded {
		if c := ev.Call; c != nil && c.Local.Port() != 0 {
			ports[c.Local.Port()] = true
		}
	}
	d := decode.NewDecoder()
	var kept []trace.Frame
	for i := range frames {
		evs := d.Feed(&frames[i], i+1)
		if len(evs) == 0 || evs[0].Packet == nil {
			continue
		}
		p := evs[0].Packet
		if ports[p.Src.Port()] || ports[p.Dst.Port()] {
			kept = append(kept, frames[i])
		}
	}
	return kept
}

// captureSummary is the closing note: how many packets, how many lost.
func captureSummary(s *session) trace.Event {
	// At the very end: after the last event and the last call's return.
	t := firstTime(s.events)
	for _, ev := range s.events {
		if ev.Time().After(t) {
			t = ev.Time()
		}
		if ev.Call != nil && ev.Call.End.After(t) {
			t = ev.Call.End
		}
	}
	n := &trace.Note{Time: t, Level: "info"}
	if s.counters == nil {
		n.Level = "warning"
		n.Text = fmt.Sprintf("capture: %d packets; the kernel's drop counter could not be read", len(s.frames))
		return trace.NoteEvent(n)
	}
	n.Text = fmt.Sprintf("capture: %d packets, %d dropped by the kernel (%s)", len(s.frames), s.counters.Dropped, s.source)
	if s.counters.Dropped > 0 {
		n.Level = "warning"
		n.Text = fmt.Sprintf("capture: %d PACKETS DROPPED by the kernel: the ladder is incomplete (%d packets kept, %s)", s.counters.Dropped, len(s.frames), s.source)
	}
	return trace.NoteEvent(n)
}
