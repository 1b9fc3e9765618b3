package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/sockscope/sockscope/capture"
	"github.com/sockscope/sockscope/decode"
	"github.com/sockscope/sockscope/decode/filter"
	"github.com/sockscope/sockscope/trace"
)

// replayFlags are replay's flags.
type replayFlags struct {
	outputFlags
	selectFlags
}

// selectFlags choose what part of a capture is shown.
type selectFlags struct {
	filter string
	conn   int
}

// compile turns --filter and --conn into one filter (nil: everything).
func (s selectFlags) compile() (*filter.Filter, error) {
	expr := strings.TrimSpace(s.filter)
	if s.conn < 0 {
		return nil, &exitError{exitCannot, fmt.Errorf("--conn %d: connections are numbered from 1", s.conn)}
	}
	if s.conn > 0 {
		c := "conn " + strconv.Itoa(s.conn)
		if expr != "" {
			expr = "(" + expr + ") and " + c
		} else {
			expr = c
		}
	}
	if expr == "" {
		return nil, nil
	}
	f, err := filter.Compile(expr)
	if err != nil {
		return nil, &exitError{exitCannot, fmt.Errorf("--filter: %w", err)}
	}
	return f, nil
}

// replayFile shows a capture file. Text and JSON are streamed: the file is
// decoded, annotated and printed a piece at a time (decode.Stream,
// ui.TextStream), in bounded memory whatever its size.
func replayFile(ctx context.Context, path string, f replayFlags, stdout, stderr io.Writer) error {
	sel, err := f.compile()
	if err != nil {
		return err
	}
	src, err := capture.OpenFile(path)
	if err != nil {
		return &exitError{exitCannot, fmt.Errorf("replay %s: %w", path, err)}
	}
	defer src.Close()
	if wantDashboard(f.format, stdout) {
		return replayDashboard(ctx, src, path, sel, stderr)
	}

	// The live heap is a few windows of events: let it grow to a fixed
	// size between collections rather than collect at every doubling.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(replayHeapLimit))
	defer debug.SetGCPercent(debug.SetGCPercent(800))
	src.ShareFrameData() // the Stream copies what it keeps of a frame
	out := newSink(f.format, stdout)
	sh := newShowerTo(sel, out) // direct calls: 1.5 events a packet go through both
	var holdsLast func() bool
	if sel == nil { // a filter holds events back
		holdsLast = out.holdsOnlyTheLast
	}
	h := newHandoffTo(sh, holdsLast)
	// Three goroutines: this one reads and decodes, the stream's annotates,
	// the handoff's prints.
	st := decode.NewStream(decode.StreamOptions{AnnotateOptions: replayAnnotateOptions(f.format), Pipelined: true, EmitFrame: h.frame}, h.event)
	res := readCapture(ctx, src, &releasingSink{Stream: st, h: h}, stderr)
	closeErr := st.Close()
	if err := h.wait(); err != nil {
		return &exitError{exitCannot, err}
	}
	if closeErr != nil {
		return &exitError{exitCannot, closeErr}
	}
	if err := sh.flush(); err != nil {
		return &exitError{exitCannot, err}
	}
	for _, n := range res.closingNotes(path, st, sel, sh) {
		if err := out.event(n); err != nil {
			return &exitError{exitCannot, err}
		}
	}
	if err := out.close(); err != nil {
		return &exitError{exitCannot, err}
	}
	return res.exit(ctx, path)
}

// releasingSink feeds a Stream, telling it first which frames the
// showing goroutine released, so that their memory is used again.
type releasingSink struct {
	*decode.Stream
	h    *handoff
	done int
}

func (r *releasingSink) Frame(f *trace.Frame) error {
	if n := r.h.Released(); n > r.done {
		r.done = n
		r.Stream.Release(n)
	}
	return r.Stream.Frame(f)
}

// replayHeapLimit is the memory a streamed replay lets the heap grow to
// before it collects: its peak memory stays under 64 MiB (53 MiB on four
// million packets of the benchmark's capture; at 40 MiB it collected
// half as often again, for 46 MiB).
const replayHeapLimit = 48 << 20

// replayAnnotateOptions: a replay infers the calls a foreign capture
// implies; the narration, the costliest part, is made only where it is
// shown: in the dashboard's detail pane, and in text and JSON with
// --explain.
func replayAnnotateOptions(format string) decode.AnnotateOptions {
	o := timelineOptions.Annotate
	o.InferCalls = true
	o.NoExplain = format != "dashboard" && !timelineOptions.Explain
	return o
}

// readResult is what reading a capture found besides its frames.
type readResult struct {
	frames      int
	damaged     error
	unsupported map[int]int // link type → frames
	bad         int         // sockscope comments that could not be parsed
	source      *capture.FileSource
}

// frameSink takes a capture's frames and recorded events as they are read.
// Frame must not keep its argument: the same one is filled for every frame.
type frameSink interface {
	Frame(*trace.Frame) error
	Record(trace.Event) error
}

