package ui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// Inspection is one frame shown field by field, for the detail pane.
type Inspection struct {
	Layers []InspectLayer
	Raw    []byte // the captured bytes, for the hex dump
	// Packet is the frame decoded on its own, for a timeline held in an
	// Index (which keeps neither absolute numbers, options nor payload):
	// the detail pane takes those from it. Nil when not needed. (Its
	// narration the Index makes again itself: Index.SetNarrator.)
	Packet *trace.Packet
}

// InspectLayer is one protocol layer of a frame.
type InspectLayer struct {
	Name   string
	Fields []InspectField
}

// InspectField is one header field and its value as text.
type InspectField struct {
	Name, Value string
}

// detailLines is the detail pane for row k of the view, w cells wide.
func detailLines(v *view, k int, w int, inspect func(frame int) *Inspection) []line {
	if k < 0 || k >= v.count() {
		return []line{txt(stDim, "nothing selected")}
	}
	r, ev := v.rowAndEvent(k)
	var in *Inspection
	if ev.Packet != nil && inspect != nil {
		in = inspect(ev.Packet.Frame)
		if v.ix != nil && in != nil && in.Packet != nil {
			// The index keeps only what the ladder shows: the rest comes
			// from the frame, read again.
			p, q := *ev.Packet, in.Packet
			p.Seq, p.Ack, p.Options, p.Payload = q.Seq, q.Ack, q.Options, q.Payload
			if p.Error == "" {
				p.Error = q.Error
			}
			e := *ev
			e.Packet = &p
			ev = &e
		}
	}
	// The narration: the event's, and for a packet those of the state
	// changes folded into its row. An index keeps none for most rows: it
	// makes it again, off this goroutine ("…" until it is ready).
	explain := nonEmpty(ev.Explain)
	if ev.Packet != nil && v.ix == nil {
		explain = r.Explain
	}
	pending := false
	if v.ix != nil {
		if n, ok := v.ix.narration(k); ok {
			switch {
			case n.Pending:
				pending = len(explain) == 0
			case len(n.Paragraphs) > 0:
				explain = n.Paragraphs
			}
		}
	}
	var out []line
	add := func(l line) { out = append(out, l) }
	field := func(name, value string) {
		for i, s := range wrap(value, max(8, w-14)) {
			if i == 0 {
				add(line{{fmt.Sprintf("  %-11s ", name), stDim}, {s, stNormal}})
			} else {
				add(line{{strings.Repeat(" ", 14), stNormal}, {s, stNormal}})
			}
		}
	}
	whatHappened := func() {
		if pending {
			add(txt(stTitle, "What happened"))
			add(txt(stDim, "  …"))
			return
		}
		for i, s := range explain {
			if i == 0 {
				add(txt(stTitle, "What happened"))
			}
			for _, l := range wrap(s, w-2) {
				add(txt(stNormal, "  "+l))
			}
		}
	}
	rel := func(t time.Time) string { return fmt.Sprintf("+%.6f s", t.Sub(v.ladder.Start).Seconds()) }
	switch {
	case ev.Packet != nil:
		p := ev.Packet
		add(line{{fmt.Sprintf("Frame %d", p.Frame), stBold}, {"  " + rel(p.Time), stDim}})
		add(line{{PacketLabel(p), packetStyle(p)}})
		field("from", endpointIn(v.ladder, r.From, p.Src))
		field("to", endpointIn(v.ladder, r.To, p.Dst))
		if p.Proto == "tcp" {
			field("seq", fmt.Sprintf("%d (absolute %d)", p.RSeq, p.Seq))
			if strings.Contains(p.Flags, ".") {
				field("ack", fmt.Sprintf("%d (absolute %d)", p.RAck, p.Ack))
			}
			field("window", windowText(v, p, inspect))
			if p.Options != "" {
				field("options", p.Options)
			}
			if s := packetStates(r); s != "" {
				field("states", s)
			}
		}
		field("length", fmt.Sprintf("%d bytes of payload", p.Len))
		if len(p.Payload) > 0 {
			field("data", `"`+trace.EscapeData(p.Payload)+`"`)
		}
		if p.Conn > 0 {
			field("connection", strconv.Itoa(p.Conn))
		}
		switch p.By {
		case trace.ByCall:
			field("sent by", "a call of the program")
		case trace.ByKernel:
			field("sent by", "the kernel, on its own")
		}
		if len(p.Analysis) > 0 {
			field("analysis", strings.Join(p.Analysis, ", "))
		}
		for _, id := range p.Calls {
			if c := v.call(id); c != nil {
				field("call", fmt.Sprintf("#%d %s: %s", c.ID, c.Lane, c.String()))
			}
		}
		if p.Info != "" {
			field("info", p.Info)
		}
		if p.Error != "" {
			add(line{{"  error       ", stDim}, {p.Error, stBad}})
		}
		whatHappened()
		{
			if in != nil {
				for _, l := range in.Layers {
					add(txt(stTitle, l.Name))
					for _, f := range l.Fields {
						field(f.Name, f.Value)
					}
				}
				if len(in.Raw) > 0 {
					add(txt(stTitle, fmt.Sprintf("Bytes (%d captured)", len(in.Raw))))
					for _, s := range hexDump(in.Raw, w) {
						add(txt(stNormal, s))
					}
				}
			}
		}
	case ev.Call != nil:
		c := ev.Call
		if c.Inferred != "" {
			// Nobody recorded it: the packets imply it.
			add(line{{"Inferred call", stBold}, {"  from the packets, not recorded", stDim}})
			for _, s := range wrap(c.Inferred+" on "+trace.FormatEndpoint(c.Local, true), w-1) {
				add(txt(stCall, s))
			}
			if pending {
				add(txt(stDim, "…"))
			}
			for _, p := range explain {
				for _, s := range wrap(p, w-1) {
					add(txt(stNormal, s))
				}
			}
			break
		}
		head := fmt.Sprintf("Call #%d", c.ID)
		if c.Line > 0 {
			head += fmt.Sprintf(" · line %d", c.Line)
		}
		add(line{{head, stBold}, {"  " + c.Lane, stDim}})
		kind := stCall
		if c.Errno != "" {
			kind = stCallErr
		}
		for _, s := range wrap(c.String(), w-1) {
			add(txt(kind, s))
		}
		field("op", string(c.Op))
		if c.FD >= 0 {
			field("socket", fmt.Sprintf("fd %d", c.FD))
		}
		if c.Family != "" || c.Type != "" {
			field("family", strings.TrimSpace(c.Family+" "+c.Type))
		}
		if c.Local.IsValid() {
			field("local", trace.FormatEndpoint(c.Local, true))
		}
		if c.Remote.IsValid() {
			field("remote", trace.FormatEndpoint(c.Remote, true))
		}
		switch c.Op {
		case trace.OpListen:
			field("backlog", strconv.Itoa(c.Backlog))
		case trace.OpSend, trace.OpSendto:
			field("offered", fmt.Sprintf("%d bytes", c.Len))
		case trace.OpRecv, trace.OpRecvfrom:
			field("buffer", fmt.Sprintf("%d bytes", c.Len))
		case trace.OpShutdown:
			field("how", c.How)
		case trace.OpSetsockopt:
			field("option", c.Option)
		}
		if c.Flags != 0 {
			field("flags", fmt.Sprintf("0x%x", c.Flags))
		}
		if c.End.IsZero() {
			field("returned", "not yet")
		} else {
			field("returned", strconv.Itoa(c.Ret))
		}
		if c.Errno != "" {
			add(line{{"  errno       ", stDim}, {c.Errno, stCallErr}})
		} else if !c.End.IsZero() {
			field("errno", "none")
		}
		if len(c.Data) > 0 {
			field("data", `"`+trace.EscapeData(c.Data)+`"`)
		}
		if c.HasBytes() {
			field("stream", fmt.Sprintf("bytes %d:%d (relative)", c.Bytes[0], c.Bytes[1]))
		}
		if c.State != "" {
			field("state", string(c.State)+" (the kernel's, after the call)")
		}
		field("entered", rel(c.Start))
		if !c.End.IsZero() {
			field("took", FormatDuration(c.Duration())+" (returned "+rel(c.End)+")")
		}
		segs, exact := callSegments(v, c)
		title := "Segments it caused or consumed"
		if !exact {
			title = "Segments on its socket while it ran"
		}
		if len(segs) > 0 {
			add(txt(stTitle, title))
			for _, p := range segs {
				dir := "──▶"
				if c.Local.IsValid() && p.Dst == c.Local {
					dir = "◀──"
				}
				add(line{{fmt.Sprintf("  #%-5d %s ", p.Frame, dir), stDim}, {PacketLabel(p), packetStyle(p)}})
			}
		}
		whatHappened()
	case ev.State != nil:
		s := ev.State
		add(line{{"State change", stBold}, {"  " + rel(s.Time), stDim}})
		add(line{{stateName(s.From) + " → ", stNormal}, {string(s.To), stateStyle(s.To)}})
		field("endpoint", trace.FormatEndpoint(s.Endpoint, true))
		if s.Peer.IsValid() {
			field("peer", trace.FormatEndpoint(s.Peer, true))
		}
		field("source", string(s.Source))
		if s.TimeLeft > 0 {
			field("timer", FormatDuration(s.TimeLeft)+" left (kernel)")
		}
		whatHappened()
	case ev.Note != nil:
		add(txt(stBold, "Note ("+ev.Note.Level+")"))
		for _, s := range wrap(ev.Note.Text, w-1) {
			add(txt(stNormal, s))
		}
		whatHappened()
	}
	return out
}

