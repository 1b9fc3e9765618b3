package decode

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sockscope/sockscope/decode/narrate"
	"github.com/sockscope/sockscope/trace"
)

// FuzzStream holds the streamed replay to what a user relies on, on
// arbitrary captures: TCP segments on a few 4-tuples (made as
// FuzzTCPStates makes them), UDP datagrams, ICMP errors, truncated and
// garbage frames, with timestamps that repeat, jump past the stream's idle
// limits (flowIdle, connIdle) and go backwards. The same frames go to
//
//   - Annotate, over the whole timeline, and a Stream whose window holds
//     the whole timeline: they are the same, line for line (StreamOptions'
//     documented guarantee for a timeline of at most Window events);
//   - a Stream with a tiny window (it goes eager after a frame or two),
//     as is; the same, Pipelined, releasing the frames shown before each
//     frame fed as a replay does (cmd/sockscope's releasingSink); the same,
//     not pipelined, releasing too; and pipelined, released, with
//     StreamOptions.EmitFrame taking the frames (without narration). Each
//     event is rendered as JSON when it is emitted, before anything is
//     released: the four emit the very same lines, with no error and no
//     panic;
//   - and every stream emits each frame's packet exactly once, in frame
//     order but where a window sorted a later frame of an earlier time
//     before an earlier one.
//
// The input is decoded by streamFuzzCapture.
func FuzzStream(f *testing.F) {
	for _, seed := range streamFuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkStream(t, streamFuzzCapture(t, in))
	})
}

// streamFuzzCase is a decoded FuzzStream input.
type streamFuzzCase struct {
	opts   AnnotateOptions
	window int           // the tiny streams' window
	note   int           // a note is recorded before frame note (-1: none)
	fs     []trace.Frame // numbered from 1 in order
}

// Header bits of a FuzzStream input.
const (
	sfInfer     = 1 << 0
	sfNoExplain = 1 << 1
	sfChinese   = 1 << 2
	sfNote      = 1 << 3 // record a note halfway: the eager mode ends there
	// bits 4–5: the window, 1 to 4; bits 6–7: the rounds, 1, 2, 4 or 8
)

// Control byte of a record.
const (
	sfOther = 3 // bits 0–1: a TCP 4-tuple 0–2, or 3: another kind of frame
	// bits 2–4: the time step (streamFuzzSteps); bits 5–6: the other kind
	// (sfUDP…); bit 7: a step back is a long one
	sfUDP, sfICMP, sfTrunc, sfGarbage = 0, 1, 2, 3
	sfBack                            = 7 // the step back
)

// streamFuzzSteps are the time steps a record's control byte chooses
// from: the same instant, a little, a sweep's worth, more than a UDP
// flow's and a TCP connection's idle limits, back.
var streamFuzzSteps = [8]time.Duration{0, time.Microsecond, time.Millisecond, time.Millisecond,
	sweepEvery + time.Millisecond, flowIdle + time.Millisecond, connIdle + time.Millisecond, -2 * time.Millisecond}

const (
	streamFuzzMaxRecords = 96
	streamFuzzTuples     = 3
)

