package trace

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendEvent appends the JSON Lines object of ev, byte for byte what
// encoding/json makes of the schema structs (marshalEvent), without
// reflection: a replay of a million packets writes millions of lines.
// TestFastJSONMatchesEncodingJSON holds the two together.
func (e *Encoder) appendEvent(b []byte, ev Event, rel float64) ([]byte, error) {
	b = append(b, `{"kind":`...)
	b = appendJSONString(b, string(ev.Kind))
	b = append(b, `,"time":`...)
	b = e.appendTime(b, ev.Time())
	b = append(b, `,"rel":`...)
	var ok bool
	if b, ok = appendJSONFloat(b, rel); !ok {
		return nil, errBadFloat
	}
	switch {
	case ev.Call != nil:
		c := ev.Call
		b = appendIntField(b, "id", c.ID)
		b = appendStringField(b, "lane", c.Lane)
		b = appendStringField(b, "op", string(c.Op))
		b = appendIntField(b, "fd", c.FD)
		b = appendEndpointField(b, "local", c.Local, true)
		b = appendEndpointField(b, "remote", c.Remote, true)
		b = appendStringOmit(b, "proto", c.Proto)
		b = appendStringOmit(b, "family", c.Family)
		b = appendStringOmit(b, "type", c.Type)
		if c.Op == OpListen {
			b = appendIntField(b, "backlog", c.Backlog)
		}
		b = appendIntField(b, "flags", c.Flags)
		b = appendStringOmit(b, "how", c.How)
		b = appendStringOmit(b, "option", c.Option)
		b = appendIntField(b, "len", c.Len)
		b = appendIntField(b, "ret", c.Ret)
		b = appendStringField(b, "errno", c.Errno)
		b = append(b, `,"data":`...)
		b = appendEscapedData(b, c.Data)
		b = append(b, `,"end":`...)
		b = e.appendTime(b, c.End)
		b = append(b, `,"dur":`...)
		dur := 0.0
		if !c.End.IsZero() {
			dur = c.End.Sub(c.Start).Seconds()
		}
		if b, ok = appendJSONFloat(b, dur); !ok {
			return nil, errBadFloat
		}
		b = appendStringField(b, "state", string(c.State))
		if c.Line != 0 {
			b = appendIntField(b, "line", c.Line)
		}
		if c.HasBytes() {
			b = append(b, `,"bytes":[`...)
			b = strconv.AppendUint(b, uint64(c.Bytes[0]), 10)
			b = append(b, ',')
			b = strconv.AppendUint(b, uint64(c.Bytes[1]), 10)
			b = append(b, ']')
		}
		b = appendIntsOmit(b, "frames", c.Frames)
		b = appendStringOmit(b, "inferred", c.Inferred)
	case ev.Packet != nil:
		p := ev.Packet
		ports := HasPorts(p.Proto)
		b = appendIntField(b, "frame", p.Frame)
		b = appendStringField(b, "proto", p.Proto)
		b = appendEndpointField(b, "src", p.Src, ports)
		b = appendEndpointField(b, "dst", p.Dst, ports)
		if p.Proto == "tcp" {
			b = appendStringField(b, "flags", p.Flags)
			b = appendUintField(b, "seq", p.Seq)
			b = appendUintField(b, "ack", p.Ack)
			b = appendUintField(b, "rseq", p.RSeq)
			b = appendUintField(b, "rack", p.RAck)
			b = appendIntField(b, "win", p.Win)
			b = appendStringField(b, "options", p.Options)
		}
		b = appendIntField(b, "len", p.Len)
		if len(p.Payload) > 0 {
			b = append(b, `,"data":`...)
			b = appendEscapedData(b, p.Payload)
		}
		b = appendIntField(b, "conn", p.Conn)
		b = appendStringOmit(b, "info", p.Info)
		if p.Quoted[0].IsValid() {
			b = append(b, `,"quoted":[`...)
			b = appendJSONString(b, p.Quoted[0].String())
			b = append(b, ',')
			b = appendJSONString(b, p.Quoted[1].String())
			b = append(b, ']')
		}
		b = appendStringOmit(b, "error", p.Error)
		if len(p.Analysis) > 0 {
			b = append(b, `,"analysis":[`...)
			for i, a := range p.Analysis {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, a)
			}
			b = append(b, ']')
		}
		b = appendIntsOmit(b, "calls", p.Calls)
		b = appendStringOmit(b, "by", p.By)
	case ev.State != nil:
		s := ev.State
		b = appendEndpointField(b, "endpoint", s.Endpoint, true)
		if s.Peer.Addr().IsValid() {
			b = appendEndpointField(b, "peer", s.Peer, true)
		}
		b = appendIntField(b, "conn", s.Conn)
		b = appendStringField(b, "from", string(s.From))
		b = appendStringField(b, "to", string(s.To))
		b = appendStringField(b, "source", string(s.Source))
		if tl := s.TimeLeft.Seconds(); tl != 0 {
			b = append(b, `,"time_left":`...)
			if b, ok = appendJSONFloat(b, tl); !ok {
				return nil, errBadFloat
			}
		}
	case ev.Note != nil:
		n := ev.Note
		b = appendStringField(b, "level", n.Level)
		b = appendStringField(b, "text", n.Text)
		b = appendStringOmit(b, "topic", n.Topic)
		if n.Conn != 0 {
			b = appendIntField(b, "conn", n.Conn)
		}
	default:
		return nil, errEmptyEvent
	}
	b = appendStringOmit(b, "explain", ev.Explain)
	return append(b, '}'), nil
}

