package trace

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
)

// Signature renders the call as it was made, the way the tutorials write it:
// "connect(3, 127.0.0.1:12345)", "recv(4, 1024)".
func (c *Call) Signature() string {
	var args []string
	fd := fmt.Sprint(c.FD)
	switch c.Op {
	case OpSocket:
		args = []string{nonEmpty(c.Family, "AF_INET"), nonEmpty(c.Type, "SOCK_STREAM")}
	case OpBind:
		args = []string{fd, FormatEndpoint(c.Local, true)}
	case OpListen:
		args = []string{fd, fmt.Sprint(c.Backlog)}
	case OpAccept, OpClose:
		args = []string{fd}
	case OpConnect:
		args = []string{fd, FormatEndpoint(c.Remote, true)}
	case OpSend, OpRecv:
		args = []string{fd, fmt.Sprint(c.Len)}
		if c.Op == OpSend {
			args[1] = quoteData(c.Data, c.Len)
		}
		if c.Flags != 0 {
			args = append(args, fmt.Sprintf("0x%x", c.Flags))
		}
	case OpSendto:
		args = []string{fd, quoteData(c.Data, c.Len), FormatEndpoint(c.Remote, true)}
	case OpRecvfrom:
		args = []string{fd, fmt.Sprint(c.Len)}
	case OpShutdown:
		args = []string{fd, c.How}
	case OpSetsockopt:
		args = []string{fd, c.Option}
	default:
		args = []string{fd}
	}
	return string(c.Op) + "(" + strings.Join(args, ", ") + ")"
}

// Result renders what the call returned: "= 0", "= 5 \"hello\"",
// "= -1 ECONNREFUSED", "= 4 (127.0.0.1:50000)".
func (c *Call) Result() string {
	if c.Errno != "" {
		return fmt.Sprintf("= %d %s", c.Ret, c.Errno)
	}
	switch c.Op {
	case OpRecv:
		if c.Ret == 0 {
			return "= 0 (peer closed)"
		}
		return fmt.Sprintf("= %d %s", c.Ret, quoteData(c.Data, c.Ret))
	case OpRecvfrom:
		return fmt.Sprintf("= %d %s from %s", c.Ret, quoteData(c.Data, c.Ret), FormatEndpoint(c.Remote, true))
	case OpAccept:
		return fmt.Sprintf("= %d from %s", c.Ret, FormatEndpoint(c.Remote, true))
	}
	return fmt.Sprintf("= %d", c.Ret)
}

// String is the whole call: signature and result.
func (c *Call) String() string { return c.Signature() + " " + c.Result() }

