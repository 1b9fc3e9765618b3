package trace

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendEvent appends the JSON Lines object of ev, byte for byte what
// encoding/json makes of the schema structs (marshalEvent) with rel as
// rel.Seconds(), without reflection: a replay of a million packets writes
// millions of lines. TestFastJSONMatchesEncodingJSON holds the two
// together, TestEncodeMatchesGolden holds it to what it wrote before it
// was made faster.
//
// The common values cost little: the date and time of day are kept for
// the last second seen, the text of IPv4 endpoints in a small hashed
// cache and of the last four IPv6 ones, offsets in whole nanoseconds are
// printed from the integer, integers eight digits at a time, the words
// of the vocabulary (states, ops, flags, inferred calls) as constants,
// keys with their neighbouring constant text in one append, and lines
// go straight into the Encoder's buffer.
func (e *Encoder) appendEvent(b []byte, ev Event, rel time.Duration) ([]byte, error) {
	var t time.Time
	switch {
	case ev.Call != nil:
		t = ev.Call.Start
	case ev.Packet != nil:
		t = ev.Packet.Time
	case ev.State != nil:
		t = ev.State.Time
	case ev.Note != nil:
		t = ev.Note.Time
	default:
		return nil, errEmptyEvent
	}
	switch ev.Kind {
	case KindPacket:
		b = append(b, `{"kind":"packet","time":`...)
	case KindState:
		b = append(b, `{"kind":"state","time":`...)
	case KindCall:
		b = append(b, `{"kind":"call","time":`...)
	case KindNote:
		b = append(b, `{"kind":"note","time":`...)
	default:
		b = append(b, `{"kind":`...)
		b = appendJSONString(b, string(ev.Kind))
		b = append(b, `,"time":`...)
	}
	b = e.appendTime(b, t)
	b = append(b, `,"rel":`...)
	b = appendSeconds(b, rel)
	switch {
	case ev.Call != nil:
		b = e.appendCall(b, ev.Call)
	case ev.Packet != nil:
		b = e.appendPacket(b, ev.Packet)
	case ev.State != nil:
		b = e.appendState(b, ev.State)
	default:
		b = appendNote(b, ev.Note)
	}
	if ev.Explain != "" {
		b = append(b, `,"explain":`...)
		b = appendJSONString(b, ev.Explain)
	}
	return append(b, '}'), nil
}

func (e *Encoder) appendCall(b []byte, c *Call) []byte {
	if c.ID == 0 && c.Lane == "" { // an inferred call
		b = append(b, `,"id":0,"lane":"","op":`...)
	} else {
		b = append(b, `,"id":`...)
		b = appendInt(b, c.ID)
		b = append(b, `,"lane":`...)
		b = appendWord(b, c.Lane)
		b = append(b, `,"op":`...)
	}
	b = appendWord(b, string(c.Op))
	b = append(b, `,"fd":`...)
	b = appendInt(b, c.FD)
	b = append(b, `,"local":`...)
	b = e.appendEndpoint(b, c.Local, true)
	b = append(b, `,"remote":`...)
	b = e.appendEndpoint(b, c.Remote, true)
	if c.Proto == "tcp" {
		b = append(b, `,"proto":"tcp"`...)
	} else {
		b = appendStringOmit(b, `,"proto":`, c.Proto)
	}
	b = appendStringOmit(b, `,"family":`, c.Family)
	b = appendStringOmit(b, `,"type":`, c.Type)
	if c.Op == OpListen {
		b = append(b, `,"backlog":`...)
		b = appendInt(b, c.Backlog)
	}
	if c.Flags == 0 && c.How == "" && c.Option == "" && c.Len == 0 && c.Ret == 0 && c.Errno == "" && len(c.Data) == 0 && c.End.IsZero() {
		// An inferred call, or one without arguments that has not returned.
		b = append(b, `,"flags":0,"len":0,"ret":0,"errno":"","data":"","end":"","dur":0,"state":`...)
	} else {
		b = append(b, `,"flags":`...)
		b = appendInt(b, c.Flags)
		b = appendStringOmit(b, `,"how":`, c.How)
		b = appendStringOmit(b, `,"option":`, c.Option)
		b = append(b, `,"len":`...)
		b = appendInt(b, c.Len)
		b = append(b, `,"ret":`...)
		b = appendInt(b, c.Ret)
		b = append(b, `,"errno":`...)
		b = appendJSONString(b, c.Errno)
		b = append(b, `,"data":`...)
		b = appendEscapedData(b, c.Data)
		b = append(b, `,"end":`...)
		if c.End.IsZero() {
			b = append(b, `"","dur":0`...)
		} else {
			b = e.appendTime(b, c.End)
			b = append(b, `,"dur":`...)
			b = appendSeconds(b, c.End.Sub(c.Start))
		}
		b = append(b, `,"state":`...)
	}
	b = appendWord(b, string(c.State))
	if c.Line != 0 {
		b = append(b, `,"line":`...)
		b = appendInt(b, c.Line)
	}
	if c.HasBytes() {
		b = append(b, `,"bytes":[`...)
		b = appendUint(b, uint64(c.Bytes[0]))
		b = append(b, ',')
		b = appendUint(b, uint64(c.Bytes[1]))
		b = append(b, ']')
	}
	b = appendIntsOmit(b, `,"frames":[`, c.Frames)
	switch c.Inferred {
	case "":
		return b
	case InferredConnect:
		return append(b, `,"inferred":"`+InferredConnect+`"`...)
	case InferredListen:
		return append(b, `,"inferred":"`+InferredListen+`"`...)
	case InferredClose:
		return append(b, `,"inferred":"`+InferredClose+`"`...)
	case InferredAbort:
		return append(b, `,"inferred":"`+InferredAbort+`"`...)
	}
	b = append(b, `,"inferred":`...)
	return appendJSONString(b, c.Inferred)
}

