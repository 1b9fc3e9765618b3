package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/sockscope/sockscope/trace"
)

type rect struct{ x, y, w, h int }

func (r rect) has(x, y int) bool { return x >= r.x && x < r.x+r.w && y >= r.y && y < r.y+r.h }

// layoutRects is where everything goes on a screen of a given size.
type layoutRects struct {
	w, h   int
	wide   bool
	header rect
	prompt rect // the step prompt, when a call waits
	ladder rect // with its lane heading as first line
	panes  [numPanes]rect
	footer rect
}

func (l layoutRects) paneAt(x, y int) pane {
	if l.ladder.has(x, y) {
		return paneLadder
	}
	for p := paneDetail; p < numPanes; p++ {
		if l.panes[p].has(x, y) {
			return p
		}
	}
	return -1
}

// wideFrom is the width from which the side panes stand beside the ladder.
const wideFrom = 110

func computeLayout(w, h int, prompt bool, tab pane) layoutRects {
	l := layoutRects{w: w, h: h}
	l.header = rect{0, 0, w, 1}
	y := 1
	if prompt {
		l.prompt = rect{0, 1, w, 1}
		y = 2
	}
	l.footer = rect{0, h - 1, w, 1}
	body := max(0, h-1-y)
	l.wide = w >= wideFrom && body >= 16
	if l.wide {
		side := min(64, max(44, w/3))
		l.ladder = rect{0, y, w - side - 1, body}
		x := w - side
		states := min(12, max(5, body/3))
		code := max(4, (body-states)*2/5)
		detail := body - states - code
		l.panes[paneDetail] = rect{x, y, side, detail}
		l.panes[paneCode] = rect{x, y + detail, side, code}
		l.panes[paneStates] = rect{x, y + detail + code, side, states}
		return l
	}
	lad := max(3, body*11/20)
	l.ladder = rect{0, y, w, lad}
	l.panes[tab] = rect{0, y + lad, w, body - lad}
	return l
}

func (d *dashboard) draw(scr tcell.Screen) {
	w, h := scr.Size()
	scr.Clear()
	if w < 20 || h < 6 {
		drawText(scr, 0, 0, w, "sockscope: window too small", d.theme[stBold])
		return
	}
	d.rects = computeLayout(w, h, d.step != nil, d.tab)
	d.drawHeader(scr)
	if d.step != nil {
		d.drawPrompt(scr)
	}
	d.drawLadder(scr)
	k := -1
	if d.count() > 0 {
		k = d.rowAt(d.sel)
	}
	for p := paneDetail; p < numPanes; p++ {
		r := d.rects.panes[p]
		if r.h <= 0 {
			continue
		}
		d.drawPane(scr, p, r, k)
	}
	if d.rects.wide {
		x := d.rects.ladder.x + d.rects.ladder.w
		for y := d.rects.ladder.y; y < d.rects.ladder.y+d.rects.ladder.h; y++ {
			scr.Put(x, y, "│", d.theme[stDim])
		}
	}
	d.drawFooter(scr)
	if d.picking {
		d.drawPicker(scr)
	}
	if d.help {
		d.drawHelp(scr)
	}
}

func (d *dashboard) drawHeader(scr tcell.Screen) {
	st := d.status
	now := d.now()
	var parts []string
	parts = append(parts, "sockscope", st.Source)
	if st.Where != "" {
		parts = append(parts, st.Where)
	}
	switch {
	case st.Live && !st.Started.IsZero():
		parts = append(parts, fmt.Sprintf("● running %.1f s", now.Sub(st.Started).Seconds()))
	case st.Live:
		parts = append(parts, "● reading")
	case !st.Started.IsZero() && !st.Ended.IsZero():
		parts = append(parts, fmt.Sprintf("done in %.1f s", st.Ended.Sub(st.Started).Seconds()))
	}
	capText := fmt.Sprintf("%d packets", st.Packets)
	if st.DropsKnown {
		capText += fmt.Sprintf(" · %d kernel drops", st.Dropped)
	}
	parts = append(parts, capText)
	if n := d.v.count(); n > 0 {
		span := d.v.rowTime(n - 1).Sub(d.v.ladder.Start)
		parts = append(parts, "span "+FormatDuration(span))
	}
	left := strings.Join(parts, " · ")
	kind := stTitleFoc
	if st.DropsKnown && st.Dropped > 0 {
		left += " · INCOMPLETE: the kernel dropped packets"
	}
	drawLine(scr, &d.theme, 0, 0, d.rects.w, txt(kind, " "+left), d.theme[kind], false)
	// Right: position, mode.
	var right []string
	if d.count() > 0 {
		right = append(right, fmt.Sprintf("row %d/%d", d.sel+1, d.count()))
	}
	if d.filter > 0 {
		right = append(right, fmt.Sprintf("conn %d only", d.filter))
	}
	switch {
	case d.playing:
		right = append(right, "▶ playing "+speedText(d.speed))
	case d.follow && st.Live:
		right = append(right, "following")
	}
	if s := strings.Join(right, " · ") + " "; width(left)+width(s)+3 < d.rects.w {
		drawText(scr, d.rects.w-width(s), 0, d.rects.w, s, d.theme[kind])
	}
}