// Duration is how long the call took, 0 if its return is unknown.
func (c *Call) Duration() time.Duration {
	if c.End.IsZero() {
		return 0
	}
	return c.End.Sub(c.Start)
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// quoteData shows a payload in double quotes, with "…" when only part of
// total bytes is kept.
func quoteData(b []byte, total int) string {
	s := `"` + EscapeData(b) + `"`
	if total > len(b) {
		s += fmt.Sprintf("…(%d bytes)", total)
	}
	return s
}

// The pcapng comments that store what a scenario recorded (its calls, the
// kernel's states, its notes): a human-readable summary that Wireshark and
// tshark show, then the separator, then the event as JSON (ASCII only, so
// the separator cannot occur in it).
const (
	commentPrefix = "sockscope "
	commentSep    = " ‖ "
)

// RecordComment encodes a recorded event as a pcapng packet comment. ok is
// false for packets, which are the frames themselves. Annotations (the
// bytes and frames a call is tied to, narration) are left out: replay
// derives them again.
func RecordComment(ev Event) (comment string, ok bool) {
	var summary string
	switch {
	case ev.Call != nil:
		c := *ev.Call
		c.Bytes, c.Frames = [2]uint32{}, nil
		ev = CallEvent(&c)
		summary = fmt.Sprintf("call #%d %s: %s", c.ID, c.Lane, c.String())
	case ev.State != nil:
		s := ev.State
		summary = fmt.Sprintf("state %s: %s → %s (%s)", FormatEndpoint(s.Endpoint, true), stateOrQuestion(s.From), s.To, s.Source)
		if s.TimeLeft > 0 {
			summary += fmt.Sprintf(", %.1f s left", s.TimeLeft.Seconds())
		}
	case ev.Note != nil:
		summary = fmt.Sprintf("note %s: %s", ev.Note.Level, ev.Note.Text)
	default:
		return "", false
	}
	ev.Explain = ""
	b, err := marshalEvent(ev, 0)
	if err != nil {
		return "", false
	}
	return commentPrefix + summary + commentSep + asciiJSON(b), true
}

func stateOrQuestion(s State) string {
	if s == StateUnknown {
		return "?"
	}
	return string(s)
}

// CallComment encodes a call as a pcapng packet comment.
func CallComment(c *Call) string {
	s, _ := RecordComment(CallEvent(c))
	return s
}

// asciiJSON escapes every non-ASCII rune of a JSON text as \uXXXX (only
// strings can hold them), so that the comment separator never occurs in it.
func asciiJSON(b []byte) string {
	var sb strings.Builder
	for _, r := range string(b) {
		switch {
		case r < 0x80:
			sb.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&sb, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&sb, `\u%04x`, r)
		}
	}
	return sb.String()
}

// ParseRecordComment decodes a comment written by RecordComment. ok is
// false for comments that are not sockscope's.
func ParseRecordComment(s string) (ev Event, ok bool, err error) {
	if !strings.HasPrefix(s, commentPrefix) {
		return Event{}, false, nil
	}
	i := strings.LastIndex(s, commentSep)
	if i < 0 {
		return Event{}, true, fmt.Errorf("sockscope comment without JSON: %.60q", s)
	}
	ev, err = decodeLine([]byte(s[i+len(commentSep):]))
	if err != nil {
		return Event{}, true, fmt.Errorf("sockscope comment: %w", err)
	}
	if ev.Packet != nil {
		return Event{}, true, fmt.Errorf("sockscope comment holds a packet")
	}
	return ev, true, nil
}

// ParseCallComment decodes a call comment written by CallComment.
func ParseCallComment(s string) (c *Call, ok bool, err error) {
	ev, ok, err := ParseRecordComment(s)
	if !ok || err != nil {
		return nil, ok, err
	}
	if ev.Call == nil {
		return nil, true, fmt.Errorf("sockscope comment holds a %s, not a call", ev.Kind)
	}
	return ev.Call, true, nil
}

// AttachRecords stores recorded events (calls, kernel states, notes) as
// comments on frames, for pcapng files: each goes with the first frame
// captured at or after it happened (for a call, the frame it most likely
// caused), those after the last frame with the last frame. frames must be in
// capture order. It reports how many events found no frame (when there are
// none).
func AttachRecords(frames []Frame, evs []Event) (unattached int) {
	sorted := make([]Event, 0, len(evs))
	for _, ev := range evs {
		if ev.Packet == nil {
			sorted = append(sorted, ev)
		}
	}
	if len(frames) == 0 {
		return len(sorted)
	}
	SortEvents(sorted)
	fi := 0
	for _, ev := range sorted {
		for fi < len(frames)-1 && frames[fi].Time.Before(ev.Time()) {
			fi++
		}
		if c, ok := RecordComment(ev); ok {
			frames[fi].Comments = append(frames[fi].Comments, c)
		}
	}
	return 0
}

// AttachCalls is AttachRecords for calls alone.
func AttachCalls(frames []Frame, calls []*Call) (unattached int) {
	evs := make([]Event, len(calls))
	for i, c := range calls {
		evs[i] = CallEvent(c)
	}
	return AttachRecords(frames, evs)
}