func (e *Encoder) appendPacket(b []byte, p *Packet) []byte {
	b = append(b, `,"frame":`...)
	b = appendInt(b, p.Frame)
	switch p.Proto {
	case "tcp":
		b = append(b, `,"proto":"tcp","src":`...)
		b = e.appendEndpoint(b, p.Src, true)
		b = append(b, `,"dst":`...)
		b = e.appendEndpoint(b, p.Dst, true)
		b = append(b, `,"flags":`...)
		b = appendWord(b, p.Flags)
		b = append(b, `,"seq":`...)
		b = appendUint(b, uint64(p.Seq))
		b = append(b, `,"ack":`...)
		b = appendUint(b, uint64(p.Ack))
		b = append(b, `,"rseq":`...)
		b = appendUint(b, uint64(p.RSeq))
		b = append(b, `,"rack":`...)
		b = appendUint(b, uint64(p.RAck))
		b = append(b, `,"win":`...)
		b = appendInt(b, p.Win)
		if p.Options == "" {
			b = append(b, `,"options":"","len":`...)
		} else {
			b = append(b, `,"options":`...)
			b = appendJSONString(b, p.Options)
			b = append(b, `,"len":`...)
		}
	case "udp":
		b = append(b, `,"proto":"udp","src":`...)
		b = e.appendEndpoint(b, p.Src, true)
		b = append(b, `,"dst":`...)
		b = e.appendEndpoint(b, p.Dst, true)
		b = append(b, `,"len":`...)
	default:
		b = append(b, `,"proto":`...)
		b = appendJSONString(b, p.Proto)
		b = append(b, `,"src":`...)
		b = e.appendEndpoint(b, p.Src, false)
		b = append(b, `,"dst":`...)
		b = e.appendEndpoint(b, p.Dst, false)
		b = append(b, `,"len":`...)
	}
	b = appendInt(b, p.Len)
	if len(p.Payload) > 0 {
		b = append(b, `,"data":`...)
		b = appendEscapedData(b, p.Payload)
	}
	b = append(b, `,"conn":`...)
	b = appendInt(b, p.Conn)
	b = appendStringOmit(b, `,"info":`, p.Info)
	if p.Quoted[0].IsValid() {
		b = append(b, `,"quoted":[`...)
		b = appendJSONString(b, p.Quoted[0].String())
		b = append(b, ',')
		b = appendJSONString(b, p.Quoted[1].String())
		b = append(b, ']')
	}
	b = appendStringOmit(b, `,"error":`, p.Error)
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
	b = appendIntsOmit(b, `,"calls":[`, p.Calls)
	return appendStringOmit(b, `,"by":`, p.By)
}

