package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/sockscope/sockscope/capture"
	"github.com/sockscope/sockscope/trace"
	"github.com/sockscope/sockscope/ui"
)

func replayFile(ctx context.Context, path string, f outputFlags, stdout, stderr io.Writer) error {
	src, err := capture.OpenFile(path)
	if err != nil {
		return &exitError{exitCannot, fmt.Errorf("replay %s: %w", path, err)}
	}
	defer src.Close()
	s := &session{source: path}
	var recorded []trace.Event
	// With the dashboard, the file is read while the UI already shows what
	// was read so far; quitting the UI stops the reading.
	var (
		board   *dashboard
		mu      sync.Mutex // guards s.frames and recorded for the dashboard's snapshots
		version atomic.Uint64
		readCtx = ctx
		diag    = stderr // where diagnostics go once the terminal is free
	)
	if wantDashboard(f.format, stdout) {
		var stopReading context.CancelFunc
		readCtx, stopReading = context.WithCancel(ctx)
		defer stopReading()
		board = startDashboard(ctx, ui.Status{Source: path, Where: "file", Live: true}, ui.Options{Replay: true}, stopReading)
		board.publish(version.Load, func() ([]trace.Frame, []trace.Event) {
			mu.Lock()
			defer mu.Unlock()
			return s.frames[:len(s.frames):len(s.frames)], append([]trace.Event(nil), recorded...)
		}, func(st *ui.Status, frames []trace.Frame) { st.Packets = len(frames) })
		stderr = &board.stderr
	}
	for readCtx.Err() == nil {
		fr, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			s.damaged = err
			break
		}
		// What sockscope stored as comments (calls, kernel states, notes)
		// becomes events again.
		var rest []string
		for _, c := range fr.Comments {
			ev, ok, err := trace.ParseRecordComment(c)
			switch {
			case ok && err == nil:
				recorded = append(recorded, ev)
			case ok:
				fmt.Fprintf(stderr, "sockscope: frame %d: %v\n", len(s.frames)+1, err)
			default:
				rest = append(rest, c)
			}
		}
		fr.Comments = rest
		mu.Lock()
		s.frames = append(s.frames, fr)
		mu.Unlock()
		version.Add(1)
	}
	if board != nil {
		return finishReplayDashboard(ctx, board, s, recorded, path, diag)
	}
	s.events = buildTimeline(s.frames, recorded)
	if err := printSession(s, f.format, stdout); err != nil {
		return &exitError{exitCannot, err}
	}
	switch {
	case ctx.Err() != nil:
		return &exitError{exitInterrupted, errors.New("interrupted")}
	case s.damaged != nil:
		return &exitError{exitDamaged, fmt.Errorf("warning: %s is damaged: %d packets read, then: %v", path, len(s.frames), s.damaged)}
	}
	return nil
}
