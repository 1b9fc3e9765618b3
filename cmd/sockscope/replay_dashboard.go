package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockscope/sockscope/capture"
	"github.com/sockscope/sockscope/decode"
	"github.com/sockscope/sockscope/decode/filter"
	"github.com/sockscope/sockscope/trace"
	"github.com/sockscope/sockscope/ui"
)

// maxDashboardEvents bounds what the dashboard holds of a replay it cannot
// read again by offset (standard input, a gzip file): about 150 MiB of
// events, rows and frames. A longer capture shows its beginning, and says
// so; --filter and --conn choose another part.
const maxDashboardEvents = 100_000

// fullDashboardEvents is how many events a replay's dashboard holds whole
// (with their narration); from there on it holds them in a ui.Index, about
// 56 bytes a row, and reads a frame again from the file to show its detail
// and its narration. A variable: tests lower it.
var fullDashboardEvents = 1 << 15

// narratedDashboardBytes: a larger file is annotated without narration
// and held in an index from its first event (which keeps no narration
// for packets, and makes it again when a row is selected), which reads it
// about twice as fast. A variable: tests lower it.
var narratedDashboardBytes int64 = 4 << 20

// dashboardHeapLimit is where the dashboard's heap is collected however
// little it grew: its peak memory stays under 200 MiB.
const dashboardHeapLimit = 150 << 20

// replayDashboard shows a capture in the dashboard while it is read: the
// first rows appear as soon as the first piece is annotated (a fraction of
// a second), the header tells how much of the file has been read. A file
// that can be read again by offset is shown whole, however long
// (replayIndexed); standard input and gzip files show their first
// maxDashboardEvents events.
func replayDashboard(ctx context.Context, src *capture.FileSource, path string, sel *filter.Filter, stderr io.Writer) error {
	if fr, err := capture.OpenFrameReader(path, src.Offset()); err == nil {
		defer fr.Close()
		return replayIndexed(ctx, src, fr, path, sel, stderr)
	}
	return replayBounded(ctx, src, path, sel, stderr)
}

// replayBounded shows the first maxDashboardEvents events of a capture
// that cannot be read again by offset.
func replayBounded(ctx context.Context, src *capture.FileSource, path string, sel *filter.Filter, stderr io.Writer) error {
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(dashboardHeapLimit))
	board := startDashboard(ctx, ui.Status{Source: path, Where: "file", Live: true}, ui.Options{Replay: true}, stopReading)
	size := fileSize(path)

	var (
		mu     sync.Mutex
		evs    []trace.Event
		frames = map[int]trace.Frame{} // frames of the packets shown, for the detail pane
		full   bool
		ver    atomic.Uint64
	)
	ring := &frameRing{}
	collect := func(ev trace.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if len(evs) >= maxDashboardEvents {
			if !full {
				full = true
				stopReading()
			}
			return nil
		}
		evs = append(evs, ev)
		if p := ev.Packet; p != nil {
			if f, ok := ring.get(p.Frame); ok {
				frames[p.Frame] = f
			}
		}
		ver.Add(1)
		return nil
	}
	sh := newShower(sel, collect)
	st := decode.NewStream(decode.StreamOptions{AnnotateOptions: replayAnnotateOptions("dashboard")}, sh.event)
	var at atomic.Int64 // how far the reader is in the file
	progress := readProgress(size, at.Load)
	publish := func() {
		mu.Lock()
		snap := evs[:len(evs):len(evs)]
		mu.Unlock()
		board.showEvents(snap, func(n int) (trace.Frame, bool) {
			mu.Lock()
			defer mu.Unlock()
			f, ok := frames[n]
			return f, ok
		})
	}

	var read atomic.Int64
	stopPub := publishWhileReading(board, &ver, publish, func(s *ui.Status) { progress(s, int(read.Load()), false) })
	res := readCapture(readCtx, src, &countingSink{Stream: st, ring: ring, read: &read, src: src, at: &at}, &board.stderr)
	_ = st.Close()
	_ = sh.flush()
	stopPub()
	if board.byUser.Load() {
		return quitEarly(board, stderr)
	}
	var msg string
	notes := res.closingNotes(path, st, sel, sh)
	if full {
		msg = fmt.Sprintf("showing the first %d events only (of the first %d frames of the file): --filter or --conn show other parts", maxDashboardEvents, res.frames)
		n := &trace.Note{Time: sh.lastTime, Level: "warning", Text: msg}
		notes = append(notes, trace.NoteEvent(n))
	} else if res.damaged != nil {
		msg = damagedMessage(path, res.frames, res.damaged).Error()
	}
	mu.Lock()
	evs = append(evs, notes...)
	mu.Unlock()
	publish()
	return endReplay(ctx, board, res, path, msg, func(s *ui.Status) { progress(s, res.frames, true) }, stderr)
}