func (d *dashboard) drawPrompt(scr tcell.Screen) {
	p := d.step
	s := fmt.Sprintf(" ⏸ STEP: %s is about to call %s()", p.Lane, p.Op)
	if p.Line > 0 {
		s += fmt.Sprintf(" (line %d)", p.Line)
	}
	s += " · press space or s to let it run "
	drawLine(scr, &d.theme, 0, d.rects.prompt.y, d.rects.w, txt(stPrompt, s), d.theme[stPrompt], false)
}

func (d *dashboard) drawLadder(scr tcell.Screen) {
	r := d.rects.ladder
	if r.h < 2 {
		return
	}
	l := d.v.ladder
	g := newLadderGeom(r.w, len(l.Lanes))
	var c cells
	g.heading(&c, l)
	d.drawCells(scr, r.x, r.y, &c, d.focus == paneLadder)
	rows := r.h - 1
	n := d.count()
	// Keep the selection on screen, with a margin when scrolling.
	if d.sel < d.top {
		d.top = d.sel
	}
	if d.sel >= d.top+rows {
		d.top = d.sel - rows + 1
	}
	d.top = max(0, min(d.top, max(0, n-rows)))
	if n == 0 {
		msg := "waiting for the first event…"
		if !d.status.Live {
			msg = "no events"
		}
		drawText(scr, r.x+2, r.y+1, r.x+r.w, msg, d.theme[stDim])
		return
	}
	for i := 0; i < rows && d.top+i < n; i++ {
		row, ev := d.v.rowAndEvent(d.rowAt(d.top + i))
		g.row(&c, l, row, ev)
		sel := d.top+i == d.sel
		d.drawRowCells(scr, r.x, r.y+1+i, &c, sel)
	}
}

// drawCells draws a heading line; focused headings are reversed.
func (d *dashboard) drawCells(scr tcell.Screen, x, y int, c *cells, focused bool) {
	for i, r := range c.r {
		st := d.theme[c.k[i]]
		if focused {
			st = d.theme[stTitleFoc]
		}
		scr.Put(x+i, y, string(r), st)
	}
}

func (d *dashboard) drawRowCells(scr tcell.Screen, x, y int, c *cells, selected bool) {
	for i, r := range c.r {
		st := d.theme[c.k[i]]
		if selected {
			st = st.Reverse(true).Bold(true)
		}
		scr.Put(x+i, y, string(r), st)
	}
	if selected && len(c.r) > 0 && c.r[0] == ' ' {
		scr.Put(x, y, "▶", d.theme[stBold].Reverse(true))
	}
}