// streamFuzzCapture decodes a FuzzStream input:
//
//	byte 0: the header (sfInfer …, the window, the rounds);
//	bytes 1–8: the ISNs of tuple 0, big-endian, client then server (the
//	  other tuples' are theirs plus k<<24);
//	then 5 bytes per frame: a control byte (tuple or kind, time step) and
//	  four bytes, on a TCP tuple a segment as stateFuzzSegments decodes it
//	  (each tuple's segments on their own: sequence numbers follow each
//	  tuple's ends), otherwise the kind's parameters.
//
// TCP tuple k is 127.0.0.1:4000k ⇄ 127.0.0.1:12345. The frames are
// repeated in rounds, each after the last, so that a pipelined stream has
// more frames than it hands over in one batch.
func streamFuzzCapture(tb testing.TB, in []byte) streamFuzzCase {
	c := streamFuzzCase{note: -1}
	hdr := byte(0)
	if len(in) > 0 {
		hdr, in = in[0], in[1:]
	}
	c.opts = AnnotateOptions{InferCalls: hdr&sfInfer != 0, NoExplain: hdr&sfNoExplain != 0}
	if hdr&sfChinese != 0 {
		c.opts.Lang = narrate.Chinese
	}
	c.window = 1 + int(hdr>>4&3)
	rounds := 1 << (hdr >> 6)
	isn := []byte{0xff, 0xff, 0xff, 0xf0, 0, 0, 0x03, 0xe8}
	if len(in) >= 8 {
		isn, in = in[:8], in[8:]
	}
	type record struct {
		ctl byte
		b   [4]byte
	}
	var recs []record
	perTuple := make([][]byte, streamFuzzTuples)
	for k := range perTuple {
		ci, si := binary.BigEndian.Uint32(isn), binary.BigEndian.Uint32(isn[4:])
		perTuple[k] = binary.BigEndian.AppendUint32(nil, ci+uint32(k)<<24)
		perTuple[k] = binary.BigEndian.AppendUint32(perTuple[k], si+uint32(k)<<24)
	}
	for len(in) >= 5 && len(recs) < streamFuzzMaxRecords {
		r := record{ctl: in[0], b: [4]byte(in[1:5])}
		in = in[5:]
		recs = append(recs, r)
		if k := int(r.ctl & 3); k != sfOther {
			perTuple[k] = append(perTuple[k], r.b[:]...)
		}
	}
	segs := make([][]fuzzSeg, streamFuzzTuples)
	for k := range segs {
		segs[k] = stateFuzzSegments(perTuple[k])
	}
	next := make([]int, streamFuzzTuples)

	udp := func(src, dst trace.Endpoint, data []byte) []byte {
		return ipPacket(tb, src, dst, layers.IPProtocolUDP,
			&layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}, data)
	}
	dns := netipAP("127.0.0.1:5353")
	at := t0
	var one []trace.Frame
	for _, r := range recs {
		step := streamFuzzSteps[r.ctl>>2&7]
		if r.ctl>>2&7 == sfBack && r.ctl&0x80 != 0 {
			step = -flowIdle - time.Millisecond
		}
		at = at.Add(step)
		b0, b1, b2, b3 := r.b[0], r.b[1], r.b[2], r.b[3]
		var fr trace.Frame
		if k := int(r.ctl & 3); k != sfOther {
			if next[k] >= len(segs[k]) {
				continue // beyond stateFuzzMaxSegs
			}
			sg := segs[k][next[k]]
			next[k]++
			fr = rawTCPFrame(sg, 0)
			port := 2 // the client's port is the destination's
			if !sg.fromServer {
				port = 0
			}
			binary.BigEndian.PutUint16(fr.Data[20+port:], fuzzCli.Port()+uint16(k))
		} else {
			var ip []byte
			cli := netip.AddrPortFrom(fuzzCli.Addr(), fuzzCli.Port()+uint16(b1%4))
			switch r.ctl >> 5 & 3 {
			case sfUDP:
				src, dst := cli, dns
				if b0&1 != 0 {
					src, dst = dst, src
				}
				ip = udp(src, dst, bytes.Repeat([]byte{'u'}, int(b3%16)))
			case sfICMP:
				code := uint8(3) // port unreachable
				if b2&1 != 0 {
					code = b2 >> 4
				}
				ip = ipPacket(tb, netipAP("127.0.0.1:0"), netipAP("127.0.0.1:0"), layers.IPProtocolICMPv4,
					&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, code)}, udp(cli, netipAP("127.0.0.1:9"), []byte("ping")))
			case sfTrunc: // a TCP segment cut short by the snap length
				fr = rawTCPFrame(fuzzSeg{fromServer: b0&0x80 != 0, flags: b0 & 0x3f, seq: uint32(b1) << 8, ack: uint32(b2), len: int(b3)}, 0)
				fr.Data = fr.Data[:int(b3)%40]
			case sfGarbage:
				fr = trace.Frame{LinkType: fuzzLinkTypes[int(b0)%len(fuzzLinkTypes)], Data: bytes.Repeat([]byte{b1, b2, b3}, int(b3%24))}
				fr.WireLen = len(fr.Data)
			}
			if ip != nil {
				fr = trace.Frame{LinkType: linkIPv4, Data: ip, WireLen: len(ip)}
			}
		}
		fr.Time = at
		one = append(one, fr)
	}
	if len(one) == 0 {
		return c
	}
	lo, hi := one[0].Time, one[0].Time
	for _, fr := range one {
		if fr.Time.Before(lo) {
			lo = fr.Time
		}
		if fr.Time.After(hi) {
			hi = fr.Time
		}
	}
	span := hi.Sub(lo) + time.Millisecond
	for r := range rounds {
		for _, fr := range one {
			fr.Time = fr.Time.Add(time.Duration(r) * span)
			c.fs = append(c.fs, fr)
		}
	}
	if hdr&sfNote != 0 {
		c.note = len(c.fs) / 2
	}
	return c
}

