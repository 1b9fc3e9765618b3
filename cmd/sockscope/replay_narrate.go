package main

import (
	"fmt"

	"github.com/sockscope/sockscope/capture"
	"github.com/sockscope/sockscope/decode"
	"github.com/sockscope/sockscope/trace"
	"github.com/sockscope/sockscope/ui"
)

// narrateAgain makes the narration a replay's ui.Index does not keep: it
// reads the frames a query names again from the file, by their offsets,
// decodes them with their own frame numbers in a new Decoder and annotates
// them alone, with narration, in the replay's language and with its
// inferred calls, among the calls and kernel states recorded about the
// connection. What it says of a connection is what the whole capture's
// annotation says of it, since a connection's narration depends on its own
// packets and calls only (TestNarrateAgainIsTheWholeNarration).
func narrateAgain(fr *capture.FrameReader, offs *frameOffsets, opts decode.AnnotateOptions) ui.NarrateFunc {
	opts.NoExplain = false
	return func(q ui.NarrateQuery) ([]trace.Event, error) {
		at := make([]int64, len(q.Frames))
		for i, n := range q.Frames {
			off, ok := offs.get(n)
			if !ok || i > 0 && n <= q.Frames[i-1] {
				return nil, fmt.Errorf("frame %d was not read", n)
			}
			at[i] = off
		}
		d := decode.NewDecoder()
		evs := make([]trace.Event, 0, 2*len(q.Frames)+len(q.Recorded))
		err := fr.ReadFrames(at, func(i int, f trace.Frame) error {
			f.Comments = nil
			evs = append(evs, d.Feed(&f, q.Frames[i])...)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the frames again: %w", err)
		}
		return decode.Annotate(mergeRecorded(evs, q.Recorded), opts), nil
	}
}

// mergeRecorded puts recorded events (in time order) among decoded ones,
// as a Stream does: in time order, after the decoded events of the same
// time.
func mergeRecorded(decoded, recorded []trace.Event) []trace.Event {
	if len(recorded) == 0 {
		return decoded
	}
	out := make([]trace.Event, 0, len(decoded)+len(recorded))
	i := 0
	for _, r := range recorded {
		t := r.Time()
		for i < len(decoded) && !decoded[i].Time().After(t) {
			out = append(out, decoded[i])
			i++
		}
		out = append(out, r)
	}
	return append(out, decoded[i:]...)
}
