package trace

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestFastJSONMatchesEncodingJSON: the hand-written encoder writes every
// kind of event, with every field set or not and with awkward strings,
// byte for byte as encoding/json writes the schema structs.
func TestFastJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "hello", `quote " and \ backslash`, "<html> & co", "tab\tnew\nline\rcr\bbs\ffeed\x01\x1f", "ünïcödé 中文", "bad \xff utf8", "sep \u2028 \u2029", "ESTABLISHED",
		InferredConnect, InferredListen, InferredClose, InferredAbort, "P.", "client", "info", TopicSummary}
	str := func() string {
		if r.IntN(3) == 0 {
			return ""
		}
		return strs[r.IntN(len(strs))]
	}
	// often zero, as in inferred calls
	num := func(n int) int { return r.IntN(2) * r.IntN(n) }
	eps := []Endpoint{{}, netip.MustParseAddrPort("127.0.0.1:80"), netip.MustParseAddrPort("[::1]:443"), netip.MustParseAddrPort("[fe80::1%lo]:9"), netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), 0)}
	ep := func() Endpoint { return eps[r.IntN(len(eps))] }
	data := func() []byte {
		if r.IntN(3) == 0 {
			return nil
		}
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	}
	ints := func() []int {
		if r.IntN(2) == 0 {
			return nil
		}
		return []int{r.IntN(100), r.IntN(1 << 30)}
	}
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	at := func() time.Time {
		switch r.IntN(6) {
		case 0:
			return time.Time{}
		case 1:
			return base.Add(-time.Duration(r.Int64N(1e12)))
		case 2:
			return time.Date(10500, 1, 1, 0, 0, 0, 5, time.UTC)
		}
		return base.Add(time.Duration(r.Int64N(1e13))).In(time.FixedZone("x", 3600))
	}
	for i := 0; i < 5000; i++ {
		var ev Event
		switch i % 4 {
		case 0:
			c := &Call{ID: num(1000), Lane: str(), Op: []Op{OpListen, OpSend, OpRecv, OpConnect, OpClose}[r.IntN(5)], FD: r.IntN(20) - 1,
				Local: ep(), Remote: ep(), Proto: str(), Family: str(), Type: str(), Backlog: r.IntN(5), Flags: num(3),
				How: str(), Option: str(), Len: num(5000), Ret: num(5000) - r.IntN(2), Errno: str(), Data: data(),
				Start: at(), End: at(), State: State(str()), Line: r.IntN(3), Frames: ints(), Inferred: str()}
			if r.IntN(2) == 0 {
				c.Bytes = [2]uint32{r.Uint32(), r.Uint32()}
			}
			ev = CallEvent(c)
		case 1:
			p := &Packet{Frame: r.IntN(1 << 20), Time: at(), Proto: []string{"tcp", "udp", "icmp", "other"}[r.IntN(4)], Src: ep(), Dst: ep(),
				Flags: str(), Seq: r.Uint32(), Ack: r.Uint32(), RSeq: r.Uint32(), RAck: r.Uint32(), Win: r.IntN(70000), Options: str(),
				Len: r.IntN(70000) - 1, Payload: data(), Conn: r.IntN(10), Info: str(), Error: str(), Calls: ints(), By: str()}
			if r.IntN(2) == 0 {
				p.Quoted = [2]Endpoint{ep(), ep()}
			}
			if r.IntN(2) == 0 {
				p.Analysis = []string{str(), AnalysisDupAck}
			} else if r.IntN(2) == 0 {
				p.Analysis = []string{}
			}
			ev = PacketEvent(p)
		case 2:
			ev = StateEvent(&StateChange{Time: at(), Endpoint: ep(), Peer: ep(), Conn: r.IntN(5), From: State(str()), To: State(str()),
				Source: Source(str()), TimeLeft: time.Duration(r.Int64N(3)) * time.Duration(r.Int64N(1e11))})
		case 3:
			ev = NoteEvent(&Note{Time: at(), Level: str(), Text: str(), Topic: str(), Conn: r.IntN(3)})
		}
		if r.IntN(2) == 0 {
			ev.Explain = str()
		}
		rel := []time.Duration{0, 100, 500 * time.Millisecond, 1234567*time.Second + 1000, -3, 2625119 * time.Microsecond,
			time.Duration(r.Int64N(1e9)), time.Duration(r.Int64N(1 << 62)), math.MinInt64}[r.IntN(9)]
		want, err := marshalEvent(ev, rel.Seconds())
		if err != nil {
			t.Fatal(err)
		}
		var e Encoder
		got, err := e.appendEvent(nil, ev, rel)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("event %d:\n fast %s\n json %s", i, got, want)
		}
	}
}

