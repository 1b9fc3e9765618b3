package ui

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// TextOptions tune the text ladder.
type TextOptions struct {
	// MaxLanes is the most lanes drawn side by side; a ladder with more
	// is printed as a flat list of events (src → dst). 0 means 4.
	MaxLanes int

	// Explain prints each row's narration (Row.Explain) under it,
	// indented and wrapped.
	Explain bool
}

const (
	timeWidth  = 10 // "  0.000133"
	laneWidth  = 13 // wide enough for "ESTABLISHED" and a margin
	minGap     = 30
	maxGap     = 56
	arrowSlack = 6 // the arrow's strokes and head around its label, plus a margin
)

// WriteText renders a ladder as text: a heading with the lanes, then one
// line per row.
func WriteText(w io.Writer, l *Ladder, opts TextOptions) error {
	bw := bufio.NewWriter(w)
	max := opts.MaxLanes
	if max == 0 {
		max = 4
	}
	if len(l.Lanes) > max || len(l.Lanes) == 0 {
		writeFlat(bw, l, opts.Explain)
	} else {
		writeLanes(bw, l, opts.Explain)
	}
	return bw.Flush()
}

// explainWidth is where narration lines wrap, in terminal columns.
const explainWidth = 100

// writeExplain prints narration lines under a row, indented past the time
// column and wrapped at explainWidth (a Chinese character takes two
// columns and may break anywhere; English breaks at spaces).
func writeExplain(w *bufio.Writer, lines []string) {
	indent := strings.Repeat(" ", timeWidth+4)
	for _, text := range lines {
		col, line := 0, []rune{}
		flush := func() {
			w.WriteString(indent + strings.TrimRight(string(line), " ") + "\n")
			col, line = 0, line[:0]
		}
		for _, word := range splitWords(text) {
			n := displayWidth(word)
			if col > 0 && col+n > explainWidth-len(indent) {
				flush()
				word = strings.TrimLeft(word, " ")
				n = displayWidth(word)
			}
			line = append(line, []rune(word)...)
			col += n
		}
		if len(line) > 0 {
			flush()
		}
	}
}

// splitWords cuts text before each space and around each wide character.
func splitWords(s string) []string {
	var words []string
	start := 0
	for i, r := range s {
		if i > start && (r == ' ' || isWide(r)) {
			words = append(words, s[start:i])
			start = i
		}
		if isWide(r) {
			words = append(words, s[start:i+utf8.RuneLen(r)])
			start = i + utf8.RuneLen(r)
		}
	}
	if start < len(s) {
		words = append(words, s[start:])
	}
	return words
}

func isWide(r rune) bool {
	return r >= 0x1100 && (r <= 0x115f || r >= 0x2e80 && r <= 0xa4cf || r >= 0xac00 && r <= 0xd7a3 || r >= 0xf900 && r <= 0xfaff || r >= 0xfe30 && r <= 0xfe4f || r >= 0xff00 && r <= 0xff60 || r >= 0xffe0 && r <= 0xffe6)
}