type encodeError string

func (e encodeError) Error() string { return string(e) }

const (
	errEmptyEvent = encodeError("encode: empty event")
	errBadFloat   = encodeError("encode: a time that is not a number")
)

// appendTime appends a time as formatTime renders it, in quotes. The date
// and time of day are kept for the last second seen.
func (e *Encoder) appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, `""`...)
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		b = append(b, '"')
		b = t.AppendFormat(b, TimeLayout)
		return append(b, '"')
	}
	if sec := t.Unix(); sec != e.sec || e.secText == nil {
		e.sec = sec
		e.secText = t.Truncate(time.Second).AppendFormat(e.secText[:0], "2006-01-02T15:04:05.")
	}
	b = append(b, '"')
	b = append(b, e.secText...)
	ns := t.Nanosecond()
	var digits [9]byte
	for i := 8; i >= 0; i-- {
		digits[i] = byte('0' + ns%10)
		ns /= 10
	}
	b = append(b, digits[:]...)
	return append(b, `Z"`...)
}

func appendKey(b []byte, key string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendIntField(b []byte, key string, v int) []byte {
	return strconv.AppendInt(appendKey(b, key), int64(v), 10)
}

func appendUintField(b []byte, key string, v uint32) []byte {
	return strconv.AppendUint(appendKey(b, key), uint64(v), 10)
}

func appendStringField(b []byte, key, v string) []byte {
	return appendJSONString(appendKey(b, key), v)
}

func appendStringOmit(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendStringField(b, key, v)
}

func appendIntsOmit(b []byte, key string, v []int) []byte {
	if len(v) == 0 {
		return b
	}
	b = appendKey(b, key)
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return append(b, ']')
}

// appendEndpointField appends FormatEndpoint(e, withPort) as a string.
func appendEndpointField(b []byte, key string, e Endpoint, withPort bool) []byte {
	b = appendKey(b, key)
	if !e.Addr().IsValid() {
		return append(b, `""`...)
	}
	// Addresses and ports need no escaping.
	b = append(b, '"')
	if withPort {
		b = e.AppendTo(b)
	} else {
		b = e.Addr().AppendTo(b)
	}
	return append(b, '"')
}

// appendEscapedData appends EscapeData(data) as a JSON string.
func appendEscapedData(b []byte, data []byte) []byte {
	b = append(b, '"')
	for _, c := range data {
		switch {
		case c == '\\':
			b = append(b, `\\\\`...)
		case c == '\r':
			b = append(b, `\\r`...)
		case c == '\n':
			b = append(b, `\\n`...)
		case c == '\t':
			b = append(b, `\\t`...)
		case c == '"':
			b = append(b, `\"`...)
		case c == '<':
			b = append(b, `\u003c`...)
		case c == '>':
			b = append(b, `\u003e`...)
		case c == '&':
			b = append(b, `\u0026`...)
		case c >= 0x20 && c < 0x7f:
			b = append(b, c)
		default:
			b = append(b, `\\x`...)
			b = append(b, hexDigit[c>>4], hexDigit[c&0xf])
		}
	}
	return append(b, '"')
}

const hexDigit = "0123456789abcdef"

// jsonSafe marks the bytes a JSON string holds as they are: ASCII from
// space on, except the quote, the backslash and <, >, & (which
// encoding/json escapes for HTML).
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONFloat appends f as encoding/json does; ok is false for NaN and
// infinities, which JSON cannot hold.
func appendJSONFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// appendJSONString appends s as encoding/json does (escaping HTML
// characters, replacing invalid UTF-8).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if jsonSafe[s[i]] {
			i++
			continue
		}
		if c := s[i]; c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigit[c>>4], hexDigit[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigit[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
