package trace

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"
)

// TimeLayout is the JSON Lines time format: RFC 3339 with nanoseconds, UTC.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// The JSON Lines schema, one struct per kind so that zero values (fd 0,
// errno "") are written rather than omitted. Field order is the output order.
type jsonHead struct {
	Kind Kind    `json:"kind"`
	Time string  `json:"time"`
	Rel  float64 `json:"rel"`
}

type jsonCall struct {
	jsonHead
	ID       int        `json:"id"`
	Lane     string     `json:"lane"`
	Op       Op         `json:"op"`
	FD       int        `json:"fd"`
	Local    string     `json:"local"`
	Remote   string     `json:"remote"`
	Proto    string     `json:"proto,omitempty"`
	Family   string     `json:"family,omitempty"`
	Type     string     `json:"type,omitempty"`
	Backlog  *int       `json:"backlog,omitempty"`
	Flags    int        `json:"flags"`
	How      string     `json:"how,omitempty"`
	Option   string     `json:"option,omitempty"`
	Len      int        `json:"len"`
	Ret      int        `json:"ret"`
	Errno    string     `json:"errno"`
	Data     string     `json:"data"`
	End      string     `json:"end"`
	Dur      float64    `json:"dur"`
	State    State      `json:"state"`
	Line     int        `json:"line,omitempty"`
	Bytes    *[2]uint32 `json:"bytes,omitempty"`
	Frames   []int      `json:"frames,omitempty"`
	Inferred string     `json:"inferred,omitempty"`
	jsonTail
}

// jsonTail holds the fields every kind ends with.
type jsonTail struct {
	Explain string `json:"explain,omitempty"`
}

type jsonPacket struct {
	jsonHead
	Frame    int      `json:"frame"`
	Proto    string   `json:"proto"`
	Src      string   `json:"src"`
	Dst      string   `json:"dst"`
	Flags    *string  `json:"flags,omitempty"`
	Seq      *uint32  `json:"seq,omitempty"`
	Ack      *uint32  `json:"ack,omitempty"`
	RSeq     *uint32  `json:"rseq,omitempty"`
	RAck     *uint32  `json:"rack,omitempty"`
	Win      *int     `json:"win,omitempty"`
	Options  *string  `json:"options,omitempty"`
	Len      int      `json:"len"`
	Data     string   `json:"data,omitempty"`
	Conn     int      `json:"conn"`
	Info     string   `json:"info,omitempty"`
	Quoted   []string `json:"quoted,omitempty"`
	Error    string   `json:"error,omitempty"`
	Analysis []string `json:"analysis,omitempty"`
	Calls    []int    `json:"calls,omitempty"`
	By       string   `json:"by,omitempty"`
	jsonTail
}

type jsonState struct {
	jsonHead
	Endpoint string  `json:"endpoint"`
	Peer     string  `json:"peer,omitempty"`
	Conn     int     `json:"conn"`
	From     State   `json:"from"`
	To       State   `json:"to"`
	Source   Source  `json:"source"`
	TimeLeft float64 `json:"time_left,omitempty"`
	jsonTail
}

type jsonNote struct {
	jsonHead
	Level string `json:"level"`
	Text  string `json:"text"`
	Topic string `json:"topic,omitempty"`
	Conn  int    `json:"conn,omitempty"`
	jsonTail
}

// FormatEndpoint renders an endpoint as "ip:port" ("[ip6]:port"), or as the
// bare address when withPort is false; "" when it is not set.
func FormatEndpoint(e Endpoint, withPort bool) string {
	if !e.Addr().IsValid() {
		return ""
	}
	if !withPort {
		return e.Addr().String()
	}
	return e.String()
}

// HasPorts reports whether packets of proto carry ports.
func HasPorts(proto string) bool { return proto == "tcp" || proto == "udp" }

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeLayout)
}

// Encoder writes events as JSON Lines.
type Encoder struct {
	w    io.Writer
	err  error  // the first write error; every later call returns it
	buf  []byte // lines not yet written to w
	base time.Time

	baseSec  int64 // base as Unix seconds and nanoseconds
	baseNsec int
	baseMono bool // base has a monotonic clock reading, which t.Sub uses

	sec     int64                 // the second secText renders
	secLen  int                   // the length of secText; 0 when none yet
	secText [endpointTextMax]byte // `"2006-01-02T15:04:05.` of sec
	v4      v4Cache
	v6      v6Cache
}

// encodeBuffer is the size of the lines an Encoder gathers before it
// writes them out.
const encodeBuffer = 64 << 10

// NewEncoder returns an encoder writing to w. rel is counted from base; a
// zero base means "from the first event encoded". Lines are buffered:
// call Flush at the end.
func NewEncoder(w io.Writer, base time.Time) *Encoder {
	e := &Encoder{w: w, buf: make([]byte, 0, encodeBuffer)}
	e.setBase(base)
	return e
}

// maxSecs bounds the offsets from the base that Encode works out itself:
// within ±285 years a Duration does not overflow.
const maxSecs = 9e9