// drawPane draws one side pane (detail, code, states) for row k.
func (d *dashboard) drawPane(scr tcell.Screen, p pane, r rect, k int) {
	title := paneNames[p]
	var lines []line
	cw := r.w - 1
	switch p {
	case paneDetail:
		// An index's rows never change as it grows: keep the detail of
		// the same row across its snapshots (it reads the file).
		var key any = d.v
		if d.v.ix != nil {
			key = d.v.ix.x
		}
		if d.detailKey.v != key || d.detailKey.k != k || d.detailKey.w != cw {
			d.detailCache = detailLines(d.v, k, cw, d.opts.Inspect)
			d.detailKey.v, d.detailKey.k, d.detailKey.w = key, k, cw
		}
		lines = d.detailCache
	case paneCode:
		if d.opts.Listing == "" {
			lines = []line{txt(stDim, "no program: a capture from elsewhere")}
			break
		}
		hl, c := callLineFor(d.v, k)
		if c != nil {
			title += fmt.Sprintf(" · line %d (%s)", hl, c.Lane)
		}
		lines = listingLines(d.opts.Listing, hl)
		if d.scroll[p] < 0 && hl > 0 { // center the highlighted line
			d.scroll[p] = max(0, hl-1-(r.h-1)/2)
		}
	case paneStates:
		lines = stateLines(d.v, k, d.stateClock(k))
		if k >= 0 && d.v.rowConn(k) > 0 {
			title += fmt.Sprintf(" · conn %d", d.v.rowConn(k))
		}
	}
	// Title: in the narrow layout, the tabs.
	var tl line
	focused := d.focus == p
	if d.rects.wide {
		kind := stTitle
		if focused {
			kind = stTitleFoc
		}
		tl = txt(kind, " "+title+" ")
	} else {
		for q := paneDetail; q < numPanes; q++ {
			name := paneNames[q]
			if q == p {
				name = title
			}
			kind := stDim
			if q == p {
				kind = stTitle
				if focused {
					kind = stTitleFoc
				}
				tl = append(tl, span{"[" + name + "]", kind}, span{" ", stNormal})
			} else {
				tl = append(tl, span{" " + name + " ", kind}, span{" ", stNormal})
			}
		}
		tl = append(tl, span{"  Tab switches", stDim})
	}
	drawLine(scr, &d.theme, r.x, r.y, r.w, tl, d.theme[stNormal], false)
	body := r.h - 1
	off := max(0, d.scroll[p])
	off = min(off, max(0, len(lines)-body))
	if d.scroll[p] >= 0 {
		d.scroll[p] = off
	}
	for i := 0; i < body && off+i < len(lines); i++ {
		drawLine(scr, &d.theme, r.x+1, r.y+1+i, cw, lines[off+i], d.theme[stNormal], false)
	}
	if len(lines) > body && body > 0 {
		more := fmt.Sprintf(" %d/%d ", min(off+body, len(lines)), len(lines))
		drawText(scr, r.x+r.w-width(more), r.y, r.x+r.w, more, d.theme[stDim])
	}
}

// stateClock is the instant the state pane's countdowns count from: now
// for the newest row of a live or just-finished run, the row's own time
// otherwise (a replay, or an older row).
func (d *dashboard) stateClock(k int) time.Time {
	if k < 0 || k >= d.v.count() {
		return d.now()
	}
	rt := d.v.rowTime(k)
	if !d.opts.Replay && d.sel >= d.count()-1 {
		if now := d.now(); now.After(rt) {
			return now
		}
	}
	return rt
}

func (d *dashboard) drawFooter(scr tcell.Screen) {
	y := d.rects.footer.y
	w := d.rects.w
	if d.finding {
		drawLine(scr, &d.theme, 0, y, w, line{{" find: ", stKey}, {string(d.query) + "█", stNormal}, {"   Enter finds the next row, Esc cancels", stDim}}, d.theme[stNormal], false)
		return
	}
	if d.typing {
		drawLine(scr, &d.theme, 0, y, w, line{{" you type: ", stKey}, {string(d.draft) + "█", stNormal}, {"   Enter sends it (Q quits the chat), Esc cancels", stDim}}, d.theme[stNormal], false)
		return
	}
	if d.message != "" {
		drawLine(scr, &d.theme, 0, y, w, txt(stWarn, " "+d.message), d.theme[stNormal], false)
		return
	}
	keys := [][2]string{{"?", "help"}, {"q", "quit"}, {"↑↓", "move"}, {"←→", "step"}, {"space", "play"}, {"/", "find"}, {"c", "conn"}, {"Tab", "pane"}, {"+-", "speed"}, {"Enter", "detail"}}
	if d.step != nil {
		keys = append([][2]string{{"space", "run the call"}}, keys[:4]...)
	}
	if d.opts.Input != nil && d.status.Live {
		keys = append([][2]string{{"i", "type a message"}}, keys...)
	}
	var l line
	used := 1
	l = append(l, span{" ", stNormal})
	for _, k := range keys {
		n := width(k[0]) + width(k[1]) + 3
		if used+n > w {
			break
		}
		l = append(l, span{k[0], stKey}, span{" " + k[1] + "  ", stNormal})
		used += n
	}
	drawLine(scr, &d.theme, 0, y, w, l, d.theme[stNormal], false)
}