func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		if isWide(r) {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// geometry is where each lane's column starts.
type geometry struct {
	gap int
}

func (g geometry) laneX(i int) int { return timeWidth + 2 + i*(laneWidth+g.gap) }

func writeLanes(w *bufio.Writer, l *Ladder, explain bool) {
	g := geometry{gap: minGap}
	for _, r := range l.Rows {
		if r.Kind == RowPacket {
			if n := utf8.RuneCountInString(r.Text) + arrowSlack; n > g.gap {
				g.gap = n
			}
		}
	}
	if g.gap > maxGap {
		g.gap = maxGap
	}

	var line lineBuf
	line.put(0, padLeft("rel (s)", timeWidth))
	for i, lane := range l.Lanes {
		line.put(g.laneX(i), lane.Label())
	}
	w.WriteString(line.String() + "\n")

	for _, r := range l.Rows {
		line.reset()
		line.put(0, padLeft(fmt.Sprintf("%.6f", r.Time.Sub(l.Start).Seconds()), timeWidth))
		switch r.Kind {
		case RowCall, RowReturn, RowState:
			if r.Lane >= 0 {
				line.put(g.laneX(r.Lane), r.Text)
			} else {
				line.put(timeWidth+2, "? "+r.Text)
			}
		case RowNote:
			line.put(timeWidth+2, "── "+r.Text)
		case RowPacket:
			putArrow(&line, g, r)
		}
		w.WriteString(line.String() + "\n")
		if explain {
			writeExplain(w, r.Explain)
		}
	}
}

// putArrow draws a packet between its lanes with each end's state beside
// it. A packet whose lanes are unknown is drawn from the left edge.
func putArrow(line *lineBuf, g geometry, r Row) {
	from, to := r.From, r.To
	if from < 0 || to < 0 || from == to {
		line.put(timeWidth+2, "~~ "+r.Text+" (endpoint not on the ladder)")
		return
	}
	left, right := from, to
	if left > right {
		left, right = right, left
	}
	x0 := g.laneX(left) + laneWidth // the arrow runs between the two columns
	x1 := g.laneX(right) - 1
	width := x1 - x0
	label := truncate(r.Text, width-5)
	body := "─ " + label + " " + strings.Repeat("─", max(0, width-utf8.RuneCountInString(label)-4))
	if from < to {
		line.put(x0, "─"+body+"▶")
	} else {
		line.put(x0, "◀"+body+"─")
	}
	// States: right-aligned next to the arrow on the left, left-aligned on the right.
	leftState, rightState := r.FromState, r.ToState
	if from > to {
		leftState, rightState = r.ToState, r.FromState
	}
	if leftState != "" {
		line.put(x0-1-utf8.RuneCountInString(string(leftState)), string(leftState))
	}
	if rightState != "" {
		line.put(x1+2, string(rightState))
	}
}

// writeFlat prints one event per line, for ladders too wide to draw.
func writeFlat(w *bufio.Writer, l *Ladder, explain bool) {
	name := func(i int) string {
		if i < 0 || i >= len(l.Lanes) {
			return "?"
		}
		return l.Lanes[i].Label()
	}
	for _, r := range l.Rows {
		rel := padLeft(fmt.Sprintf("%.6f", r.Time.Sub(l.Start).Seconds()), timeWidth)
		switch r.Kind {
		case RowPacket:
			states := ""
			if r.FromState != "" || r.ToState != "" {
				states = fmt.Sprintf("  [%s | %s]", stateName(r.FromState), stateName(r.ToState))
			}
			fmt.Fprintf(w, "%s  %s → %s  %s%s\n", rel, name(r.From), name(r.To), r.Text, states)
		case RowNote:
			fmt.Fprintf(w, "%s  ── %s\n", rel, r.Text)
		default:
			fmt.Fprintf(w, "%s  %s: %s\n", rel, name(r.Lane), r.Text)
		}
		if explain {
			writeExplain(w, r.Explain)
		}
	}
}

// lineBuf is a line of runes that text is put into at given columns;
// later text overwrites earlier text.
type lineBuf struct{ runes []rune }

func (b *lineBuf) reset() { b.runes = b.runes[:0] }

func (b *lineBuf) put(x int, s string) {
	if x < 0 {
		x = 0
	}
	for _, r := range s {
		for len(b.runes) <= x {
			b.runes = append(b.runes, ' ')
		}
		b.runes[x] = r
		x++
	}
}

func (b *lineBuf) String() string { return strings.TrimRight(string(b.runes), " ") }

func padLeft(s string, n int) string {
	if k := utf8.RuneCountInString(s); k < n {
		return strings.Repeat(" ", n-k) + s
	}
	return s
}

func truncate(s string, n int) string {
	if n < 1 {
		n = 1
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