func (e *Encoder) setBase(t time.Time) {
	e.base, e.baseSec, e.baseNsec = t, t.Unix(), t.Nanosecond()
	e.baseMono = t != t.Round(0)
}

// Encode writes one event as one line.
func (e *Encoder) Encode(ev Event) error {
	if e.err != nil {
		return e.err
	}
	t := ev.Time()
	if e.base.IsZero() {
		e.setBase(t)
	}
	var rel time.Duration
	if ds := t.Unix() - e.baseSec; !e.baseMono && ds > -maxSecs && ds < maxSecs {
		// t.Sub(e.base) without its overflow test: the base has no
		// monotonic clock reading, and the offset fits a Duration.
		rel = time.Duration(ds)*time.Second + time.Duration(t.Nanosecond()-e.baseNsec)
	} else {
		rel = t.Sub(e.base)
	}
	b, err := e.appendEvent(e.buf, ev, rel)
	if err != nil {
		return err
	}
	e.buf = append(b, '\n')
	if len(e.buf) >= encodeBuffer-encodeBuffer/8 {
		return e.Flush()
	}
	return nil
}

// marshalEvent renders one event as its JSON Lines object.
func marshalEvent(ev Event, rel float64) ([]byte, error) {
	head := jsonHead{Kind: ev.Kind, Time: formatTime(ev.Time()), Rel: rel}
	tail := jsonTail{Explain: ev.Explain}
	var v any
	switch {
	case ev.Call != nil:
		j := callJSON(head, ev.Call)
		j.jsonTail = tail
		v = j
	case ev.Packet != nil:
		j := packetJSON(head, ev.Packet)
		j.jsonTail = tail
		v = j
	case ev.State != nil:
		s := ev.State
		v = jsonState{jsonHead: head, Endpoint: FormatEndpoint(s.Endpoint, true), Peer: FormatEndpoint(s.Peer, true),
			Conn: s.Conn, From: s.From, To: s.To, Source: s.Source, TimeLeft: s.TimeLeft.Seconds(), jsonTail: tail}
	case ev.Note != nil:
		v = jsonNote{jsonHead: head, Level: ev.Note.Level, Text: ev.Note.Text, Topic: ev.Note.Topic, Conn: ev.Note.Conn, jsonTail: tail}
	default:
		return nil, fmt.Errorf("encode: empty event")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ev.Kind, err)
	}
	return b, nil
}

// Flush writes out buffered lines.
func (e *Encoder) Flush() error {
	if e.err != nil || len(e.buf) == 0 {
		return e.err
	}
	n, err := e.w.Write(e.buf)
	if err == nil && n < len(e.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		e.err = err
		return err
	}
	e.buf = e.buf[:0]
	return nil
}

func callJSON(head jsonHead, c *Call) jsonCall {
	j := jsonCall{
		jsonHead: head, ID: c.ID, Lane: c.Lane, Op: c.Op, FD: c.FD,
		Local: FormatEndpoint(c.Local, true), Remote: FormatEndpoint(c.Remote, true),
		Proto: c.Proto, Family: c.Family, Type: c.Type, Flags: c.Flags, How: c.How, Option: c.Option,
		Len: c.Len, Ret: c.Ret, Errno: c.Errno, Data: EscapeData(c.Data),
		End: formatTime(c.End), State: c.State, Line: c.Line, Frames: c.Frames, Inferred: c.Inferred,
	}
	if c.HasBytes() {
		b := c.Bytes
		j.Bytes = &b
	}
	if !c.End.IsZero() {
		j.Dur = c.End.Sub(c.Start).Seconds()
	}
	if c.Op == OpListen {
		b := c.Backlog
		j.Backlog = &b
	}
	return j
}

func packetJSON(head jsonHead, p *Packet) jsonPacket {
	ports := HasPorts(p.Proto)
	j := jsonPacket{
		jsonHead: head, Frame: p.Frame, Proto: p.Proto,
		Src: FormatEndpoint(p.Src, ports), Dst: FormatEndpoint(p.Dst, ports),
		Len: p.Len, Data: EscapeData(p.Payload), Conn: p.Conn, Info: p.Info, Error: p.Error,
		Analysis: p.Analysis, Calls: p.Calls, By: p.By,
	}
	if p.Quoted[0].IsValid() {
		j.Quoted = []string{p.Quoted[0].String(), p.Quoted[1].String()}
	}
	if p.Proto == "tcp" {
		j.Flags, j.Seq, j.Ack, j.RSeq, j.RAck, j.Win, j.Options = &p.Flags, &p.Seq, &p.Ack, &p.RSeq, &p.RAck, &p.Win, &p.Options
	}
	return j
}

// Decoder reads events written by an Encoder.
type Decoder struct {
	s    *bufio.Scanner
	line int
}

// NewDecoder returns a decoder reading JSON Lines from r.
func NewDecoder(r io.Reader) *Decoder {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 16*1024*1024)
	return &Decoder{s: s}
}

