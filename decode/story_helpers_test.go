package decode

import (
	"strings"
	"testing"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// story synthesises a whole timeline: the segments on the wire and the
// socket calls of the two programs, on one clock that advances 100 µs per
// step, numbering sequence space the way Linux does.
type story struct {
	tb         testing.TB
	at         time.Duration
	segs       []timed
	calls      []*trace.Call
	extra      []trace.Event // kernel states, already complete
	cseq, sseq uint32
	cli, srv   trace.Endpoint
}

func newStory(tb testing.TB) *story {
	return &story{tb: tb, cseq: 1000, sseq: 5000, cli: cliAP, srv: srvAP}
}

func (s *story) tick() time.Time {
	s.at += 100 * time.Microsecond
	return t0.Add(s.at)
}

// seg puts a segment on the wire; the ACK number is the peer's next
// sequence number unless ack says otherwise.
func (s *story) seg(fromClient bool, flags, data string) *story {
	mine, theirs := &s.cseq, &s.sseq
	if !fromClient {
		mine, theirs = theirs, mine
	}
	sg := seg{fromClient: fromClient, flags: flags, seq: *mine, data: data}
	if strings.Contains(flags, ".") {
		sg.ack = *theirs
	}
	if strings.Contains(flags, "S") {
		sg.opts, sg.win = synOpts(1, 0), 65495
	} else if !strings.Contains(flags, "R") {
		sg.opts = dataOpts(2, 1)
	}
	*mine += uint32(len(data))
	if strings.ContainsAny(flags, "SF") {
		*mine++
	}
	s.tick()
	s.segs = append(s.segs, timed{s.at, sg})
	return s
}

func (s *story) c(flags, data string) *story { return s.seg(true, flags, data) }
func (s *story) s(flags, data string) *story { return s.seg(false, flags, data) }

// call enters a call now; done returns it.
func (s *story) call(lane string, op trace.Op, ret int, data string) *trace.Call {
	c := &trace.Call{ID: len(s.calls) + 1, Lane: lane, Op: op, FD: 3, Proto: "tcp", Ret: ret, Start: s.tick()}
	if data != "" {
		c.Data = []byte(data)
		c.Len = len(data)
	}
	switch lane {
	case "client":
		c.Local, c.Remote = s.cli, s.srv
	case "server":
		c.Local, c.Remote = s.srv, s.cli
	}
	switch op {
	case trace.OpSocket:
		c.Local, c.Remote = trace.Endpoint{}, trace.Endpoint{}
	case trace.OpBind, trace.OpListen:
		c.Remote = trace.Endpoint{}
	}
	s.calls = append(s.calls, c)
	return c
}

func (s *story) done(c *trace.Call) *story {
	c.End = s.tick()
	return s
}

// instant is a call that returns before anything else happens.
func (s *story) instant(lane string, op trace.Op, ret int, data string) *trace.Call {
	c := s.call(lane, op, ret, data)
	s.done(c)
	return c
}

// timeline decodes the segments and merges them with the calls, as
// cmd/sockscope's buildTimeline does.
func (s *story) timeline() []trace.Event {
	fs := timedFrames(s.tb, s.segs)
	d := NewDecoder()
	var tl trace.Timeline
	for i := range fs {
		tl.Append(d.Feed(&fs[i], i+1)...)
	}
	for _, c := range s.calls {
		tl.Append(trace.CallEvent(c))
	}
	tl.Append(s.extra...)
	return tl.Snapshot()
}

// annotated is the story's timeline through Annotate, in English.
func (s *story) annotated() []trace.Event {
	return Annotate(s.timeline(), AnnotateOptions{})
}

// echoStory is the tcp-echo tutorial: the server listens and accepts, the
// client connects, sends "hello", reads the echo, closes first.
func echoStory(tb testing.TB) *story {
	st := newStory(tb)
	st.instant("server", trace.OpSocket, 3, "").Type = "SOCK_STREAM"
	st.instant("server", trace.OpBind, 0, "")
	st.instant("server", trace.OpListen, 0, "").Backlog = 5
	st.instant("client", trace.OpSocket, 3, "").Type = "SOCK_STREAM"
	conn := st.call("client", trace.OpConnect, 0, "")
	st.c("S", "").s("S.", "").c(".", "")
	st.done(conn)
	acc := st.call("server", trace.OpAccept, 4, "")
	acc.Local, acc.Remote = st.srv, st.cli
	st.done(acc)
	snd := st.call("client", trace.OpSend, 5, "hello")
	st.c("P.", "hello").s(".", "")
	st.done(snd)
	rcv := st.call("server", trace.OpRecv, 5, "hello")
	rcv.Len = 1024
	st.done(rcv)
	echo := st.call("server", trace.OpSend, 5, "hello")
	st.s("P.", "hello").c(".", "")
	st.done(echo)
	st.instant("client", trace.OpRecv, 5, "hello").Len = 1024
	cl := st.call("client", trace.OpClose, 0, "")
	st.c("F.", "")
	st.done(cl)
	st.instant("server", trace.OpRecv, 0, "").Len = 1024
	scl := st.call("server", trace.OpClose, 0, "")
	st.s("F.", "").c(".", "")
	st.done(scl)
	lcl := st.instant("server", trace.OpClose, 0, "")
	lcl.Remote = trace.Endpoint{}
	return st
}

// byFrame indexes the packets of a timeline by frame number.
func byFrame(evs []trace.Event) map[int]*trace.Packet {
	m := map[int]*trace.Packet{}
	for _, ev := range evs {
		if ev.Packet != nil {
			m[ev.Packet.Frame] = ev.Packet
		}
	}
	return m
}

// callsOf returns the annotated calls by id.
func callsOf(evs []trace.Event) map[int]*trace.Call {
	m := map[int]*trace.Call{}
	for _, ev := range evs {
		if ev.Call != nil {
			m[ev.Call.ID] = ev.Call
		}
	}
	return m
}

// notesOf returns the notes of a topic.
func notesOf(evs []trace.Event, topic string) []*trace.Note {
	var out []*trace.Note
	for _, ev := range evs {
		if ev.Note != nil && ev.Note.Topic == topic {
			out = append(out, ev.Note)
		}
	}
	return out
}
