package ui

import (
	"strings"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/uniseg"

	"github.com/sockscope/sockscope/trace"
)

// styleKind names what a piece of text is; the theme decides how it looks.
// Every kind also differs by its text (labels, markers), never by colour
// alone.
type styleKind uint8

const (
	stNormal styleKind = iota
	stDim
	stBold
	stTitle    // pane titles and the header
	stTitleFoc // the focused pane's title
	stTime
	stCall
	stCallErr
	stState
	stStateBusy // transitional states: SYN_SENT, FIN_WAIT1 …
	stStateWait // TIME_WAIT
	stSynFin    // Wireshark's "TCP SYN/FIN"
	stRst       // Wireshark's "TCP RST"
	stTCP       // Wireshark's "TCP"
	stBad       // Wireshark's "Bad TCP": retransmissions, decode errors
	stUDP
	stICMP
	stWarn
	stErr
	stKey  // key names in the footer and help
	stMark // the highlighted listing line, the current state
	stPrompt
	numStyles
)

// theme maps style kinds to terminal styles.
type theme [numStyles]tcell.Style

func newTheme(noColor bool) theme {
	var t theme
	def := tcell.StyleDefault
	for i := range t {
		t[i] = def
	}
	t[stBold] = def.Bold(true)
	t[stTitle] = def.Bold(true).Underline(true)
	t[stTitleFoc] = def.Bold(true).Reverse(true)
	t[stMark] = def.Reverse(true)
	t[stPrompt] = def.Reverse(true).Bold(true)
	t[stKey] = def.Bold(true)
	t[stRst] = def.Bold(true)
	t[stBad] = def.Bold(true)
	t[stErr] = def.Bold(true)
	t[stWarn] = def.Bold(true)
	t[stCallErr] = def.Bold(true)
	t[stDim] = def.Dim(true)
	t[stTime] = def.Dim(true)
	if noColor {
		return t
	}
	black := tcell.ColorBlack
	rgb := tcell.NewRGBColor
	t[stTime] = def.Foreground(tcell.ColorGray)
	t[stDim] = def.Foreground(tcell.ColorGray)
	t[stTitle] = def.Bold(true).Foreground(tcell.ColorAqua)
	t[stCall] = def.Foreground(tcell.ColorWhite)
	t[stCallErr] = def.Bold(true).Foreground(tcell.ColorRed)
	t[stState] = def.Foreground(tcell.ColorLime)
	t[stStateBusy] = def.Foreground(tcell.ColorYellow)
	t[stStateWait] = def.Foreground(tcell.ColorAqua)
	// Wireshark's default colouring rules.
	t[stSynFin] = def.Background(rgb(0xa0, 0xa0, 0xa0)).Foreground(black)
	t[stRst] = def.Background(rgb(0xa4, 0x00, 0x00)).Foreground(rgb(0xff, 0xfc, 0x9c)).Bold(true)
	t[stTCP] = def.Background(rgb(0xe7, 0xe6, 0xff)).Foreground(black)
	t[stBad] = def.Background(black).Foreground(rgb(0xff, 0x5f, 0x5f)).Bold(true)
	t[stUDP] = def.Background(rgb(0xda, 0xee, 0xff)).Foreground(black)
	t[stICMP] = def.Background(rgb(0xfc, 0xe0, 0xff)).Foreground(black)
	t[stWarn] = def.Bold(true).Foreground(tcell.ColorYellow)
	t[stErr] = def.Bold(true).Foreground(tcell.ColorRed)
	t[stKey] = def.Bold(true).Foreground(tcell.ColorAqua)
	return t
}

// packetStyle is the Wireshark-like colouring rule a packet falls under.
func packetStyle(p *trace.Packet) styleKind {
	switch {
	case p.Error != "":
		return stBad
	case p.Proto == "udp":
		return stUDP
	case p.Proto == "icmp" || p.Proto == "icmp6":
		return stICMP
	case p.Proto != "tcp":
		return stNormal
	case strings.Contains(p.Flags, "R"):
		return stRst
	}
	for _, a := range p.Analysis {
		if a != trace.AnalysisWindowUpdate && a != trace.AnalysisReset {
			return stBad
		}
	}
	if strings.ContainsAny(p.Flags, "SF") {
		return stSynFin
	}
	return stTCP
}

// stateStyle colours a TCP state by how long it usually lasts.
func stateStyle(s trace.State) styleKind {
	switch s {
	case trace.StateEstablished:
		return stState
	case trace.StateTimeWait:
		return stStateWait
	case trace.StateClosed, trace.StateListen, trace.StateUnknown:
		return stNormal
	}
	return stStateBusy
}

// span is a piece of text in one style.
type span struct {
	text string
	kind styleKind
}

// line is a row of spans.
type line []span

func (l line) String() string {
	var sb strings.Builder
	for _, s := range l {
		sb.WriteString(s.text)
	}
	return sb.String()
}

func txt(kind styleKind, s string) line { return line{{s, kind}} }

// cells is a row of runes with styles, for composing a ladder row whose
// pieces are placed at given columns.
type cells struct {
	r []rune
	k []styleKind
}

func (c *cells) reset(w int) {
	c.r = c.r[:0]
	c.k = c.k[:0]
	for i := 0; i < w; i++ {
		c.r = append(c.r, ' ')
		c.k = append(c.k, stNormal)
	}
}

// put writes s at column x, clipped to the row.
func (c *cells) put(x int, s string, kind styleKind) {
	for _, r := range s {
		if x >= len(c.r) {
			return
		}
		if x >= 0 {
			c.r[x] = r
			c.k[x] = kind
		}
		x++
	}
}

// drawText writes s at (x, y) in style st, not beyond maxX; it returns the
// column after the text.
func drawText(scr tcell.Screen, x, y, maxX int, s string, st tcell.Style) int {
	for s != "" && x < maxX {
		g, rest, w, _ := uniseg.FirstGraphemeClusterInString(s, -1)
		if w == 0 { // a control character: show it as a dot
			g, w = "·", 1
		}
		if x+w > maxX {
			break
		}
		scr.Put(x, y, g, st)
		x += w
		s = rest
	}
	return x
}

// drawLine draws a line of spans, filling the rest of the width with fill.
func drawLine(scr tcell.Screen, t *theme, x, y, w int, l line, fill tcell.Style, reverse bool) {
	maxX := x + w
	for _, s := range l {
		st := t[s.kind]
		if reverse {
			st = st.Reverse(true)
		}
		x = drawText(scr, x, y, maxX, s.text, st)
	}
	if reverse {
		fill = fill.Reverse(true)
	}
	for ; x < maxX; x++ {
		scr.Put(x, y, " ", fill)
	}
}

// width is the number of terminal cells s takes.
func width(s string) int { return uniseg.StringWidth(s) }

// wrap breaks s into lines of at most w cells, at spaces where it can.
func wrap(s string, w int) []string {
	if w < 8 {
		w = 8
	}
	var out []string
	for _, para := range strings.Split(s, "\n") {
		var cur strings.Builder
		for _, word := range strings.Fields(para) {
			for width(word) > w { // a word longer than the line: cut it
				if cur.Len() > 0 {
					out = append(out, cur.String())
					cur.Reset()
				}
				r := []rune(word)
				out = append(out, string(r[:w]))
				word = string(r[w:])
			}
			if cur.Len() > 0 && width(cur.String())+1+width(word) > w {
				out = append(out, cur.String())
				cur.Reset()
			}
			if cur.Len() > 0 {
				cur.WriteByte(' ')
			}
			cur.WriteString(word)
		}
		out = append(out, cur.String())
	}
	return out
}
