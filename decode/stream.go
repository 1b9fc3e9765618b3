package decode

import (
	"sort"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// StreamOptions tune a Stream.
type StreamOptions struct {
	AnnotateOptions

	// Window is how many events a Stream holds back before it annotates
	// and hands on a piece of them (0: DefaultWindow). A timeline of at
	// most Window events is annotated exactly as Annotate does it.
	Window int

	// Pipelined: once the stream is eager (pipeline.go), it annotates and
	// emits on a goroutine of its own while the caller's decodes the next
	// frames. emit is then called from that goroutine (never from two at
	// once), up to Close or the first Record.
	Pipelined bool

	// EmitFrame, if not nil, takes the events of each frame an eager
	// stream annotates without narration (AnnotateOptions.NoExplain), in
	// place of one call of emit for each: the call inferred from the
	// frame (nil if none), then the frame's packet event and the state
	// changes it caused, as Decoder.Feed returns them. It is what emit
	// would be given, in order, and the same rules hold (records held
	// until released; the first error stops the stream).
	EmitFrame func(call *trace.Call, evs []trace.Event) error
}

// DefaultWindow is a Stream's default window: a few megabytes of events.
const DefaultWindow = 1 << 14

// Idle times after which a Stream gives up on a connection that did not
// finish (a UDP flow, a TCP connection the capture cut short) and writes
// its summary: a later packet on its 4-tuple starts a new connection.
const (
	flowIdle = 10 * time.Second
	connIdle = 10 * time.Minute
	maxLive  = 1 << 15 // live connections beyond which the longest idle are given up
)

// Stream decodes and annotates a capture as it is read, in bounded memory:
// the frames and the recorded events (calls, kernel states, notes) go in,
// in capture order; the annotated timeline comes out, in time order, as
// Annotate would make it of the whole capture, through the function given
// to NewStream.
//
// It holds back a window of events. Once it holds twice the window, it
// annotates the older half as one piece, cut where no recorded call waits
// for a packet still held back (and always between two instants), and
// hands it on. The state of each connection (its analysis, its summary, its
// narration) carries from piece to piece; a connection is forgotten once it
// finished (both ends CLOSED or TIME_WAIT) and none of its packets is held
// back, or after it was idle for long (UDP flows after 10 s, unfinished TCP
// connections after 10 min or when more than 32768 are open). So:
//   - a capture of at most Window events comes out exactly as Annotate
//     makes it;
//   - in a longer one, a packet arriving after its connection was
//     forgotten (a retransmitted FIN long after the close) starts a new
//     connection, and a call whose packets are more than a window later
//     than the call is not tied to them (ForcedCuts counts such cuts).
//
// A Stream is not safe for concurrent use.
type Stream struct {
	a         *annotator
	d         *Decoder
	emit      func(trace.Event) error
	frameEmit func(*trace.Call, []trace.Event) error // StreamOptions.EmitFrame
	window    int

	buf      []trace.Event
	recorded []bool // buf[i] is a recorded event (it goes after decoded ones of the same time)
	frames   int
	err      error

	forced int
	last   map[int]int // connection → index in buf of its last event, during a cut

	// Eager annotation (eager.go), once the first window held no
	// recorded event.
	eager, sawRecorded bool
	held               []trace.Event // summaries waiting for a later instant
	sweepAt            time.Time     // when to look for idle connections next
	scratch            []trace.Event
	one                [1]*connInfo     // the connection an eager frame retires
	calls              slab[trace.Call] // inferred calls
	ints               slab[int]        // their Frames
	annotate           func(eagerItem)  // s.annotateEager, made once

	pipelined bool
	pipe      *annotatePipe   // while an eager stream annotates on its own goroutine
	pipePass  func(eagerItem) // pipe.pass
}

// NewStream returns a stream that hands each annotated event to emit. An
// error from emit stops the stream: every later call returns it.
func NewStream(opts StreamOptions, emit func(trace.Event) error) *Stream {
	w := opts.Window
	if w <= 0 {
		w = DefaultWindow
	}
	s := &Stream{
		a: newAnnotator(opts.AnnotateOptions), d: NewDecoder(), emit: emit, frameEmit: opts.EmitFrame, window: w, last: map[int]int{},
		// setInferred writes every field of a call, and its one frame: a
		// slab of them needs no zeroing before it is carved again.
		calls: slab[trace.Call]{size: slabLen}, ints: slab[int]{size: slabLen},
		pipelined: opts.Pipelined,
	}
	s.annotate = s.annotateEager
	return s
}

// Frames is the number of frames fed so far.
func (s *Stream) Frames() int { return s.frames }

// ForcedCuts is how many times the stream had to cut a piece while a
// recorded call still waited for packets held back: the calls near such a
// cut may lack some of their frames.
func (s *Stream) ForcedCuts() int { return s.forced }

// Frame decodes the next frame of the capture (its number is one more than
// the last one's).
func (s *Stream) Frame(f *trace.Frame) error {
	if s.pipe != nil {
		if err := s.pipe.failure(); err != nil {
			return err
		}
		s.frames++
		s.decodeEager(f, s.pipePass)
		return nil
	}
	if s.err != nil {
		return s.err
	}
	s.frames++
	if s.eager {
		if s.pipelined {
			s.startPipe()
			s.decodeEager(f, s.pipePass)
			return nil
		}
		s.decodeEager(f, s.annotate)
		return s.err
	}
	for _, ev := range s.d.Feed(f, s.frames) {
		s.insert(ev, false)
	}
	return s.maybeCut()
}

// Record adds an event the program recorded (a call, a kernel state, a
// note). Events of equal time go after the decoded ones, in the order
// recorded, as in a trace.Timeline that got the frames' events first.
func (s *Stream) Record(ev trace.Event) error {
	if s.pipe != nil {
		s.stopPipe()
	}
	if s.err != nil {
		return s.err
	}
	s.sawRecorded = true
	if s.eager {
		// A record after a window without any: back to the window, from
		// here on (nothing before it can be tied to it any more).
		s.emitHeld()
		s.eager = false
	}
	s.insert(ev, true)
	return s.maybeCut()
}

// Close annotates and hands on everything held back, and writes every
// remaining connection's summary.
func (s *Stream) Close() error {
	if s.pipe != nil {
		s.stopPipe()
	}
	if s.err != nil {
		return s.err
	}
	if s.eager {
		all := s.a.sortedConns()
		s.retire(all)
		for _, ci := range all {
			s.d.Forget(ci.id)
		}
		s.emitHeld()
		return s.err
	}
	s.flush(len(s.buf), true)
	return s.err
}

// insert puts ev into the buffer in time order: after the events of the
// same time, except that a decoded event goes before recorded ones.
func (s *Stream) insert(ev trace.Event, recorded bool) {
	at := ev.Time()
	i := len(s.buf)
	for i > 0 {
		t := s.buf[i-1].Time()
		if t.After(at) || !recorded && s.recorded[i-1] && t.Equal(at) {
			i--
			continue
		}
		break
	}
	if len(s.buf) == cap(s.buf) {
		s.grow()
	}
	s.buf = append(s.buf, trace.Event{})
	s.recorded = append(s.recorded, false)
	copy(s.buf[i+1:], s.buf[i:])
	copy(s.recorded[i+1:], s.recorded[i:])
	s.buf[i], s.recorded[i] = ev, recorded
}

// grow doubles the buffer's room, and once it is half a cut's worth,
// makes room for a cut's worth (two windows and a frame's events) at once:
// append grows a long slice by a quarter at a time, which allocated five
// times the final buffer.
func (s *Stream) grow() {
	full := 2*s.window + 16
	n := max(2*cap(s.buf), 256)
	if n > full/2 {
		n = max(full, cap(s.buf)+256)
	}
	buf := make([]trace.Event, len(s.buf), n)
	copy(buf, s.buf)
	rec := make([]bool, len(s.recorded), n)
	copy(rec, s.recorded)
	s.buf, s.recorded = buf, rec
}

func (s *Stream) maybeCut() error {
	if len(s.buf) < 2*s.window {
		return nil
	}
	if !s.sawRecorded && !s.a.anyCalls {
		// Nothing to tie: annotate the rest frame by frame.
		s.flush(len(s.buf), false)
		s.a.endPiece()
		// From here on no piece holds a connection's records after it is
		// forgotten: they may serve the next ones.
		s.a.conns.reuse, s.a.analysis.reuse = true, true
		s.buf, s.recorded = nil, nil
		s.eager, s.sweepAt = true, time.Time{}
		return s.err
	}
	i := s.cutPoint()
	if i > 0 {
		s.flush(i, false)
	}
	return s.err
}

// cutPoint chooses how many events of the buffer to annotate now: about a
// window, leaving a window behind, cut between two instants and where no
// call waits for a held-back packet (if there is such a place in the older
// three quarters of the buffer).
func (s *Stream) cutPoint() int {
	n := len(s.buf)
	clear(s.last)
	hasCalls := s.a.anyCalls
	for i := range s.buf {
		if p := s.buf[i].Packet; p != nil && p.Conn != 0 {
			s.last[p.Conn] = i
		} else if c := s.buf[i].Call; c != nil && c.Inferred == "" {
			hasCalls = true
		}
	}
	// The packets of each 4-tuple (and, for sockets bound to the wildcard
	// address, of each port), by index: a call belongs to the connection
	// of the first packet on its tuple after it (or the last before).
	var byTuple map[flowKey][]int
	var byPort map[uint16][]int
	if hasCalls {
		byTuple, byPort = map[flowKey][]int{}, map[uint16][]int{}
		for i := range s.buf {
			if p := s.buf[i].Packet; p != nil && p.Conn != 0 {
				k := keyOf(p.Proto == "tcp", p.Src, p.Dst)
				byTuple[k] = append(byTuple[k], i)
				byPort[p.Src.Port()] = append(byPort[p.Src.Port()], i)
				if p.Dst.Port() != p.Src.Port() {
					byPort[p.Dst.Port()] = append(byPort[p.Dst.Port()], i)
				}
			}
		}
	}
	connEnd := func(j int, c *trace.Call) int {
		var idx []int
		if c.Local.Addr().IsUnspecified() || !c.Local.Addr().IsValid() {
			idx = byPort[c.Local.Port()]
		} else {
			idx = byTuple[keyOf(c.Proto != "udp", c.Local, c.Remote)]
		}
		if len(idx) == 0 {
			return 0
		}
		k := sort.SearchInts(idx, j)
		if k == len(idx) {
			k--
		}
		return s.last[s.buf[idx[k]].Packet.Conn] + 1
	}
	// need is the smallest cut that keeps every call seen so far together
	// with its connection's packets and its return.
	need := 0
	best, fallback := 0, 0
	for i := 1; i < n; i++ {
		if c := s.buf[i-1].Call; c != nil && c.Inferred == "" && c.Remote.IsValid() {
			need = max(need, connEnd(i-1, c))
			if !c.End.IsZero() {
				for need < n && !s.buf[need].Time().After(c.End) && need < i+s.window {
					need++
				}
			}
		}
		if i > n-s.window {
			break
		}
		if !s.buf[i-1].Time().Before(s.buf[i].Time()) {
			continue // not between two instants
		}
		if i >= n/4 {
			fallback = i
		}
		if need <= i {
			best = i
		}
	}
	if best >= n/4 {
		return best
	}
	if fallback == 0 {
		// One instant fills the buffer: cut anyway, at the window.
		return n - s.window
	}
	s.forced++
	return fallback
}

// flush annotates buf[:n] as one piece and hands it on; with all, every
// connection is retired.
func (s *Stream) flush(n int, all bool) {
	piece := s.buf[:n:n]
	var cutTime time.Time
	if n < len(s.buf) {
		cutTime = s.buf[n].Time()
	}
	if !all && len(s.last) == 0 {
		for i := range s.buf {
			if p := s.buf[i].Packet; p != nil && p.Conn != 0 {
				s.last[p.Conn] = i
			}
		}
	}
	live := s.a.conns.len()
	retire := func(ci *connInfo) bool {
		if all {
			return true
		}
		if l, ok := s.last[ci.id]; ok && l >= n {
			return false // packets held back
		}
		switch {
		case ci.proto == "tcp" && s.d.Finished(ci.id):
			return true
		case ci.proto != "tcp" && cutTime.Sub(ci.last) >= flowIdle:
			return true
		case cutTime.Sub(ci.last) >= connIdle:
			return true
		case live > maxLive && cutTime.Sub(ci.last) >= time.Second:
			live--
			return true
		}
		return false
	}
	out, retired := s.a.chunk(piece, retire)
	for i := range out {
		if err := s.emit(out[i]); err != nil {
			s.err = err
			break
		}
	}
	s.a.forget(retired)
	for _, ci := range retired {
		s.d.Forget(ci.id)
	}
	// Drop the piece; keep the rest.
	rest := copy(s.buf, s.buf[n:])
	clear(s.buf[rest:])
	s.buf = s.buf[:rest]
	copy(s.recorded, s.recorded[n:])
	s.recorded = s.recorded[:rest]
	clear(s.last)
}
