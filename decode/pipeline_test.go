package decode

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// streamLines runs fs through a Stream and returns its output as JSON
// lines, each encoded when emitted (as a replay prints it), releasing the
// frames shown as a replay does when release is set. With record, a
// recorded note goes in halfway. With byFrame, the eager frames come
// through StreamOptions.EmitFrame (and it fails if none did). It fails if
// a pipelined stream never annotated on its own goroutine.
func streamLines(t *testing.T, fs []trace.Frame, opts StreamOptions, release, record, byFrame bool) []string {
	t.Helper()
	var lines []trace.Event
	var shown atomic.Int64 // the last frame emitted
	var out []string
	emit := func(ev trace.Event) error {
		lines = append(lines[:0], ev)
		out = append(out, jsonLines(t, lines)...)
		if ev.Packet != nil {
			shown.Store(int64(ev.Packet.Frame))
		}
		return nil
	}
	framesEmitted := 0
	if byFrame {
		opts.EmitFrame = func(call *trace.Call, evs []trace.Event) error {
			framesEmitted++
			if call != nil {
				if err := emit(trace.CallEvent(call)); err != nil {
					return err
				}
			}
			if len(evs) == 0 || evs[0].Packet == nil || evs[0].Kind != trace.KindPacket {
				t.Errorf("a frame's events do not start with its packet: %+v", evs)
			}
			for _, ev := range evs {
				if err := emit(ev); err != nil {
					return err
				}
			}
			return nil
		}
	}
	st := NewStream(opts, emit)
	piped := false
	for i := range fs {
		if record && i == len(fs)/2 {
			if err := st.Record(trace.NoteEvent(&trace.Note{Time: fs[i].Time, Level: "info", Text: "a recorded note"})); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Frame(&fs[i]); err != nil {
			t.Fatal(err)
		}
		piped = piped || st.pipe != nil
		if release && i%100 == 0 {
			if n := shown.Load(); n > 1 {
				st.Release(int(n) - 1) // the printer holds the last one's records
			}
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if opts.Pipelined && !piped {
		t.Fatal("the stream never annotated on its own goroutine")
	}
	if byFrame && framesEmitted == 0 {
		t.Fatal("no frame came through EmitFrame")
	}
	return out
}

// longCapture is mixedCapture's frames again and again, each round an
// hour after the last: enough frames for released memory to be reused.
func longCapture(t *testing.T, rounds int) []trace.Frame {
	one := mixedCapture(t)
	var fs []trace.Frame
	for r := range rounds {
		for _, f := range one {
			f.Time = f.Time.Add(time.Duration(r) * time.Hour)
			fs = append(fs, f)
		}
	}
	return fs
}

// TestPipelinedStreamIsTheSame: annotating on a goroutine of its own
// changes nothing in what a stream emits, with or without narration, with
// frames released as they are shown, and with a record that ends the
// eager mode halfway; nor does taking the eager frames through EmitFrame.
func TestPipelinedStreamIsTheSame(t *testing.T) {
	fs := longCapture(t, 6)
	for _, tc := range []struct {
		name            string
		opts            AnnotateOptions
		release, record bool
	}{
		{"narrated", AnnotateOptions{InferCalls: true}, false, false},
		{"released", AnnotateOptions{InferCalls: true, NoExplain: true}, true, false},
		{"record halfway", AnnotateOptions{InferCalls: true, NoExplain: true}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := streamLines(t, fs, StreamOptions{AnnotateOptions: tc.opts, Window: 64}, tc.release, tc.record, false)
			got := streamLines(t, fs, StreamOptions{AnnotateOptions: tc.opts, Window: 64, Pipelined: true}, tc.release, tc.record, false)
			if len(want) < len(fs) {
				t.Fatalf("only %d lines for %d frames", len(want), len(fs))
			}
			sameLines(t, got, want)
			if tc.opts.NoExplain { // EmitFrame takes the frames of a stream without narration
				for _, piped := range []bool{false, true} {
					byFrame := streamLines(t, fs, StreamOptions{AnnotateOptions: tc.opts, Window: 64, Pipelined: piped}, tc.release, tc.record, true)
					sameLines(t, byFrame, want)
				}
			}
		})
	}
}

// TestPipelinedStreamStopsOnAnError: an error of emit on the annotating
// goroutine comes back from Frame soon after, and from Close.
func TestPipelinedStreamStopsOnAnError(t *testing.T) {
	fs := longCapture(t, 8) // more frames than can be in flight after the error
	broken := errors.New("the printer broke")
	emitted := 0
	st := NewStream(StreamOptions{AnnotateOptions: AnnotateOptions{NoExplain: true}, Window: 64, Pipelined: true},
		func(trace.Event) error {
			if emitted++; emitted >= 3000 {
				return broken
			}
			return nil
		})
	var err error
	fed := 0
	for i := range fs {
		if err = st.Frame(&fs[i]); err != nil {
			break
		}
		fed++
	}
	if !errors.Is(err, broken) {
		t.Fatalf("Frame returned %v after all %d frames, want the error of emit", err, fed)
	}
	if fed > 3000+pipeBatch*(pipeBatches+2) {
		t.Errorf("%d frames fed before the error came back", fed)
	}
	if err := st.Close(); !errors.Is(err, broken) {
		t.Errorf("Close returned %v, want the error of emit", err)
	}
}