// replayEvents makes the events a replay of a capture made by another
// tool gives for n short TCP connections one after the other, as
// cmd/mkcapture writes them (a request, an answer, the client closing
// first, 7 µs between frames) and as the JSON of a replay without
// --explain carries them: inferred calls, packets with empty options,
// inferred states and a summary note per connection, no narration.
func replayEvents(n int) []Event {
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	server := netip.MustParseAddrPort("127.0.0.1:12345")
	var evs []Event
	frame := 0
	for c := 1; c <= n; c++ {
		client := netip.AddrPortFrom(server.Addr(), uint16(32768+(c-1)%28000))
		cseq, sseq := uint32(c*7919), uint32(c*104729)
		var t time.Time
		pkt := func(from, to Endpoint, flags string, seq, ack, rseq, rack uint32, data string) {
			frame++
			t = base.Add(time.Duration(frame-1) * 7 * time.Microsecond)
			p := &Packet{Frame: frame, Time: t, Proto: "tcp", Src: from, Dst: to, Flags: flags, Seq: seq, Ack: ack, RSeq: rseq, RAck: rack,
				Win: 512, Len: len(data), Conn: c}
			if data != "" {
				p.Payload = []byte(data)
			}
			evs = append(evs, PacketEvent(p))
		}
		state := func(ep Endpoint, from, to State) {
			evs = append(evs, StateEvent(&StateChange{Time: t, Endpoint: ep, Conn: c, From: from, To: to, Source: SourceInferred}))
		}
		call := func(op Op, local, remote Endpoint, inferred string) {
			evs = append(evs, CallEvent(&Call{Op: op, Local: local, Remote: remote, Proto: "tcp",
				Start: base.Add(time.Duration(frame) * 7 * time.Microsecond), Frames: []int{frame + 1}, Inferred: inferred}))
		}
		req, resp := fmt.Sprintf("hello %d", c), fmt.Sprintf("[Sun Nov 22 10:00:00 2026] hello %d", c)
		rl, sl := uint32(len(req)), uint32(len(resp))
		call(OpConnect, client, server, InferredConnect)
		pkt(client, server, "S", cseq, 0, 0, 0, "")
		state(client, StateClosed, StateSynSent)
		call(OpListen, server, client, InferredListen)
		pkt(server, client, "S.", sseq, cseq+1, 0, 1, "")
		state(server, StateListen, StateSynRecv)
		state(client, StateSynSent, StateEstablished)
		pkt(client, server, ".", cseq+1, sseq+1, 1, 1, "")
		state(server, StateSynRecv, StateEstablished)
		pkt(client, server, "P.", cseq+1, sseq+1, 1, 1, req)
		pkt(server, client, ".", sseq+1, cseq+1+rl, 1, 1+rl, "")
		pkt(server, client, "P.", sseq+1, cseq+1+rl, 1, 1+rl, resp)
		pkt(client, server, ".", cseq+1+rl, sseq+1+sl, 1+rl, 1+sl, "")
		call(OpClose, client, server, InferredClose)
		pkt(client, server, "F.", cseq+1+rl, sseq+1+sl, 1+rl, 1+sl, "")
		state(client, StateEstablished, StateFinWait1)
		state(server, StateEstablished, StateCloseWait)
		call(OpClose, server, client, InferredClose)
		pkt(server, client, "F.", sseq+1+sl, cseq+2+rl, 1+sl, 2+rl, "")
		state(server, StateCloseWait, StateLastAck)
		state(client, StateFinWait1, StateFinWait2)
		state(client, StateFinWait2, StateTimeWait)
		pkt(client, server, ".", cseq+2+rl, sseq+2+sl, 2+rl, 2+sl, "")
		state(server, StateLastAck, StateClosed)
		evs = append(evs, NoteEvent(&Note{Time: t, Level: "info", Topic: TopicSummary, Conn: c,
			Text: fmt.Sprintf("Connection %d: normal open and close, the client closed first; %d bytes from the client, %d bytes from the server.", c, rl, sl)}))
	}
	return evs
}