// Decode reads the next event; it returns io.EOF at the end.
func (d *Decoder) Decode() (Event, error) {
	for d.s.Scan() {
		d.line++
		b := d.s.Bytes()
		if len(b) == 0 {
			continue
		}
		ev, err := decodeLine(b)
		if err != nil {
			return Event{}, fmt.Errorf("line %d: %w", d.line, err)
		}
		return ev, nil
	}
	if err := d.s.Err(); err != nil {
		return Event{}, err
	}
	return Event{}, io.EOF
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func parseEndpoint(s string) (Endpoint, error) {
	if s == "" {
		return Endpoint{}, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return Endpoint{}, fmt.Errorf("bad address %q", s)
	}
	return netip.AddrPortFrom(a, 0), nil
}

func decodeLine(b []byte) (Event, error) {
	var head jsonHead
	if err := json.Unmarshal(b, &head); err != nil {
		return Event{}, err
	}
	t, err := parseTime(head.Time)
	if err != nil {
		return Event{}, err
	}
	switch head.Kind {
	case KindCall:
		var j jsonCall
		if err := json.Unmarshal(b, &j); err != nil {
			return Event{}, err
		}
		c, err := j.call(t)
		ev := CallEvent(c)
		ev.Explain = j.Explain
		return ev, err
	case KindPacket:
		var j jsonPacket
		if err := json.Unmarshal(b, &j); err != nil {
			return Event{}, err
		}
		p := &Packet{Frame: j.Frame, Time: t, Proto: j.Proto, Len: j.Len, Conn: j.Conn, Info: j.Info, Error: j.Error,
			Analysis: j.Analysis, Calls: j.Calls, By: j.By}
		if p.Src, err = parseEndpoint(j.Src); err != nil {
			return Event{}, err
		}
		if p.Dst, err = parseEndpoint(j.Dst); err != nil {
			return Event{}, err
		}
		if len(j.Quoted) == 2 {
			for k := range p.Quoted {
				if p.Quoted[k], err = parseEndpoint(j.Quoted[k]); err != nil {
					return Event{}, err
				}
			}
		}
		if p.Payload, err = UnescapeData(j.Data); err != nil {
			return Event{}, err
		}
		if len(p.Payload) == 0 {
			p.Payload = nil
		}
		if j.Flags != nil {
			p.Flags = *j.Flags
		}
		for _, f := range []struct {
			dst *uint32
			src *uint32
		}{{&p.Seq, j.Seq}, {&p.Ack, j.Ack}, {&p.RSeq, j.RSeq}, {&p.RAck, j.RAck}} {
			if f.src != nil {
				*f.dst = *f.src
			}
		}
		if j.Win != nil {
			p.Win = *j.Win
		}
		if j.Options != nil {
			p.Options = *j.Options
		}
		ev := PacketEvent(p)
		ev.Explain = j.Explain
		return ev, nil
	case KindState:
		var j jsonState
		if err := json.Unmarshal(b, &j); err != nil {
			return Event{}, err
		}
		ep, err := parseEndpoint(j.Endpoint)
		if err != nil {
			return Event{}, err
		}
		peer, err := parseEndpoint(j.Peer)
		if err != nil {
			return Event{}, err
		}
		ev := StateEvent(&StateChange{Time: t, Endpoint: ep, Peer: peer, Conn: j.Conn, From: j.From, To: j.To, Source: j.Source,
			TimeLeft: time.Duration(math.Round(j.TimeLeft * float64(time.Second)))})
		ev.Explain = j.Explain
		return ev, nil
	case KindNote:
		var j jsonNote
		if err := json.Unmarshal(b, &j); err != nil {
			return Event{}, err
		}
		ev := NoteEvent(&Note{Time: t, Level: j.Level, Text: j.Text, Topic: j.Topic, Conn: j.Conn})
		ev.Explain = j.Explain
		return ev, nil
	}
	return Event{}, fmt.Errorf("unknown kind %q", head.Kind)
}

func (j *jsonCall) call(start time.Time) (*Call, error) {
	c := &Call{
		ID: j.ID, Lane: j.Lane, Op: j.Op, FD: j.FD, Proto: j.Proto, Family: j.Family, Type: j.Type,
		Flags: j.Flags, How: j.How, Option: j.Option, Len: j.Len, Ret: j.Ret, Errno: j.Errno,
		Start: start, State: j.State, Line: j.Line, Frames: j.Frames, Inferred: j.Inferred,
	}
	if j.Bytes != nil {
		c.Bytes = *j.Bytes
	}
	if j.Backlog != nil {
		c.Backlog = *j.Backlog
	}
	var err error
	if c.Local, err = parseEndpoint(j.Local); err != nil {
		return nil, err
	}
	if c.Remote, err = parseEndpoint(j.Remote); err != nil {
		return nil, err
	}
	if c.End, err = parseTime(j.End); err != nil {
		return nil, err
	}
	if c.Data, err = UnescapeData(j.Data); err != nil {
		return nil, err
	}
	if len(c.Data) == 0 {
		c.Data = nil
	}
	return c, nil
}
