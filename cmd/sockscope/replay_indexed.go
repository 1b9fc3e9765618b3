package main

import (
	"context"
	"io"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/sockscope/sockscope/capture"
	"github.com/sockscope/sockscope/decode"
	"github.com/sockscope/sockscope/decode/filter"
	"github.com/sockscope/sockscope/trace"
	"github.com/sockscope/sockscope/ui"
)

// replayIndexed shows a capture file whole in the dashboard, however long:
// its first fullDashboardEvents events are held whole, as a run's are;
// past them the timeline goes into a ui.Index (a small record per row) and
// the file offset of every frame is kept, so that the detail pane reads
// the selected frame again from the file, and the selected row's
// connection to narrate it (narrateAgain). The first rows show as soon as
// the first piece is annotated; the header tells how much has been read.
func replayIndexed(ctx context.Context, src *capture.FileSource, fr *capture.FrameReader, path string, sel *filter.Filter, stderr io.Writer) error {
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(dashboardHeapLimit))
	board := startDashboard(ctx, ui.Status{Source: path, Where: "file", Live: true}, ui.Options{Replay: true}, stopReading)
	size := fileSize(path)
	offs := &frameOffsets{}
	// A small file is annotated with its narration, and its first
	// fullDashboardEvents events are held whole; a larger one is read
	// twice as fast without, and held in an index from the start. The
	// index makes the narration it does not keep again, from the file,
	// when a row is selected.
	format, whole := "dashboard", fullDashboardEvents
	if size > narratedDashboardBytes {
		format, whole = "text", 0
	}
	narrate := narrateAgain(fr, offs, replayAnnotateOptions(format))

	var (
		mu    sync.Mutex
		evs   []trace.Event // the timeline while it is short
		ix    *ui.Index     // … and once it is not
		batch []trace.Event // events for ix, added a few hundred at a time
		ver   atomic.Uint64
	)
	collect := func(ev trace.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if ix != nil {
			if batch = append(batch, ev); len(batch) >= 512 {
				ix.AddAll(batch)
				clear(batch)
				batch = batch[:0]
			}
		} else if evs = append(evs, ev); len(evs) > whole {
			ix = ui.NewIndex()
			ix.SetNarrator(narrate)
			ix.AddAll(evs)
			evs = nil
		}
		ver.Add(1)
		return nil
	}
	sh := newShower(sel, collect)
	st := decode.NewStream(decode.StreamOptions{AnnotateOptions: replayAnnotateOptions(format)}, sh.event)
	board.setFrameSource(func(n int) (trace.Frame, bool) {
		off, ok := offs.get(n)
		if !ok {
			return trace.Frame{}, false
		}
		f, err := fr.ReadAt(off)
		return f, err == nil
	})
	progress := readProgress(size, offs.last)
	publish := func() {
		mu.Lock()
		x, snap := ix, evs[:len(evs):len(evs)]
		if x != nil && len(batch) > 0 {
			x.AddAll(batch)
			clear(batch)
			batch = batch[:0]
		}
		mu.Unlock()
		if x != nil {
			board.model.SetIndex(x)
		} else {
			board.model.SetEvents(snap)
		}
	}

	var read atomic.Int64
	stopPub := publishWhileReading(board, &ver, publish, func(s *ui.Status) { progress(s, int(read.Load()), false) })
	res := readCapture(readCtx, src, &offsetSink{Stream: st, src: src, offs: offs, read: &read, at: src.Offset()}, &board.stderr)
	_ = st.Close()
	_ = sh.flush()
	stopPub()
	if board.byUser.Load() {
		return quitEarly(board, stderr)
	}
	var msg string
	notes := res.closingNotes(path, st, sel, sh)
	if res.damaged != nil {
		msg = damagedMessage(path, res.frames, res.damaged).Error()
	}
	for _, n := range notes {
		_ = collect(n)
	}
	mu.Lock()
	if ix != nil {
		ix.AddAll(batch)
		batch = batch[:0]
		ix.Flush()
	}
	mu.Unlock()
	publish()
	return endReplay(ctx, board, res, path, msg, func(s *ui.Status) { progress(s, res.frames, true) }, stderr)
}

// offsetSink passes frames to a Stream, noting where each frame's record
// starts in the file, and counting them.
type offsetSink struct {
	*decode.Stream
	src  *capture.FileSource
	offs *frameOffsets
	read *atomic.Int64
	at   int64 // where the next record starts
}

func (c *offsetSink) Frame(f *trace.Frame) error {
	c.read.Add(1)
	c.offs.add(c.at, c.src.Offset())
	c.at = c.src.Offset()
	return c.Stream.Frame(f)
}

// frameOffsets are the file offsets of a capture's frames, by number: 8
// bytes a frame, in chunks that are never copied.
type frameOffsets struct {
	mu     sync.Mutex
	chunks [][]int64
	n      int
	end    int64 // where the last frame read ends
}

const offsetChunk = 1 << 14

func (o *frameOffsets) add(start, end int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n%offsetChunk == 0 {
		o.chunks = append(o.chunks, make([]int64, offsetChunk))
	}
	o.chunks[o.n/offsetChunk][o.n%offsetChunk] = start
	o.n++
	o.end = end
}

// get is where frame n (1-based) starts.
func (o *frameOffsets) get(n int) (int64, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n < 1 || n > o.n {
		return 0, false
	}
	return o.chunks[(n-1)/offsetChunk][(n-1)%offsetChunk], true
}

// last is how far the file has been read.
func (o *frameOffsets) last() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.end
}