// readCapture feeds every frame of src, and the events sockscope stored in
// its comments, to sink, until the end, damage, an error from sink or ctx
// is done.
func readCapture(ctx context.Context, src *capture.FileSource, sink frameSink, stderr io.Writer) *readResult {
	res := &readResult{unsupported: map[int]int{}, source: src}
	// One Frame for the whole file: it escapes to the heap (sink is an
	// interface), and one allocation a frame was a tenth of a replay's time.
	var fr trace.Frame
	for ctx.Err() == nil {
		err := src.NextInto(&fr)
		if err == io.EOF {
			break
		}
		if err != nil {
			res.damaged = err
			break
		}
		res.frames++
		// What sockscope stored as comments (calls, kernel states, notes)
		// becomes events again.
		for _, c := range fr.Comments {
			ev, ok, err := trace.ParseRecordComment(c)
			switch {
			case ok && err == nil:
				if err := sink.Record(ev); err != nil {
					return res
				}
			case ok:
				if res.bad++; res.bad <= 10 {
					fmt.Fprintf(stderr, "sockscope: frame %d: %v\n", res.frames, err)
				}
			}
		}
		fr.Comments = nil
		if !decode.LinkTypeSupported(fr.LinkType) {
			res.unsupported[fr.LinkType]++
		}
		if err := sink.Frame(&fr); err != nil {
			return res
		}
	}
	return res
}

// closingNotes are the notes after the timeline: frames of link types
// that could not be decoded, damage, calls that could not all be tied,
// what a filter kept. Each is narrated.
func (r *readResult) closingNotes(path string, st *decode.Stream, sel *filter.Filter, sh *shower) []trace.Event {
	var notes []*trace.Note
	add := func(level, text string) {
		notes = append(notes, &trace.Note{Time: sh.lastTime, Level: level, Text: text})
	}
	if len(r.unsupported) > 0 {
		var kinds []string
		total := 0
		for _, lt := range sortedKeys(r.unsupported) {
			kinds = append(kinds, fmt.Sprintf("%d (%s)", lt, plural(r.unsupported[lt], "frame")))
			total += r.unsupported[lt]
		}
		add("warning", fmt.Sprintf("capture: %d of %d frames have a link type sockscope does not decode: %s; each is shown as \"unsupported link type N\"",
			total, r.frames, strings.Join(kinds, ", ")))
	}
	if r.source != nil {
		if rcv, drop, ok := r.source.InterfaceStats(); ok && drop != noValue64 {
			switch {
			case drop > 0:
				add("warning", fmt.Sprintf("capture: %d PACKETS DROPPED by the kernel while capturing (the file's statistics): the timeline is incomplete", drop))
			case rcv != noValue64:
				add("info", fmt.Sprintf("capture: the file's statistics: %d packets received, 0 dropped by the kernel", rcv))
			default:
				add("info", "capture: the file's statistics: 0 packets dropped by the kernel")
			}
		}
	}
	if st != nil && st.ForcedCuts() > 0 {
		add("warning", fmt.Sprintf("capture: too long to hold whole: %d times a piece was cut while a call waited for its packets, so some calls may lack frames they caused", st.ForcedCuts()))
	}
	if r.bad > 0 {
		add("warning", fmt.Sprintf("capture: %d sockscope comments could not be read (the first ones are on standard error)", r.bad))
	}
	if sel != nil {
		add("info", fmt.Sprintf("filter %q: %d of %d packets shown", sel.String(), sh.shown, r.frames))
	}
	if r.damaged != nil {
		add("warning", fmt.Sprintf("capture: %s is damaged after %d packets: %v", path, r.frames, r.damaged))
	}
	out := make([]trace.Event, len(notes))
	for i, n := range notes {
		out[i] = trace.NoteEvent(n)
		out[i].Explain = decode.ExplainNote(n, timelineOptions.Annotate.Lang)
	}
	return out
}

// noValue64 is what pcapng statistics hold for a counter left out
// (pcapgo.NgNoValue64).
const noValue64 = ^uint64(0)

// plural is "1 frame", "2 frames".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

func sortedKeys(m map[int]int) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// exit is the replay's exit status: interrupted, damaged (1), or fine.
func (r *readResult) exit(ctx context.Context, path string) error {
	switch {
	case ctx.Err() != nil:
		return &exitError{exitInterrupted, errors.New("interrupted")}
	case r.damaged != nil:
		return &exitError{exitDamaged, damagedMessage(path, r.frames, r.damaged)}
	}
	return nil
}

// damagedMessage says where a file broke: the byte offset, and what was
// shown.
func damagedMessage(path string, frames int, err error) error {
	return fmt.Errorf("warning: %s is damaged: %d packets read and shown, then: %v", path, frames, err)
}

// fileSize is the size of a regular file, 0 when unknown (standard input).
func fileSize(path string) int64 {
	if path == "-" {
		return 0
	}
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	return fi.Size()
}