// endpointIn names an endpoint with its lane: "client 127.0.0.1:40000".
func endpointIn(l *Ladder, lane int, ep trace.Endpoint) string {
	s := trace.FormatEndpoint(ep, true)
	if lane >= 0 && lane < len(l.Lanes) && l.Lanes[lane].Name != s {
		return l.Lanes[lane].Name + " " + s
	}
	return s
}

// callSegments are the packets tied to a call: the decoder's own list when
// it made one (exact), otherwise the packets on the call's connection while
// the call ran.
func callSegments(v *view, c *trace.Call) (segs []*trace.Packet, exact bool) {
	if len(c.Frames) > 0 {
		for _, f := range c.Frames {
			if k := v.rowOfFrame(f); k >= 0 {
				if ev := v.rowEvent(k); ev.Packet != nil {
					segs = append(segs, ev.Packet)
				}
			}
		}
		return segs, true
	}
	if c.End.IsZero() || !c.Local.IsValid() {
		return nil, false
	}
	// Rows are in time order: find the call's start, walk to its end.
	n := v.count()
	for i := v.searchTime(c.Start); i < n && !v.rowTime(i).After(c.End) && len(segs) < 50; i++ {
		if kind, _, _, _, _ := v.rowPlace(i); kind != RowPacket {
			continue
		}
		p := v.rowEvent(i).Packet
		if p == nil {
			continue
		}
		if p.Src == c.Local || p.Dst == c.Local {
			if !c.Remote.IsValid() || p.Src == c.Remote || p.Dst == c.Remote {
				segs = append(segs, p)
			}
		}
	}
	return segs, false
}

