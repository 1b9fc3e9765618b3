package ui

import (
	"time"

	"github.com/sockscope/sockscope/trace"
)

// indexView is a snapshot of an Index: its first n rows. The records of
// those rows never change; what the producer still changes (connections,
// the tables) is read under the index's lock.
type indexView struct {
	x     *Index
	n     int
	start time.Time
	pos   []int32 // lane id → position in the ladder's lanes
}

// snapshot is a view of the rows added so far. The lanes are copied (in
// display order) only when they changed.
func (x *Index) snapshot() *view {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.snapLadder == nil || x.snapRev != x.laneRev {
		lanes, pos := x.laneOrder()
		x.snapLadder = &Ladder{Lanes: lanes, Start: x.start}
		x.snapPos, x.snapRev = pos, x.laneRev
	}
	if x.snapLadder.Start != x.start {
		l := *x.snapLadder
		l.Start = x.start
		x.snapLadder = &l
	}
	return &view{ladder: x.snapLadder, ix: &indexView{x: x, n: x.n, start: x.start, pos: x.snapPos}}
}

func (iv *indexView) lanePos(id int32) int {
	if id < 0 || int(id) >= len(iv.pos) {
		return -1
	}
	return int(iv.pos[id])
}

func (iv *indexView) rowTime(k int) time.Time {
	iv.x.mu.RLock()
	defer iv.x.mu.RUnlock()
	return time.Unix(0, iv.x.at(k).t)
}

func (iv *indexView) place(k int) (kind RowKind, lane, from, to, conn int) {
	iv.x.mu.RLock()
	defer iv.x.mu.RUnlock()
	return iv.placeLocked(k)
}

func (iv *indexView) placeLocked(k int) (kind RowKind, lane, from, to, conn int) {
	x := iv.x
	r := x.at(k)
	lane, from, to = -1, -1, -1
	switch r.kind {
	case kPacket:
		return RowPacket, -1, iv.lanePos(x.laneOf(r.a, r.b)), iv.lanePos(x.laneOf(r.b, r.a)), int(r.conn)
	case kInferred:
		conn = 0
		if p := x.rowOfFrame(int(r.frame)); p >= 0 && p < iv.n {
			conn = int(x.at(p).conn)
		}
		return RowCall, iv.lanePos(x.laneOfEndpoint(r.a)), -1, -1, conn
	case kNote:
		return RowNote, -1, -1, -1, int(r.conn)
	}
	e := &x.extras[r.a]
	conn = int(r.conn)
	if conn < 0 {
		conn = x.callConnLocked(e.ev.Call)
	}
	return e.row.Kind, iv.lanePos(int32(e.row.Lane)), iv.lanePos(int32(e.row.From)), iv.lanePos(int32(e.row.To)), conn
}

func (x *Index) callConnLocked(c *trace.Call) int {
	if c == nil || !c.Remote.IsValid() || !c.Local.IsValid() {
		return 0
	}
	l, ok1 := x.epID[c.Local]
	r, ok2 := x.epID[c.Remote]
	if !ok1 || !ok2 {
		return 0
	}
	return int(x.pairConn[[2]int32{l, r}])
}

// materialize renders row k and its event.
func (iv *indexView) materialize(k int) (*Row, *trace.Event) {
	iv.x.mu.RLock()
	defer iv.x.mu.RUnlock()
	return iv.materializeLocked(k)
}