// box draws a framed overlay and returns its inside.
func (d *dashboard) box(scr tcell.Screen, w, h int, title string) rect {
	W, H := d.rects.w, d.rects.h
	w, h = min(w, W-2), min(h, H-2)
	x, y := (W-w)/2, (H-h)/2
	st := d.theme[stNormal]
	for j := 0; j < h; j++ {
		for i := 0; i < w; i++ {
			ch := " "
			switch {
			case j == 0 && i == 0:
				ch = "┌"
			case j == 0 && i == w-1:
				ch = "┐"
			case j == h-1 && i == 0:
				ch = "└"
			case j == h-1 && i == w-1:
				ch = "┘"
			case j == 0 || j == h-1:
				ch = "─"
			case i == 0 || i == w-1:
				ch = "│"
			}
			scr.Put(x+i, y+j, ch, st)
		}
	}
	drawText(scr, x+2, y, x+w-2, " "+title+" ", d.theme[stTitle])
	return rect{x + 2, y + 1, w - 4, h - 2}
}

var helpLines = [][2]string{
	{"↑ ↓  j k", "select the previous / next row (in a side pane: scroll it)"},
	{"PgUp PgDn", "a page up / down"},
	{"Home End  g G", "the first / the last row (End follows a live run)"},
	{"← →  p n", "step back / forward one event"},
	{"space", "play / pause at the capture's own pace × speed"},
	{"+  -", "play faster / slower (waits over 2 s are cut short)"},
	{"space  s", "step mode: let the waiting socket call run"},
	{"Enter", "focus the detail pane (again: back to the ladder)"},
	{"Tab  Shift-Tab", "next / previous pane"},
	{"/", "find a row by its text (Enter again: next match)"},
	{"c", "show one connection only (Esc: all again)"},
	{"i", "chat: type a line for the program to send (Enter sends it)"},
	{"mouse", "click selects, the wheel scrolls"},
	{"?", "this help (any key closes it)"},
	{"q  Ctrl-C", "quit"},
	{"", ""},
	{"arrows", "S SYN, S. SYN-ACK, . ACK, P. data, F. FIN, R RST"},
	{"seq=1:6", "carries stream bytes 1–5; ack=6: all before 6 arrived"},
	{"colours", "grey SYN/FIN, red RST, violet TCP, blue UDP (as Wireshark)"},
}

func (d *dashboard) drawHelp(scr tcell.Screen) {
	in := d.box(scr, 78, len(helpLines)+4, "sockscope help: keys")
	for i, h := range helpLines {
		if i >= in.h-1 {
			break
		}
		drawLine(scr, &d.theme, in.x, in.y+i, in.w, line{{fmt.Sprintf("%-15s ", h[0]), stKey}, {h[1], stNormal}}, d.theme[stNormal], false)
	}
	drawText(scr, in.x, in.y+in.h-1, in.x+in.w, "press any key to close", d.theme[stDim])
}

func (d *dashboard) drawPicker(scr tcell.Screen) {
	n := d.v.connCount() + 1
	in := d.box(scr, 72, min(n, 20)+3, "show one connection (Enter, Esc)")
	first := max(0, min(d.pickSel-(in.h-2), n-(in.h-1)))
	for i := 0; i < in.h-1 && first+i < n; i++ {
		j := first + i
		s := "all connections"
		if j > 0 {
			c := d.v.conn(j)
			s = fmt.Sprintf("%3d  %s %s → %s  %d packets", c.ID, strings.ToUpper(c.Proto), trace.FormatEndpoint(c.Client, true), trace.FormatEndpoint(c.Server, true), c.Packets)
		}
		drawLine(scr, &d.theme, in.x, in.y+i, in.w, txt(stNormal, s), d.theme[stNormal], j == d.pickSel)
	}
}
