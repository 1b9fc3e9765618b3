package trace

import (
	"encoding/json"
	"fmt"
	"sort"
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

// The pcapng comment that stores a call: a human-readable summary that
// Wireshark and tshark show, then the separator, then the call as JSON
// (which is ASCII, so the separator cannot occur in it).
const (
	callCommentPrefix = "sockscope call "
	callCommentSep    = " ‖ "
)

// CallComment encodes a call as a pcapng packet comment.
func CallComment(c *Call) string {
	j := callJSON(jsonHead{Kind: KindCall, Time: formatTime(c.Start)}, c)
	b, err := json.Marshal(j)
	if err != nil { // cannot happen: the struct holds only strings and numbers
		b = []byte("{}")
	}
	return fmt.Sprintf("%s#%d %s: %s%s%s", callCommentPrefix, c.ID, c.Lane, c.String(), callCommentSep, asciiJSON(b))
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

// ParseCallComment decodes a comment written by CallComment. ok is false
// for comments that are not sockscope calls.
func ParseCallComment(s string) (c *Call, ok bool, err error) {
	if !strings.HasPrefix(s, callCommentPrefix) {
		return nil, false, nil
	}
	i := strings.LastIndex(s, callCommentSep)
	if i < 0 {
		return nil, true, fmt.Errorf("call comment without JSON: %.60q", s)
	}
	ev, err := decodeLine([]byte(s[i+len(callCommentSep):]))
	if err != nil {
		return nil, true, fmt.Errorf("call comment: %w", err)
	}
	if ev.Call == nil {
		return nil, true, fmt.Errorf("call comment holds a %s", ev.Kind)
	}
	return ev.Call, true, nil
}

// AttachCalls stores each call as a comment on a frame, for pcapng files:
// a call goes with the first frame captured at or after it was entered (the
// frame it most likely caused), calls after the last frame with the last
// frame. frames must be in capture order. It reports how many calls found no
// frame (when there are none).
func AttachCalls(frames []Frame, calls []*Call) (unattached int) {
	if len(frames) == 0 {
		return len(calls)
	}
	sorted := append([]*Call(nil), calls...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Start.Before(sorted[j].Start) })
	fi := 0
	for _, c := range sorted {
		for fi < len(frames)-1 && frames[fi].Time.Before(c.Start) {
			fi++
		}
		frames[fi].Comments = append(frames[fi].Comments, CallComment(c))
	}
	return 0
}
