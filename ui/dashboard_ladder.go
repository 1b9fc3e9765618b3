package ui

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sockscope/sockscope/trace"
)

// ladderGeom places a ladder's lanes in a pane of a given width, as the
// text ladder does: the time, then one column per lane, arrows between.
type ladderGeom struct {
	w     int
	flat  bool // too many lanes for the width: one "src → dst" line per row
	lanes int
	gap   int
}

const (
	dashTimeW  = 10 // "  0.000804"
	dashLaneW  = 13 // "ESTABLISHED" and a margin
	dashMinGap = 18 // room for "S seq=0 win=65495"
)

func newLadderGeom(w, lanes int) ladderGeom {
	g := ladderGeom{w: w, lanes: lanes}
	if lanes < 2 {
		g.flat = lanes == 0
		g.gap = 0
		return g
	}
	// Leave room on the right for the last lane's state and call text.
	free := w - (dashTimeW + 1) - lanes*dashLaneW - 2
	g.gap = free / (lanes - 1)
	if g.gap < dashMinGap {
		g.flat = true
	}
	return g
}

func (g ladderGeom) laneX(i int) int { return dashTimeW + 1 + i*(dashLaneW+g.gap) }

// textX is where a lane's text starts: at its column, or further left so
// that it fits in the pane (the server's lane is the last one).
func (g ladderGeom) textX(lane int, s string) int {
	x := g.laneX(lane)
	if n := utf8.RuneCountInString(s); x+n > g.w {
		x = max(dashTimeW+1, g.w-n)
	}
	return x
}

// heading is the line naming the lanes.
func (g ladderGeom) heading(c *cells, l *Ladder) {
	c.reset(g.w)
	c.put(0, padLeft("rel (s)", dashTimeW), stTitle)
	if g.flat {
		if len(l.Lanes) > 4 {
			c.put(dashTimeW+2, fmt.Sprintf("%d endpoints: one line per event, sender → receiver (c shows one connection)", len(l.Lanes)), stTitle)
			return
		}
		var names []string
		for _, ln := range l.Lanes {
			names = append(names, ln.Label())
		}
		c.put(dashTimeW+2, strings.Join(names, " · "), stTitle)
		return
	}
	for i, ln := range l.Lanes {
		c.put(g.textX(i, ln.Label()), ln.Label(), stTitle)
	}
}

// row composes one ladder row.
func (g ladderGeom) row(c *cells, l *Ladder, r *Row, ev *trace.Event) {
	c.reset(g.w)
	c.put(0, padLeft(fmt.Sprintf("%.6f", r.Time.Sub(l.Start).Seconds()), dashTimeW), stTime)
	switch r.Kind {
	case RowNote:
		kind := stNormal
		switch ev.Note.Level {
		case "warning":
			kind = stWarn
		case "error":
			kind = stErr
		}
		c.put(dashTimeW+2, "── "+r.Text, kind)
		return
	case RowPacket:
		g.arrow(c, l, r, packetStyle(ev.Packet))
		return
	}
	kind := stCall
	switch {
	case r.Kind == RowState:
		kind = stateStyle(ev.State.To)
	case ev.Call != nil && ev.Call.Errno != "" && (r.Kind == RowReturn || !strings.HasSuffix(r.Text, " …")):
		kind = stCallErr
	}
	text := r.Text
	if g.flat || r.Lane < 0 {
		name := "?"
		if r.Lane >= 0 && r.Lane < len(l.Lanes) {
			name = l.Lanes[r.Lane].Name
		}
		c.put(dashTimeW+2, name+": "+text, kind)
		return
	}
	x := g.textX(r.Lane, text)
	c.put(x, truncate(text, g.w-x), kind)
}

// arrow draws a packet from its sender's lane to its receiver's, its label
// on the shaft and each end's state beside it.
func (g ladderGeom) arrow(c *cells, l *Ladder, r *Row, kind styleKind) {
	from, to := r.From, r.To
	if g.flat || from < 0 || to < 0 || from == to || from >= g.lanes || to >= g.lanes {
		name := func(i int) string {
			if i < 0 || i >= len(l.Lanes) {
				return "?"
			}
			if len(l.Lanes) > 2 {
				return l.Lanes[i].Label()
			}
			return l.Lanes[i].Name
		}
		x := dashTimeW + 2
		c.put(x, name(from)+" → "+name(to)+" ", stNormal)
		x += utf8.RuneCountInString(name(from) + " → " + name(to) + " ")
		c.put(x, r.Text, kind)
		x += utf8.RuneCountInString(r.Text)
		if r.FromState != "" || r.ToState != "" {
			c.put(x, fmt.Sprintf("  [%s | %s]", stateName(r.FromState), stateName(r.ToState)), stNormal)
		}
		return
	}
	left, right := min(from, to), max(from, to)
	x0 := g.laneX(left) + dashLaneW
	x1 := g.laneX(right) - 1
	shaft := x1 - x0
	label := truncate(r.Text, shaft-5)
	n := utf8.RuneCountInString(label)
	rest := max(0, shaft-n-4)
	if from < to {
		c.put(x0, "── ", stNormal)
		c.put(x0+3, label, kind)
		c.put(x0+3+n, " "+strings.Repeat("─", rest)+"▶", stNormal)
	} else {
		c.put(x0, "◀─ ", stNormal)
		c.put(x0+3, label, kind)
		c.put(x0+3+n, " "+strings.Repeat("─", rest)+"─", stNormal)
	}
	leftState, rightState := r.FromState, r.ToState
	if from > to {
		leftState, rightState = r.ToState, r.FromState
	}
	if leftState != "" {
		c.put(x0-1-utf8.RuneCountInString(string(leftState)), string(leftState), stateStyle(leftState))
	}
	if rightState != "" {
		c.put(x1+2, string(rightState), stateStyle(rightState))
	}
}

// rowLine is a row as plain text (for find and tests).
func rowSearchText(l *Ladder, r *Row) string {
	s := r.Text
	if r.Kind == RowPacket {
		for _, i := range []int{r.From, r.To} {
			if i >= 0 && i < len(l.Lanes) {
				s += " " + l.Lanes[i].Name
			}
		}
		s += " " + string(r.FromState) + " " + string(r.ToState)
	} else if r.Lane >= 0 && r.Lane < len(l.Lanes) {
		s += " " + l.Lanes[r.Lane].Name
	}
	return s
}

// stateOfPacketEnd is a helper for tests and the detail pane: the states a
// packet row shows, as "SYN_SENT → ?" text.
func packetStates(r *Row) string {
	if r.FromState == trace.StateUnknown && r.ToState == trace.StateUnknown {
		return ""
	}
	return fmt.Sprintf("sender %s, receiver %s", stateName(r.FromState), stateName(r.ToState))
}