func (iv *indexView) materializeLocked(k int) (*Row, *trace.Event) {
	x := iv.x
	r := x.at(k)
	t := time.Unix(0, r.t)
	switch r.kind {
	case kPacket:
		p := &trace.Packet{Frame: int(r.frame), Time: t, Proto: protoCodes[r.proto], Src: x.eps[r.a], Dst: x.eps[r.b],
			Flags: x.flags[r.flags], RSeq: r.rseq, RAck: r.rack, Win: int(r.win), Len: int(r.plen), Conn: int(r.conn), By: byCodes[r.by]}
		for b := range analysisBits {
			if r.anal&(1<<b) != 0 {
				p.Analysis = append(p.Analysis, analysisBits[b])
			}
		}
		row := &Row{Kind: RowPacket, Time: t, Event: k, Lane: -1, From: iv.lanePos(x.laneOf(r.a, r.b)), To: iv.lanePos(x.laneOf(r.b, r.a)), Text: PacketLabel(p)}
		if p.Proto == "tcp" {
			row.FromState, row.ToState = stateCodes[r.st>>4], stateCodes[r.st&15]
		}
		ev := trace.PacketEvent(p)
		return row, &ev
	case kInferred:
		c := &trace.Call{Proto: "tcp", Local: x.eps[r.a], Remote: x.eps[r.b], Start: t, Inferred: inferredKinds[r.flags], Frames: []int{int(r.frame)}}
		switch c.Inferred {
		case trace.InferredConnect:
			c.Op = trace.OpConnect
		case trace.InferredListen:
			c.Op = trace.OpListen
		default:
			c.Op = trace.OpClose
		}
		ev := trace.CallEvent(c)
		return &Row{Kind: RowCall, Time: t, Event: k, Lane: iv.lanePos(x.laneOfEndpoint(r.a)), From: -1, To: -1, Text: callText(c, false)}, &ev
	case kNote:
		slab := x.texts[r.texts]
		n := &trace.Note{Time: t, Level: noteLevels[r.flags], Text: string(slab[r.a : r.a+r.b]), Conn: int(r.conn)}
		if n.Conn != 0 {
			n.Topic = trace.TopicSummary
		}
		ev := trace.NoteEvent(n)
		if r.by == 1 {
			ev.Explain = n.Text
		}
		return &Row{Kind: RowNote, Time: t, Event: k, Lane: -1, From: -1, To: -1, Text: noteText(n)}, &ev
	}
	e := &x.extras[r.a]
	row := e.row
	row.Event = k
	row.Lane, row.From, row.To = iv.lanePos(int32(row.Lane)), iv.lanePos(int32(row.From)), iv.lanePos(int32(row.To))
	ev := e.ev
	return &row, &ev
}

func (iv *indexView) rowOfFrame(f int) int {
	iv.x.mu.RLock()
	defer iv.x.mu.RUnlock()
	r := iv.x.rowOfFrame(f)
	if r >= iv.n {
		return -1
	}
	return r
}

func (iv *indexView) call(id int) *trace.Call {
	iv.x.mu.RLock()
	defer iv.x.mu.RUnlock()
	if i, ok := iv.x.calls[id]; ok {
		return iv.x.extras[i].ev.Call
	}
	return nil
}

func (iv *indexView) connCount() int {
	iv.x.mu.RLock()
	defer iv.x.mu.RUnlock()
	return len(iv.x.conns)
}

func (iv *indexView) conn(id int) connInfo {
	iv.x.mu.RLock()
	defer iv.x.mu.RUnlock()
	return iv.x.conns[id-1].info(id, iv.x.eps)
}

// stateHistory rebuilds one end's state changes from the rows of its
// connection: each packet row holds both ends' states after it; kernel
// states are kept whole.
func (iv *indexView) stateHistory(conn int, ep trace.Endpoint) []*trace.StateChange {
	x := iv.x
	x.mu.RLock()
	defer x.mu.RUnlock()
	if conn <= 0 || conn > len(x.conns) {
		return nil
	}
	first := int(x.conns[conn-1].row)
	if first < 0 {
		return nil
	}
	epID, ok := x.epID[ep]
	if !ok {
		return nil
	}
	last := x.conns[conn-1].last
	var hist []*trace.StateChange
	cur := trace.StateUnknown
	change := func(t time.Time, to trace.State, src trace.Source) {
		if to == cur || to == trace.StateUnknown && src == trace.SourceInferred {
			return
		}
		hist = append(hist, &trace.StateChange{Time: t, Endpoint: ep, Conn: conn, From: cur, To: to, Source: src})
		cur = to
	}
	// Kernel states may come after the last packet.
	if ks := x.kstates[conn]; len(ks) > 0 {
		last = max(last, x.extras[ks[len(ks)-1]].row.Time.UnixNano())
	}
	for k := first; k < iv.n; k++ {
		r := x.at(k)
		if r.t > last {
			break
		}
		switch r.kind {
		case kPacket:
			if int(r.conn) != conn {
				continue
			}
			switch epID {
			case r.a:
				change(time.Unix(0, r.t), stateCodes[r.st>>4], trace.SourceInferred)
			case r.b:
				change(time.Unix(0, r.t), stateCodes[r.st&15], trace.SourceInferred)
			}
		case kExtra:
			e := &x.extras[r.a]
			switch {
			case e.ev.Packet != nil && e.ev.Packet.Conn == conn:
				p := e.ev.Packet
				if p.Src == ep {
					change(p.Time, e.row.FromState, trace.SourceInferred)
				} else if p.Dst == ep {
					change(p.Time, e.row.ToState, trace.SourceInferred)
				}
			case e.ev.State != nil && e.ev.State.Conn == conn && e.ev.State.Endpoint == ep:
				s := e.ev.State
				hist = append(hist, s)
				cur = s.To
			}
		}
	}
	return hist
}