func (e *Encoder) appendState(b []byte, s *StateChange) []byte {
	b = append(b, `,"endpoint":`...)
	b = e.appendEndpoint(b, s.Endpoint, true)
	if s.Peer.Addr().IsValid() {
		b = append(b, `,"peer":`...)
		b = e.appendEndpoint(b, s.Peer, true)
	}
	b = append(b, `,"conn":`...)
	b = appendInt(b, s.Conn)
	b = append(b, `,"from":`...)
	b = appendWord(b, string(s.From))
	b = append(b, `,"to":`...)
	b = appendWord(b, string(s.To))
	switch s.Source {
	case SourceInferred:
		b = append(b, `,"source":"inferred"`...)
	case SourceKernel:
		b = append(b, `,"source":"kernel"`...)
	default:
		b = append(b, `,"source":`...)
		b = appendJSONString(b, string(s.Source))
	}
	if s.TimeLeft != 0 {
		b = append(b, `,"time_left":`...)
		b = appendSeconds(b, s.TimeLeft)
	}
	return b
}

func appendNote(b []byte, n *Note) []byte {
	b = append(b, `,"level":`...)
	b = appendWord(b, n.Level)
	b = append(b, `,"text":`...)
	b = appendJSONString(b, n.Text)
	b = appendStringOmit(b, `,"topic":`, n.Topic)
	if n.Conn != 0 {
		b = append(b, `,"conn":`...)
		b = appendInt(b, n.Conn)
	}
	return b
}

type encodeError string

func (e encodeError) Error() string { return string(e) }

const errEmptyEvent = encodeError("encode: empty event")

// appendTime appends a time as formatTime renders it, in quotes. The date
// and time of day (`"2006-01-02T15:04:05.`) are kept for the last second
// seen; AppendFormat makes them, so that every year comes out as
// formatTime has it.
func (e *Encoder) appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, `""`...)
	}
	if sec := t.Unix(); sec != e.sec || e.secLen == 0 {
		p := append(e.secText[:0], '"')
		p = t.UTC().Truncate(time.Second).AppendFormat(p, "2006-01-02T15:04:05.")
		if len(p) > len(e.secText) { // a year of many digits
			b = append(b, p...)
			return appendFraction(b, t.Nanosecond())
		}
		e.sec, e.secLen = sec, len(p)
	}
	b = appendBlock(b, &e.secText, e.secLen)
	return appendFraction(b, t.Nanosecond())
}

// appendFraction appends the nine digits of ns (below 1e9) and `Z"`.
func appendFraction(b []byte, ns int) []byte {
	l := len(b)
	b = room(b, 11)[:l+11]
	d := b[l : l+11]
	v := uint32(ns)
	d[0] = byte('0' + v/1e8)
	binary.LittleEndian.PutUint64(d[1:9], digits8(v%1e8)|zeros8)
	d[9], d[10] = 'Z', '"'
	return b
}

// zeros8 is eight '0's in a word.
const zeros8 = 0x3030303030303030

// digits8 returns the eight decimal digits of v, below 1e8, as the bytes
// of a word (values 0 to 9, the most significant digit lowest: stored
// little-endian they read in order). Each step divides all lanes at once
// by a multiplication and a shift that is exact for the lanes' range.
func digits8(v uint32) uint64 {
	x := uint64(v/10000) | uint64(v%10000)<<32
	y := (x * 10486 >> 20) & 0x0000007f0000007f // the hundreds of each 32-bit lane (x < 10000)
	x = y | (x-y*100)<<16                       // 16-bit lanes of 0 to 99
	y = (x * 103 >> 10) & 0x000f000f000f000f    // the tens of each 16-bit lane (x < 100)
	return y | (x-y*10)<<8
}

// digitPairs holds "00" to "99".
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// appendUint appends v in decimal, as strconv.AppendUint does, eight
// digits at a time (digits8), written in place.
func appendUint(b []byte, v uint64) []byte {
	if v < 10 {
		return append(b, byte('0'+v))
	}
	if v >= 1e16 {
		return strconv.AppendUint(b, v, 10)
	}
	l := len(b)
	b = room(b, 16)
	if v < 1e8 {
		w := digits8(uint32(v))
		lead := bits.TrailingZeros64(w) / 8 // leading zero digits: the lowest bytes
		binary.LittleEndian.PutUint64(b[l:l+8], w>>(8*lead)|zeros8)
		return b[:l+8-lead]
	}
	w := digits8(uint32(v / 1e8))
	lead := bits.TrailingZeros64(w) / 8
	n := l + 8 - lead
	binary.LittleEndian.PutUint64(b[l:l+8], w>>(8*lead)|zeros8)
	binary.LittleEndian.PutUint64(b[n:n+8], digits8(uint32(v%1e8))|zeros8)
	return b[:n+8]
}

// room returns b with at least n bytes free beyond its length.
func room(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	return append(b, make([]byte, n)...)[:len(b)]
}