// windowText is the window a TCP segment advertises, scaled when both SYNs
// carried the window-scale option (RFC 7323: never in the SYNs themselves).
// A timeline held in an Index keeps no options: the SYNs' are read again
// (inspect).
func windowText(v *view, p *trace.Packet, inspect func(frame int) *Inspection) string {
	s := fmt.Sprintf("%d", p.Win)
	if strings.Contains(p.Flags, "S") || p.Conn <= 0 {
		return s + " (SYNs are never scaled)"
	}
	mine, theirs := -1, -1
	var seen [2]bool // its own SYN, the peer's
	// Find the two SYNs of the connection among its first packets.
	if p.Conn > v.connCount() {
		return s
	}
	start := v.searchTime(v.conn(p.Conn).First)
	for i := start; i < v.count() && i < start+64; i++ {
		if kind, _, _, _, c := v.rowPlace(i); kind != RowPacket || c != p.Conn {
			continue
		}
		q := v.rowEvent(i).Packet
		if q == nil || q.Conn != p.Conn || !strings.Contains(q.Flags, "S") {
			continue
		}
		opts := q.Options
		if v.ix != nil && inspect != nil {
			if in := inspect(q.Frame); in != nil && in.Packet != nil {
				opts = in.Packet.Options
			}
		}
		ws := wscale(opts)
		if q.Src == p.Src {
			mine, seen[0] = ws, true
		} else {
			theirs, seen[1] = ws, true
		}
	}
	switch {
	case mine >= 0 && theirs >= 0:
		return fmt.Sprintf("%d × %d = %d bytes (window scale %d from its SYN)", p.Win, 1<<mine, p.Win<<mine, mine)
	case !seen[0] || !seen[1]:
		return s + " (scaling unknown: the handshake was not captured)"
	case mine < 0 && theirs < 0:
		return s + " bytes (not scaled: neither SYN offered scaling)"
	}
	return s + " bytes (not scaled: only one SYN offered scaling)"
}

// wscale finds "wscale N" in tcpdump-style options; -1 if absent.
func wscale(opts string) int {
	for _, o := range strings.Split(opts, ",") {
		if n, ok := strings.CutPrefix(o, "wscale "); ok {
			if v, err := strconv.Atoi(n); err == nil && v >= 0 && v <= 14 {
				return v
			}
		}
	}
	return -1
}

// hexDump renders bytes as offset, hex and ASCII, 16 or 8 per line to fit w.
func hexDump(b []byte, w int) []string {
	per := 16
	if w < 6+16*3+18 {
		per = 8
	}
	var out []string
	for off := 0; off < len(b); off += per {
		chunk := b[off:min(off+per, len(b))]
		var sb strings.Builder
		fmt.Fprintf(&sb, "%04x  ", off)
		for i := 0; i < per; i++ {
			if i < len(chunk) {
				fmt.Fprintf(&sb, "%02x ", chunk[i])
			} else {
				sb.WriteString("   ")
			}
		}
		sb.WriteByte(' ')
		for _, c := range chunk {
			if c >= 0x20 && c < 0x7f {
				sb.WriteByte(c)
			} else {
				sb.WriteByte('.')
			}
		}
		out = append(out, sb.String())
	}
	return out
}

