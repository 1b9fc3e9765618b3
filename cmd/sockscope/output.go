package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sockscope/sockscope/capture"
	"github.com/sockscope/sockscope/trace"
	"github.com/sockscope/sockscope/ui"
)

// writeOutputs prints the session in the chosen format and, with -w, saves
// the capture with its calls.
func writeOutputs(s *session, format, pcapngPath string, stdout io.Writer) error {
	if pcapngPath != "" {
		if err := writePcapng(pcapngPath, s); err != nil {
			return err
		}
	}
	return printSession(s, format, stdout)
}

func printSession(s *session, format string, stdout io.Writer) error {
	switch format {
	case "json":
		enc := trace.NewEncoder(stdout, time.Time{})
		for _, ev := range s.events {
			if !timelineOptions.Explain {
				ev.Explain = "" // the narration is in JSON with --explain, as in text
			}
			if err := enc.Encode(ev); err != nil {
				return err
			}
		}
		return enc.Flush()
	default: // text, and auto until the dashboard exists
		return ui.WriteText(stdout, ui.Layout(s.events), ui.TextOptions{Explain: timelineOptions.Explain})
	}
}

// sink prints a timeline given an event at a time: JSON Lines, or the
// text ladder (ui.TextStream).
type sink struct {
	enc  *trace.Encoder
	text *ui.TextStream
}

func newSink(format string, stdout io.Writer) *sink {
	if format == "json" {
		return &sink{enc: trace.NewEncoder(stdout, time.Time{})}
	}
	return &sink{text: ui.NewTextStream(stdout, ui.TextOptions{Explain: timelineOptions.Explain}, 0)}
}

func (s *sink) event(ev trace.Event) error {
	if s.enc != nil {
		if !timelineOptions.Explain {
			ev.Explain = ""
		}
		return s.enc.Encode(ev)
	}
	return s.text.Event(ev)
}

// packet, state, call and note are event of an event of that one record
// and no narration; text takes the record as it is.
func (s *sink) packet(p *trace.Packet) error {
	if s.text != nil {
		return s.text.Packet(p)
	}
	return s.event(trace.PacketEvent(p))
}

func (s *sink) state(st *trace.StateChange) error {
	if s.text != nil {
		return s.text.State(st)
	}
	return s.event(trace.StateEvent(st))
}

func (s *sink) call(c *trace.Call) error {
	if s.text != nil {
		return s.text.Call(c)
	}
	return s.event(trace.CallEvent(c))
}

func (s *sink) note(n *trace.Note) error {
	if s.text != nil {
		return s.text.Note(n)
	}
	return s.event(trace.NoteEvent(n))
}

// holdsOnlyTheLast reports whether the sink holds no record of the events
// it was given but the last one's (and its frame's).
func (s *sink) holdsOnlyTheLast() bool {
	return s.enc != nil || s.text.HoldsOnlyTheLast()
}

func (s *sink) close() error {
	if s.enc != nil {
		return s.enc.Flush()
	}
	return s.text.Close()
}

// writePcapng saves the frames with everything the scenario recorded (its
// calls, the kernel's states, its notes) as packet comments.
func writePcapng(path string, s *session) error {
	frames := make([]trace.Frame, len(s.frames))
	for i, f := range s.frames {
		f.Comments = append([]string(nil), f.Comments...)
		frames[i] = f
	}
	if n := trace.AttachRecords(frames, s.recorded); n > 0 {
		fmt.Fprintf(os.Stderr, "sockscope: warning: no packet was captured, so %d recorded calls and states could not be stored in %s\n", n, path)
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write capture: %w", err)
	}
	link := 1
	if len(frames) > 0 {
		link = frames[0].LinkType
	}
	w, err := capture.NewPcapngWriter(out, link, "lo")
	if err == nil {
		for _, f := range frames {
			if err = w.WriteFrame(f); err != nil {
				break
			}
		}
	}
	if err == nil && s.counters != nil {
		err = w.WriteStats(s.counters.Received, s.counters.Dropped)
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