// appendBlock appends t[:n]. When n is at most 32 and b has room, it
// copies two 16-byte blocks, which the compiler does inline (a call to
// memmove costs more than the copy of a short text).
func appendBlock(b []byte, t *[endpointTextMax]byte, n int) []byte {
	l := len(b)
	if n > 32 || cap(b)-l < 32 {
		return append(b, t[:n]...)
	}
	b = b[:l+32]
	*(*[16]byte)(b[l:]) = *(*[16]byte)(t[0:])
	*(*[16]byte)(b[l+16:]) = *(*[16]byte)(t[16:])
	return b[:l+n]
}

// appendInt appends v in decimal, as strconv.AppendInt does.
func appendInt(b []byte, v int) []byte {
	if v >= 0 {
		return appendUint(b, uint64(v))
	}
	return appendUint(append(b, '-'), -uint64(v))
}

func appendStringOmit(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, key...)
	return appendJSONString(b, v)
}

// appendIntsOmit appends key (which opens the array) and v, unless v is
// empty.
func appendIntsOmit(b []byte, key string, v []int) []byte {
	if len(v) == 0 {
		return b
	}
	b = append(b, key...)
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendInt(b, x)
	}
	return append(b, ']')
}

// appendEndpoint appends FormatEndpoint(ep, withPort) as a JSON string.
// Addresses and ports need no escaping.
func (e *Encoder) appendEndpoint(b []byte, ep Endpoint, withPort bool) []byte {
	a := ep.Addr()
	switch {
	case a.Is4() && withPort:
		return e.v4.append(b, ep)
	case !a.IsValid():
		return append(b, `""`...)
	case !withPort:
		b = append(b, '"')
		b = a.AppendTo(b)
		return append(b, '"')
	}
	return e.v6.append(b, ep)
}

// v4Cache keeps the quoted text of IPv4 endpoints, one per slot, the
// slot chosen by a hash of the address and port.
type v4Cache struct {
	key  [v4Slots]uint64 // address<<16 | port, with bit 48 set when the slot is used
	text [v4Slots][32]byte
	n    [v4Slots]uint8
}

const v4Slots = 64

func (c *v4Cache) append(b []byte, ep Endpoint) []byte {
	ip := ep.Addr().As4()
	key := 1<<48 | uint64(binary.BigEndian.Uint32(ip[:]))<<16 | uint64(ep.Port())
	i := (key * 0x9e3779b97f4a7c15 >> 58) % v4Slots
	if c.key[i] == key {
		l := len(b)
		if cap(b)-l >= 32 {
			b = b[:l+32]
			*(*[16]byte)(b[l:]) = *(*[16]byte)(c.text[i][0:])
			*(*[16]byte)(b[l+16:]) = *(*[16]byte)(c.text[i][16:])
			return b[:l+int(c.n[i])]
		}
		return append(b, c.text[i][:c.n[i]]...)
	}
	l := len(b)
	b = append(b, '"')
	b = appendIPv4(b, ip)
	b = append(b, ':')
	b = appendUint(b, uint64(ep.Port()))
	b = append(b, '"')
	c.key[i] = key
	c.n[i] = uint8(copy(c.text[i][:], b[l:])) // at most 23 bytes
	return b
}

// v6Cache keeps the quoted text of the last few IPv6 endpoints
// written with their ports: a replay names the same few endpoints over
// and over, and netip takes a while to find an IPv6 address's text.
type v6Cache struct {
	ep   [4]Endpoint
	n    [4]uint8
	text [4][endpointTextMax]byte
	next uint8
}

// endpointTextMax bounds a cached text: `"[` an IPv6 address of eight
// groups `]:65535"`, with room for a short zone.
const endpointTextMax = 64

func (c *v6Cache) append(b []byte, ep Endpoint) []byte {
	for i := range c.ep {
		if c.ep[i] == ep && c.n[i] != 0 {
			return appendBlock(b, &c.text[i], int(c.n[i]))
		}
	}
	n := len(b)
	b = append(b, '"', '[')
	b = ep.Addr().AppendTo(b)
	b = append(b, ']', ':')
	b = appendUint(b, uint64(ep.Port()))
	b = append(b, '"')
	if text := b[n:]; len(text) <= endpointTextMax {
		i := c.next % uint8(len(c.ep))
		c.next++
		c.ep[i] = ep
		c.n[i] = uint8(copy(c.text[i][:], text))
	}
	return b
}