// BenchmarkEncode: ns per event, for each kind of event a replay writes
// (from the events of 50 connections, in time order, few enough to stay
// in the cache as a replay's fresh events are) and for the mix
// of them; packet-explain is a packet with its narration.
func BenchmarkEncode(b *testing.B) {
	all := replayEvents(50)
	pick := func(keep func(Event) bool) []Event {
		var evs []Event
		for _, ev := range all {
			if keep(ev) {
				evs = append(evs, ev)
			}
		}
		return evs
	}
	narrated := PacketEvent(&Packet{Frame: 12, Time: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), Proto: "tcp",
		Src: netip.MustParseAddrPort("127.0.0.1:40000"), Dst: netip.MustParseAddrPort("127.0.0.1:80"),
		Flags: "P.", Seq: 1000, Ack: 2000, RSeq: 1, RAck: 1, Win: 512, Len: 5, Payload: []byte("hello"), Conn: 1})
	narrated.Explain = strings.Repeat("some narration ", 8)
	for _, bc := range []struct {
		name string
		evs  []Event
	}{
		{"mix", all},
		{"packet", pick(func(ev Event) bool { return ev.Packet != nil && ev.Packet.Payload == nil })},
		{"packet-data", pick(func(ev Event) bool { return ev.Packet != nil && ev.Packet.Payload != nil })},
		{"state", pick(func(ev Event) bool { return ev.State != nil })},
		{"call", pick(func(ev Event) bool { return ev.Call != nil })},
		{"note", pick(func(ev Event) bool { return ev.Note != nil })},
		{"packet-explain", []Event{narrated}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			enc := NewEncoder(discard{}, time.Time{})
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := enc.Encode(bc.evs[i]); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(bc.evs) {
					i = 0
				}
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestAppendSecondsMatchesStrconv: offsets printed from the integer are
// the digits encoding/json gives Duration.Seconds(): every offset below
// 1.001 ms (below 2 µs with both signs), and random ones of every size,
// around 2⁵³ ns and at 15 and 16 significant digits.
func TestAppendSecondsMatchesStrconv(t *testing.T) {
	check := func(d time.Duration) {
		t.Helper()
		want := appendJSONFloat(nil, d.Seconds())
		if got := appendSeconds([]byte("x"), d); string(got[1:]) != string(want) {
			t.Fatalf("%d ns: %s, want %s", int64(d), got[1:], want)
		}
	}
	for d := time.Duration(0); d < 1e6+1000; d++ {
		check(d)
		if d < 2000 {
			check(-d)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 500_000 {
		d := time.Duration(r.Int64N(1 << uint(r.IntN(63))))
		switch r.IntN(4) {
		case 0:
			d = d / 1000 * 1000 // whole microseconds, as captures have
		case 1:
			d = 1<<53 + time.Duration(r.Int64N(2000)) - 1000
		case 2:
			d = time.Duration(r.Int64N(1e7))*time.Second + time.Duration(r.Int64N(1e9))
		}
		if r.IntN(2) == 0 {
			d = -d
		}
		check(d)
	}
	for _, d := range []time.Duration{math.MinInt64, math.MaxInt64, math.MinInt64 + 1, 2625119 * time.Microsecond, 999999999999999, 9999999999999999} {
		check(d)
	}
}

func TestAppendUintAndIPv4(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 1_000_000 {
		v := uint64(i)
		if i > 200000 {
			v = r.Uint64() >> uint(r.IntN(64))
		}
		if got, want := appendUint(nil, v), strconv.AppendUint(nil, v, 10); string(got) != string(want) {
			t.Fatalf("%d: %s", v, got)
		}
		if got, want := appendInt(nil, -int(v>>1)), strconv.AppendInt(nil, -int64(v>>1), 10); string(got) != string(want) {
			t.Fatalf("%d: %s", -int(v>>1), got)
		}
	}
	for x := range 256 {
		ip := [4]byte{byte(x), byte(255 - x), byte(x * 7), byte(x / 3)}
		if got, want := appendIPv4(nil, ip), netip.AddrFrom4(ip).String(); string(got) != want {
			t.Fatalf("%v: %s", ip, got)
		}
	}
}

// TestPlain8: the eight-byte test agrees with the byte table on every
// byte at every place, and on random words.
func TestPlain8(t *testing.T) {
	word := func(b [8]byte) uint64 {
		var w uint64
		for i := 7; i >= 0; i-- {
			w = w<<8 | uint64(b[i])
		}
		return w
	}
	safe := func(b [8]byte) bool {
		for _, c := range b {
			if !jsonSafe[c] || c >= utf8.RuneSelf {
				return false
			}
		}
		return true
	}
	for _, fill := range []byte{'a', ' ', 0x7f, '"', 0x80, 0, '<'} {
		for c := range 256 {
			for at := range 8 {
				var b [8]byte
				for i := range b {
					b[i] = fill
				}
				b[at] = byte(c)
				if plain8(word(b)) != safe(b) {
					t.Fatalf("%q: plain8 %v", b, plain8(word(b)))
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(8, 9))
	for range 1_000_000 {
		var b [8]byte
		for i := range b {
			b[i] = byte(0x20 + r.IntN(0x60+r.IntN(2)*0x20))
		}
		if plain8(word(b)) != safe(b) {
			t.Fatalf("%q: plain8 %v", b, plain8(word(b)))
		}
	}
}

// TestDigits8: the word of digits, stored, reads as %08d: every value
// below 2·10⁶ and a million random ones.
func TestDigits8(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	for i := range 3_000_000 {
		v := uint32(i)
		if i >= 2_000_000 {
			v = r.Uint32N(1e8)
		}
		w := digits8(v)
		for k := 7; k >= 0; k-- {
			if got := byte(w >> (8 * k)); got != byte(v%10) {
				t.Fatalf("%d: digit %d is %d", v, k, got)
			}
			v /= 10
		}
	}
}

// TestAppendWord: the vocabulary's constants are what appendJSONString
// makes of the words, and other strings go through it.
func TestAppendWord(t *testing.T) {
	words := []string{"", "client", "server", "info", "warning", "error", TopicSummary, "S", "S.", ".", "P.", "F.", "FP.", "R", "R.",
		"client2", "ESTABLISHED ", "<", "é", "\x00"}
	for _, s := range []State{StateEstablished, StateSynSent, StateSynRecv, StateFinWait1, StateFinWait2, StateTimeWait, StateClosed,
		StateCloseWait, StateLastAck, StateListen, StateClosing} {
		words = append(words, string(s))
	}
	for _, o := range []Op{OpSocket, OpBind, OpListen, OpAccept, OpConnect, OpSend, OpRecv, OpSendto, OpRecvfrom, OpShutdown, OpClose, OpSetsockopt} {
		words = append(words, string(o))
	}
	for _, w := range words {
		if got, want := appendWord([]byte("x"), w), appendJSONString([]byte("x"), w); string(got) != string(want) {
			t.Errorf("%q: %s, want %s", w, got, want)
		}
	}
}

// TestReplayEventsMatchEncodingJSON: the benchmark's events, the common
// shapes the fast paths are for (inferred calls, packets with empty
// options, inferred states, summaries), as encoding/json writes them.
func TestReplayEventsMatchEncodingJSON(t *testing.T) {
	evs := replayEvents(3)
	var e Encoder
	for i, ev := range evs {
		for _, explain := range []string{"", "why & how"} {
			ev.Explain = explain
			rel := time.Duration(i) * 7 * time.Microsecond
			want, err := marshalEvent(ev, rel.Seconds())
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.appendEvent(nil, ev, rel)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("event %d:\n fast %s\n json %s", i, got, want)
			}
		}
	}
}
