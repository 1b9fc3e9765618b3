package decode

import (
	"time"

	"github.com/sockscope/sockscope/trace"
)

// Eager annotation: a Stream over a capture that holds no recorded event
// (a capture made by another tool, the common case for a big file) has
// nothing to tie, so once its first window showed no recorded event it
// annotates each frame as it is fed and hands it on at once, with none of
// the window's sorting and copying. The work per frame is the window's
// work for one packet: its connection, its analysis flags, the call it
// implies, its share of the summary, its narration.
//
// What differs from the windowed annotation, and from Annotate: a TCP
// connection's summary still comes right after its last packet's
// instant, but a UDP flow's, or that of a connection that did not finish,
// comes when the stream gives up on it (idle for flowIdle or connIdle,
// too many open, or the end), not at its last packet.

// sweepEvery is how much capture time passes between two looks for
// connections to give up on.
const sweepEvery = time.Second

// eagerItem is what the decoding side of an eager stream passes to the
// annotating side for one frame: the frame's events, or the connections
// it gave up on before the frame (a sweep).
type eagerItem struct {
	evs      []trace.Event // the frame's packet, then the state changes it caused
	finished bool          // the frame finished its TCP connection: retire it after
	sweep    []int         // connections given up before the frame
}

// decodeEager is the decoding side of an eager frame: the connections
// given up before it, its events, and whether it finished its connection.
// The decoder forgets such connections at once; the annotating side, given
// the items in order, writes their summaries and forgets them too.
func (s *Stream) decodeEager(f *trace.Frame, pass func(eagerItem)) {
	if ids := s.maybeSweep(f.Time); len(ids) > 0 {
		pass(eagerItem{sweep: ids})
	}
	evs := s.d.Feed(f, s.frames)
	conn := evs[0].Packet.Conn
	finished := conn != 0 && s.d.Finished(conn)
	if finished {
		s.d.Forget(conn)
	}
	pass(eagerItem{evs: evs, finished: finished})
}

// annotateEager is the annotating side of an eager stream: it annotates
// and hands on one item. It sets s.err on an error of emit.
func (s *Stream) annotateEager(it eagerItem) {
	if s.err != nil {
		return
	}
	if it.sweep != nil {
		done := make([]*connInfo, 0, len(it.sweep))
		for _, id := range it.sweep {
			if ci := s.a.conns.get(id); ci != nil {
				done = append(done, ci)
			}
		}
		// Their summaries go out now, before this frame: their last
		// packets are a second old or more.
		keep := s.held
		s.held = nil
		s.retire(done)
		s.emitHeld()
		s.held = keep
		return
	}
	ci, err := s.eagerFrame(it.evs)
	if err != nil {
		s.err = err
		return
	}
	if it.finished && ci != nil {
		s.one[0] = ci
		s.retire(s.one[:])
	}
}

// eagerFrame annotates the events of one frame (its packet, then the
// state changes it caused) and hands them on, each inferred call before
// its packet. It returns the packet's connection.
func (s *Stream) eagerFrame(evs []trace.Event) (*connInfo, error) {
	p := evs[0].Packet
	if len(s.held) > 0 && p.Time.After(s.held[0].Note.Time) {
		s.emitHeld()
	}
	a := s.a
	ci := a.register(p)
	analyzePacket(p, &a.analysis)
	if ci != nil {
		ci.count(p)
		for _, ev := range evs[1:] {
			if st := ev.State; st.To == trace.StateClosing && (st.Endpoint == ci.client || st.Endpoint == ci.server) {
				ci.sum.closing = true
			}
		}
	}
	a.countUnreachable(p)

	var call *trace.Call
	if a.infer {
		if what := inferredOp(p); what != "" {
			call = s.calls.one(p.Frame)
			setInferred(call, p, what, s.ints.carve(1, p.Frame))
			call.Frames[0] = p.Frame
		}
	}
	return ci, s.emitFrame(call, evs)
}

// emitFrame emits a frame's events, after the call inferred from it if
// there is one, narrated unless the stream narrates nothing.
func (s *Stream) emitFrame(call *trace.Call, evs []trace.Event) error {
	a := s.a
	if a.noExplain { // as they are: no copy
		if s.frameEmit != nil {
			return s.frameEmit(call, evs)
		}
		if call != nil {
			if err := s.emit(trace.CallEvent(call)); err != nil {
				return err
			}
		}
		for _, ev := range evs {
			if err := s.emit(ev); err != nil {
				return err
			}
		}
		return nil
	}
	out := s.scratch[:0]
	if call != nil {
		out = append(out, trace.CallEvent(call))
	}
	out = append(out, evs...)
	p := evs[0].Packet
	a.byFrame[p.Frame] = p // for the inferred call's narration
	a.narrateAll(out)
	delete(a.byFrame, p.Frame)
	s.scratch = out
	for _, ev := range out {
		if err := s.emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// maybeSweep gives up on the connections idle for long at time t, as a
// cut of the window does: a later packet on the tuple of one starts a new
// connection. It looks once per sweepEvery of capture time, and more often
// when too many connections are open. The decoder forgets them; it returns
// their ids, for the annotating side.
func (s *Stream) maybeSweep(t time.Time) []int {
	if t.Before(s.sweepAt) && (s.d.live <= maxLive || s.frames%4096 != 0) {
		return nil
	}
	s.sweepAt = t.Add(sweepEvery)
	ids := s.d.idleConns(t)
	for _, id := range ids {
		s.d.Forget(id)
	}
	return ids
}

// retire writes the summaries of conns and forgets them (the decoder
// forgets them on its side). The summaries wait in held for an event of a
// later time, as Annotate puts a note after every event of its instant.
func (s *Stream) retire(conns []*connInfo) {
	n := len(s.held)
	s.held = s.a.appendSummaries(s.held, conns)
	if !s.a.noExplain {
		for i := n; i < len(s.held); i++ {
			s.held[i].Explain = s.a.narr.note(s.held[i].Note)
		}
	}
	s.a.forget(conns)
}

// Release tells the stream that the caller holds no record of the events
// of frames numbered up to frame any more (packets, state changes,
// inferred calls, and what they point to): their memory may be used again.
// Only an eager stream that narrates nothing uses it (the narration keeps
// earlier packets of a connection); without it, nothing emitted is ever
// written again.
func (s *Stream) Release(frame int) {
	if s.eager && s.a.noExplain {
		s.d.Release(frame)
		if s.pipe != nil { // the annotating side carves these
			s.pipe.released.Store(int64(frame))
			return
		}
		s.calls.release(frame)
		s.ints.release(frame)
	}
}

// emitHeld hands on the summaries held back.
func (s *Stream) emitHeld() {
	for i, ev := range s.held {
		if s.err == nil {
			s.err = s.emit(ev)
		}
		s.held[i] = trace.Event{}
	}
	s.held = s.held[:0]
}