// appendIPv4 appends ip in dotted decimal, as netip.Addr.AppendTo does.
func appendIPv4(b []byte, ip [4]byte) []byte {
	for i, x := range ip {
		if i > 0 {
			b = append(b, '.')
		}
		switch {
		case x >= 100:
			r := (x % 100) * 2
			b = append(b, '0'+x/100, digitPairs[r], digitPairs[r+1])
		case x >= 10:
			b = append(b, digitPairs[x*2], digitPairs[x*2+1])
		default:
			b = append(b, '0'+x)
		}
	}
	return b
}

// appendEscapedData appends EscapeData(data) as a JSON string.
func appendEscapedData(b []byte, data []byte) []byte {
	b = append(b, '"')
	start := 0
	for i, c := range data {
		if dataPlain[c] {
			continue
		}
		b = append(b, data[start:i]...)
		start = i + 1
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
		default:
			b = append(b, `\\x`...)
			b = append(b, hexDigit[c>>4], hexDigit[c&0xf])
		}
	}
	b = append(b, data[start:]...)
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

// dataPlain marks the bytes EscapeData keeps and JSON holds as they are:
// jsonSafe but DEL.
var dataPlain = func() (t [256]bool) {
	t = jsonSafe
	t[0x7f] = false
	return t
}()

// appendSeconds appends d.Seconds() as encoding/json writes a float64.
// For an offset of fewer than 2⁵³ ns whose Seconds() is the float nearest
// its decimal value and which has at most 15 significant digits (DBL_DIG,
// so no shorter decimal names the same float), the shortest decimal that
// strconv finds is that value itself: it is printed from the integer.
// Others (Seconds() rounds twice and may land one float off, as for
// 2.625119 s) go through strconv.
func appendSeconds(b []byte, d time.Duration) []byte {
	a := uint64(d)
	if d < 0 {
		a = -a
	}
	if a >= 1<<53 {
		return appendJSONFloat(b, d.Seconds())
	}
	if a >= 1e9 && float64(a)/1e9 != math.Abs(d.Seconds()) {
		return appendJSONFloat(b, d.Seconds())
	}
	start := len(b)
	if d < 0 {
		b = append(b, '-')
	}
	switch {
	case a == 0:
		return append(b, '0')
	case a < 1000: // below 1e-6: 1e-9 … 9.99e-7
		exp := byte(9)
		for a%10 == 0 {
			a /= 10
			exp--
		}
		switch {
		case a < 10:
			b = append(b, byte('0'+a))
		case a < 100:
			b = append(b, byte('0'+a/10), '.', byte('0'+a%10))
			exp--
		default:
			b = append(b, byte('0'+a/100), '.', byte('0'+a/10%10), byte('0'+a%10))
			exp -= 2
		}
		return append(b, 'e', '-', '0'+exp)
	}
	sec, frac := a/1e9, uint32(a%1e9)
	intStart := len(b)
	b = appendUint(b, sec)
	if frac == 0 {
		return b
	}
	intEnd := len(b)
	// '.', the first fraction digit, the next eight, less trailing zeros.
	w := digits8(frac % 1e8)
	n := 2
	if w != 0 {
		n += 8 - bits.LeadingZeros64(w)/8
	}
	b = room(b, 10)[:intEnd+10]
	q := b[intEnd : intEnd+10]
	q[0], q[1] = '.', byte('0'+frac/1e8)
	binary.LittleEndian.PutUint64(q[2:10], w|zeros8)
	b = b[:intEnd+n]
	if sec != 0 && (intEnd-intStart)+(n-1) > 15 {
		return appendJSONFloat(b[:start], d.Seconds())
	}
	return b
}

// appendJSONFloat appends f, a finite float, as encoding/json does.
func appendJSONFloat(b []byte, f float64) []byte {
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
	return b
}

