package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/sockscope/sockscope/capture"
	"github.com/sockscope/sockscope/trace"
)

func replayFile(ctx context.Context, path string, f outputFlags, stdout, stderr io.Writer) error {
	src, err := capture.OpenFile(path)
	if err != nil {
		return &exitError{exitCannot, fmt.Errorf("replay %s: %w", path, err)}
	}
	defer src.Close()
	s := &session{source: path}
	var recorded []trace.Event
	for ctx.Err() == nil {
		fr, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			s.damaged = err
			break
		}
		// Calls that sockscope stored as comments become calls again.
		var rest []string
		for _, c := range fr.Comments {
			call, ok, err := trace.ParseCallComment(c)
			switch {
			case ok && err == nil:
				recorded = append(recorded, trace.CallEvent(call))
			case ok:
				fmt.Fprintf(stderr, "sockscope: frame %d: %v\n", len(s.frames)+1, err)
			default:
				rest = append(rest, c)
			}
		}
		fr.Comments = rest
		s.frames = append(s.frames, fr)
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