// checkStream runs a case through Annotate and the streams, and checks
// what FuzzStream lists.
func checkStream(t *testing.T, c streamFuzzCase) {
	note := func(i int) trace.Event {
		return trace.NoteEvent(&trace.Note{Time: c.fs[i].Time, Level: "info", Text: "a recorded note"})
	}

	// The whole timeline, as cmd/sockscope's buildTimeline makes it: the
	// frames' events first, then the recorded note.
	d := NewDecoder()
	var tl trace.Timeline
	for i := range c.fs {
		tl.Append(d.Feed(&c.fs[i], i+1)...)
	}
	if c.note >= 0 {
		tl.Append(note(c.note))
	}
	whole := tl.Snapshot()
	want := jsonLines(t, Annotate(whole, c.opts))
	var got []trace.Event
	st := NewStream(StreamOptions{AnnotateOptions: c.opts, Window: len(whole)}, func(ev trace.Event) error {
		got = append(got, ev)
		return nil
	})
	for i := range c.fs {
		if i == c.note {
			if err := st.Record(note(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Frame(&c.fs[i]); err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if gotLines := jsonLines(t, got); !slices.Equal(gotLines, want) {
		t.Log("a stream whose window holds the whole timeline is not Annotate:")
		sameLines(t, gotLines, want)
	}
	checkEmitOrder(t, "window holds all", got, c.fs)

	// The tiny windows.
	type run struct {
		name           string
		pipelined, rel bool
		byFrame        bool     // StreamOptions.EmitFrame too, as a replay without narration has it
		lines          []string // each event rendered when emitted
		frames         []int    // the frames of the packets emitted
	}
	runs := []*run{{name: "tiny window"}, {name: "pipelined, released", pipelined: true, rel: true}, {name: "released", rel: true},
		{name: "pipelined, released, by frame", pipelined: true, rel: true, byFrame: true}}
	for _, r := range runs {
		var buf bytes.Buffer
		enc := trace.NewEncoder(&buf, t0)
		var shown atomic.Int64 // the highest frame emitted, as cmd/sockscope's handoff keeps it
		emit := func(ev trace.Event) error {
			if err := enc.Encode(ev); err != nil {
				return err
			}
			if p := ev.Packet; p != nil {
				r.frames = append(r.frames, p.Frame)
				shown.Store(max(shown.Load(), int64(p.Frame)))
			}
			return nil
		}
		opts := StreamOptions{AnnotateOptions: c.opts, Window: c.window, Pipelined: r.pipelined}
		if r.byFrame {
			opts.EmitFrame = func(call *trace.Call, evs []trace.Event) error {
				if call != nil {
					if err := emit(trace.CallEvent(call)); err != nil {
						return err
					}
				}
				for _, ev := range evs {
					if err := emit(ev); err != nil {
						return err
					}
				}
				return nil
			}
		}
		st := NewStream(opts, emit)
		for i := range c.fs {
			if r.rel {
				if n := shown.Load(); n > 1 {
					st.Release(int(n) - 1) // the printer may still hold the last one's records
				}
			}
			if i == c.note {
				if err := st.Record(note(i)); err != nil {
					t.Fatalf("%s: record: %v", r.name, err)
				}
			}
			if err := st.Frame(&c.fs[i]); err != nil {
				t.Fatalf("%s: frame %d: %v", r.name, i+1, err)
			}
		}
		if err := st.Close(); err != nil {
			t.Fatalf("%s: close: %v", r.name, err)
		}
		if err := enc.Flush(); err != nil {
			t.Fatal(err)
		}
		r.lines = strings.Split(buf.String(), "\n")
		checkFrameOrder(t, r.name, r.frames, c.fs)
	}
	for _, r := range runs[1:] {
		if !slices.Equal(r.lines, runs[0].lines) {
			t.Logf("%s is not as %s:", r.name, runs[0].name)
			sameLines(t, r.lines, runs[0].lines)
		}
	}
}

// checkEmitOrder checks the packets of evs with checkFrameOrder.
func checkEmitOrder(t *testing.T, name string, evs []trace.Event, fs []trace.Frame) {
	t.Helper()
	var frames []int
	for _, ev := range evs {
		if ev.Packet != nil {
			frames = append(frames, ev.Packet.Frame)
		}
	}
	checkFrameOrder(t, name, frames, fs)
}

// checkFrameOrder checks that frames (the frame numbers of the packets a
// stream emitted, in order) name each frame of fs once, and that a frame
// comes out before an earlier one only if its time is earlier: a window
// sorts its events by time, an eager stream emits them as fed.
func checkFrameOrder(t *testing.T, name string, frames []int, fs []trace.Frame) {
	t.Helper()
	seen := make([]int, len(fs)+1)
	sorted := true
	for i, n := range frames {
		if n < 1 || n > len(fs) {
			t.Fatalf("%s: a packet of frame %d of %d", name, n, len(fs))
		}
		seen[n]++
		sorted = sorted && (i == 0 || frames[i-1] < n)
	}
	for n := 1; n <= len(fs); n++ {
		if seen[n] != 1 {
			t.Fatalf("%s: the packet of frame %d emitted %d times", name, n, seen[n])
		}
	}
	if sorted {
		return
	}
	for i, a := range frames {
		for _, b := range frames[i+1:] {
			if a > b && !fs[a-1].Time.Before(fs[b-1].Time) {
				t.Fatalf("%s: frame %d (at %v) emitted before frame %d (at %v)", name, a, fs[a-1].Time.Sub(t0), b, fs[b-1].Time.Sub(t0))
			}
		}
	}
}

// streamFuzzSeed builds a FuzzStream input.
type streamFuzzSeed []byte

func newStreamFuzzSeed(hdr byte) streamFuzzSeed {
	s := streamFuzzSeed{hdr}
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(s, storyCISS), storySISS)
}

// tcp adds the segments of a story of FuzzTCPStates on tuple k, step
// (an index of streamFuzzSteps) apart.
func (s streamFuzzSeed) tcp(k int, step byte, story []fuzzSeg) streamFuzzSeed {
	enc := encodeStateFuzz(storyCISS, storySISS, story)[8:]
	for ; len(enc) >= 4; enc = enc[4:] {
		s = append(s, byte(k)|step<<2)
		s = append(s, enc[:4]...)
	}
	return s
}

// other adds a frame of another kind (sfUDP …) with its parameters.
func (s streamFuzzSeed) other(kind, step byte, b0, b1, b2, b3 byte) streamFuzzSeed {
	return append(s, sfOther|step<<2|kind<<5, b0, b1, b2, b3)
}

// streamFuzzSeeds: a handshake, data and close; resets and a refused
// connection; idle gaps past the limits mid-connection; steps back in
// time, cut and garbage frames, with a note recorded halfway; and enough
// rounds for the pipeline to hand over batches while frames are fed.
func streamFuzzSeeds() [][]byte {
	st := stateFuzzStories()
	echo, fourway, refused, reset := st[0], st[1], st[4], st[6]
	const now, us, ms, sweep, flow, conn, back = 0, 1, 2, 4, 5, 6, 7
	var seeds []streamFuzzSeed
	seeds = append(seeds, newStreamFuzzSeed(sfInfer).tcp(0, ms, echo))
	seeds = append(seeds, newStreamFuzzSeed(sfInfer|sfNoExplain|1<<4).
		tcp(0, ms, reset[:5]).tcp(1, us, refused).tcp(0, now, reset[5:]))
	seeds = append(seeds, newStreamFuzzSeed(sfInfer).
		tcp(0, ms, echo[:6]).other(sfUDP, ms, 0, 1, 0, 3).other(sfUDP, us, 1, 1, 0, 6).
		tcp(0, conn, echo[6:7]).tcp(0, ms, echo[7:]). // the FIN after the connection was given up
		other(sfUDP, flow, 0, 1, 0, 3).other(sfICMP, ms, 0, 1, 0, 0).tcp(1, sweep, echo))
	seeds = append(seeds, newStreamFuzzSeed(sfChinese|sfNote|sfInfer|2<<4).
		tcp(2, ms, fourway[:4]).tcp(2, back, fourway[4:5]).other(sfTrunc, now, flagSYN|flagACK, 7, 7, 30).
		other(sfGarbage, back|4, 3, 0x45, 0, 20).tcp(2, ms, fourway[5:]))
	long := newStreamFuzzSeed(sfInfer | sfNoExplain | 3<<6)
	for k, story := range [][]fuzzSeg{echo, fourway, refused} {
		long = long.tcp(k, ms, story).other(sfUDP, us, byte(k), byte(k), 0, 4).other(sfUDP, us, byte(k)|1, byte(k), 0, 9)
	}
	seeds = append(seeds, long.tcp(0, sweep, reset).tcp(1, ms, reset))
	var out [][]byte
	for _, s := range seeds {
		out = append(out, s)
	}
	return out
}