// listingLines is the scenario's listing with line hl marked.
func listingLines(listing string, hl int) []line {
	var out []line
	for i, s := range strings.Split(strings.TrimRight(listing, "\n"), "\n") {
		n := i + 1
		s = strings.ReplaceAll(s, "\t", "    ")
		if n == hl {
			out = append(out, line{{fmt.Sprintf("▶%3d ", n), stMark}, {s, stMark}})
		} else {
			out = append(out, line{{fmt.Sprintf(" %3d ", n), stDim}, {s, stNormal}})
		}
	}
	return out
}

// callLineFor is the listing line to highlight for row k: its own call's,
// or that of the last call before it.
func callLineFor(v *view, k int) (line int, c *trace.Call) {
	for i := k; i >= 0 && i > k-5000; i-- {
		ev := v.rowEvent(i)
		if ev != nil && ev.Call != nil && ev.Call.Line > 0 {
			return ev.Call.Line, ev.Call
		}
	}
	return 0, nil
}

// timeWaitLen is how long Linux keeps a connection in TIME_WAIT
// (TCP_TIMEWAIT_LEN).
const timeWaitLen = 60 * time.Second

// stateLines is each endpoint's state timeline for the connection of row
// k (or, for rows of no connection, every connection's while there are
// few), with the state current at the row marked. now is the instant the
// TIME_WAIT countdown counts from.
func stateLines(v *view, k int, now time.Time) []line {
	if k < 0 || k >= v.count() {
		return []line{txt(stDim, "no events yet")}
	}
	atTime := v.rowTime(k)
	if r := v.row(k); r.Kind == RowReturn {
		atTime = v.rowEvent(k).Time() // as the event's own index did
	}
	conn := v.rowConn(k)
	nconns := v.connCount()
	var conns []int
	switch {
	case conn > 0:
		conns = []int{conn}
	case nconns <= 2:
		for i := range nconns {
			conns = append(conns, i+1)
		}
	}
	var out []line
	for _, cid := range conns {
		ci := v.conn(cid)
		if ci.Proto != "tcp" {
			out = append(out, txt(stDim, fmt.Sprintf("conn %d: %s %s ↔ %s (no states)", cid, strings.ToUpper(ci.Proto), trace.FormatEndpoint(ci.Client, true), trace.FormatEndpoint(ci.Server, true))))
			continue
		}
		for _, ep := range []trace.Endpoint{ci.Client, ci.Server} {
			role := "client"
			if ep == ci.Server {
				role = "server"
			}
			out = append(out, txt(stBold, fmt.Sprintf("%s %s", role, trace.FormatEndpoint(ep, true))))
			hist := v.stateHistory(cid, ep)
			cur := -1
			for j, s := range hist {
				if !s.Time.After(atTime) {
					cur = j
				}
			}
			if len(hist) == 0 {
				out = append(out, txt(stDim, "   (no state seen)"))
			}
			for j, s := range hist {
				mark, kind := "   ", stateStyle(s.To)
				if j > cur {
					kind = stDim
				}
				var dur string
				switch {
				case j+1 < len(hist):
					dur = FormatDuration(hist[j+1].Time.Sub(s.Time))
				case s.To == trace.StateTimeWait && j <= cur:
					left := timeWaitLen - now.Sub(s.Time)
					src := "of 60"
					if s.TimeLeft > 0 {
						left = s.TimeLeft - now.Sub(s.Time)
						src = "kernel timer"
					}
					if left < 0 {
						dur = "over: CLOSED"
					} else {
						dur = fmt.Sprintf("%.1f s left (%s)", left.Seconds(), src)
					}
				case j <= cur && s.To != trace.StateClosed:
					dur = "for " + FormatDuration(now.Sub(s.Time))
				}
				if j == cur {
					mark = " ▶ "
					if kind != stDim {
						kind = stMark
					}
				}
				src := ""
				if s.Source == trace.SourceKernel && s.TimeLeft == 0 {
					src = " (kernel)"
				}
				out = append(out, line{{mark, stBold}, {fmt.Sprintf("%-11s", s.To), kind}, {"  " + dur + src, stDim}})
			}
		}
	}
	if len(conns) == 0 {
		if nconns == 0 {
			out = append(out, txt(stDim, "no connection yet"))
		} else {
			out = append(out, txt(stDim, fmt.Sprintf("%d connections: select a row of one, or press c", nconns)))
		}
	}
	// The socket's own state from the kernel, for calls.
	if ev := v.rowEvent(k); ev != nil && ev.Call != nil && ev.Call.State != "" {
		out = append(out, line{{"kernel after " + string(ev.Call.Op) + "(): ", stDim}, {string(ev.Call.State), stateStyle(ev.Call.State)}})
	}
	return out
}