// readProgress fills in the header's progress: the packets read and,
// while reading, how much of the file of size bytes has been read (at).
func readProgress(size int64, at func() int64) func(s *ui.Status, read int, done bool) {
	return func(s *ui.Status, read int, done bool) {
		s.Packets = read
		s.Where = "file"
		if !done && size > 0 {
			s.Where = fmt.Sprintf("file · %d%% read", min(99, at()*100/size))
		}
	}
}

// publishWhileReading hands the reader's events to the dashboard (publish)
// whenever changed moved, and the reader's progress (status), at most
// every 100 ms: most of the time is the reader's. The function it returns
// stops it and waits until it stopped.
func publishWhileReading(board *dashboard, changed *atomic.Uint64, publish func(), status func(*ui.Status)) (stop func()) {
	stopPub := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		var seen uint64
		wait := 50 * time.Millisecond
		for {
			select {
			case <-stopPub:
				return
			case <-time.After(wait):
			}
			board.model.SetStatus(status)
			if v := changed.Load(); v != seen {
				seen = v
				t0 := time.Now()
				publish()
				wait = max(100*time.Millisecond, 3*time.Since(t0))
			}
		}
	}()
	return func() {
		close(stopPub)
		<-pubDone
	}
}

// quitEarly: the user quit the dashboard while the file was read.
func quitEarly(board *dashboard, stderr io.Writer) error {
	board.wait()
	stderr.Write(board.stderr.Bytes())
	return board.result()
}

// endReplay shows that the file was read (status, and msg in the header),
// waits for the user to quit and returns the replay's exit status.
func endReplay(ctx context.Context, board *dashboard, res *readResult, path, msg string, status func(*ui.Status), stderr io.Writer) error {
	board.model.SetStatus(func(s *ui.Status) {
		status(s)
		s.Live = false
		s.Ended = time.Now()
		s.Message = msg
	})
	board.wait()
	stderr.Write(board.stderr.Bytes())
	switch {
	case board.result() != nil:
		return &exitError{exitCannot, board.result()}
	case ctx.Err() != nil:
		return &exitError{exitInterrupted, errors.New("interrupted")}
	case res.damaged != nil:
		return &exitError{exitDamaged, damagedMessage(path, res.frames, res.damaged)}
	}
	return nil
}

// countingSink passes frames to a Stream, keeping the latest ones for the
// dashboard's detail pane and counting them.
type countingSink struct {
	*decode.Stream
	ring *frameRing
	read *atomic.Int64
	src  *capture.FileSource
	at   *atomic.Int64 // src's offset, for the publisher's goroutine
}

func (c *countingSink) Frame(f *trace.Frame) error {
	c.at.Store(c.src.Offset())
	c.read.Add(1)
	c.ring.put(int(c.read.Load()), *f)
	return c.Stream.Frame(f)
}

// frameRing holds the latest frames read, by number: a Stream hands a
// packet on at most two windows of events after its frame was read.
type frameRing struct {
	mu     sync.Mutex
	frames [4 * decode.DefaultWindow]trace.Frame
	nums   [4 * decode.DefaultWindow]int
}

func (r *frameRing) put(n int, f trace.Frame) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := n % len(r.frames)
	f.Comments = nil
	r.frames[i], r.nums[i] = f, n
}

func (r *frameRing) get(n int) (trace.Frame, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := n % len(r.frames)
	if r.nums[i] != n {
		return trace.Frame{}, false
	}
	return r.frames[i], true
}