// appendWord appends s as appendJSONString does, the words of the
// vocabulary (states, ops, TCP flags, levels, lanes) as constants: that
// costs a few comparisons rather than a scan and a copy.
func appendWord(b []byte, s string) []byte {
	switch s {
	case "":
		return append(b, `""`...)
	case string(StateEstablished):
		return append(b, `"`+string(StateEstablished)+`"`...)
	case string(StateSynSent):
		return append(b, `"`+string(StateSynSent)+`"`...)
	case string(StateSynRecv):
		return append(b, `"`+string(StateSynRecv)+`"`...)
	case string(StateFinWait1):
		return append(b, `"`+string(StateFinWait1)+`"`...)
	case string(StateFinWait2):
		return append(b, `"`+string(StateFinWait2)+`"`...)
	case string(StateTimeWait):
		return append(b, `"`+string(StateTimeWait)+`"`...)
	case string(StateClosed):
		return append(b, `"`+string(StateClosed)+`"`...)
	case string(StateCloseWait):
		return append(b, `"`+string(StateCloseWait)+`"`...)
	case string(StateLastAck):
		return append(b, `"`+string(StateLastAck)+`"`...)
	case string(StateListen):
		return append(b, `"`+string(StateListen)+`"`...)
	case string(StateClosing):
		return append(b, `"`+string(StateClosing)+`"`...)
	case string(OpSocket):
		return append(b, `"`+string(OpSocket)+`"`...)
	case string(OpBind):
		return append(b, `"`+string(OpBind)+`"`...)
	case string(OpListen):
		return append(b, `"`+string(OpListen)+`"`...)
	case string(OpAccept):
		return append(b, `"`+string(OpAccept)+`"`...)
	case string(OpConnect):
		return append(b, `"`+string(OpConnect)+`"`...)
	case string(OpSend):
		return append(b, `"`+string(OpSend)+`"`...)
	case string(OpRecv):
		return append(b, `"`+string(OpRecv)+`"`...)
	case string(OpSendto):
		return append(b, `"`+string(OpSendto)+`"`...)
	case string(OpRecvfrom):
		return append(b, `"`+string(OpRecvfrom)+`"`...)
	case string(OpShutdown):
		return append(b, `"`+string(OpShutdown)+`"`...)
	case string(OpClose):
		return append(b, `"`+string(OpClose)+`"`...)
	case string(OpSetsockopt):
		return append(b, `"`+string(OpSetsockopt)+`"`...)
	case "S":
		return append(b, `"`+"S"+`"`...)
	case "S.":
		return append(b, `"`+"S."+`"`...)
	case ".":
		return append(b, `"`+"."+`"`...)
	case "P.":
		return append(b, `"`+"P."+`"`...)
	case "F.":
		return append(b, `"`+"F."+`"`...)
	case "FP.":
		return append(b, `"`+"FP."+`"`...)
	case "R":
		return append(b, `"`+"R"+`"`...)
	case "R.":
		return append(b, `"`+"R."+`"`...)
	case "info":
		return append(b, `"`+"info"+`"`...)
	case "warning":
		return append(b, `"`+"warning"+`"`...)
	case "error":
		return append(b, `"`+"error"+`"`...)
	case TopicSummary:
		return append(b, `"`+TopicSummary+`"`...)
	case "client":
		return append(b, `"`+"client"+`"`...)
	case "server":
		return append(b, `"`+"server"+`"`...)
	}
	return appendJSONString(b, s)
}

// appendJSONString appends s as encoding/json does (escaping HTML
// characters, replacing invalid UTF-8). Plain text is scanned eight bytes
// at a time and appended in one piece.
func appendJSONString(b []byte, s string) []byte {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		q := s[i : i+8]
		w := uint64(q[0]) | uint64(q[1])<<8 | uint64(q[2])<<16 | uint64(q[3])<<24 |
			uint64(q[4])<<32 | uint64(q[5])<<40 | uint64(q[6])<<48 | uint64(q[7])<<56
		if !plain8(w) {
			break
		}
	}
	for ; i < len(s) && jsonSafe[s[i]]; i++ {
	}
	b = append(b, '"')
	if i == len(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	return appendJSONStringFrom(b, s, i)
}

const (
	lows  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plain8 reports whether none of the eight bytes of w needs escaping in
// a JSON string: none below space or from 0x80 on, no quote, backslash,
// <, >, &. The test for a zero byte, (x-lows) &^ x & highs, is exact for
// "is there one", as is the one for a byte below space.
func plain8(w uint64) bool {
	bad := (w - 0x20*lows) &^ w & highs // a byte below 0x20
	bad |= w & highs                    // a byte from 0x80 on
	x := w&^(0x04*lows) ^ 0x22*lows     // " or &, which differ in bit 2 only
	bad |= (x - lows) &^ x & highs
	x = w&^(0x02*lows) ^ 0x3c*lows // < or >, which differ in bit 1 only
	bad |= (x - lows) &^ x & highs
	x = w ^ '\\'*lows
	bad |= (x - lows) &^ x & highs
	return bad == 0
}

// appendJSONStringFrom appends s, whose first i bytes need no escaping,
// and the closing quote; b already holds the opening one.
func appendJSONStringFrom(b []byte, s string, i int) []byte {
	start := 0
	for i < len(s) {
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
