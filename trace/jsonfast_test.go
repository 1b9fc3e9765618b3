package trace

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestFastJSONMatchesEncodingJSON: the hand-written encoder writes every
// kind of event, with every field set or not and with awkward strings,
// byte for byte as encoding/json writes the schema structs.
func TestFastJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "hello", `quote " and \ backslash`, "<html> & co", "tab\tnew\nline\rcr\bbs\ffeed\x01\x1f", "ünïcödé 中文", "bad \xff utf8", "sep \u2028 \u2029", "ESTABLISHED"}
	str := func() string { return strs[r.IntN(len(strs))] }
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
			c := &Call{ID: r.IntN(1000), Lane: str(), Op: []Op{OpListen, OpSend, OpRecv, OpConnect}[r.IntN(4)], FD: r.IntN(20) - 1,
				Local: ep(), Remote: ep(), Proto: str(), Family: str(), Type: str(), Backlog: r.IntN(5), Flags: r.IntN(3),
				How: str(), Option: str(), Len: r.IntN(5000), Ret: r.IntN(5000) - 1, Errno: str(), Data: data(),
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
		rel := []float64{0, 1e-7, 0.5, 1234567.000001, 1e22, -3e-9, float64(r.Int64N(1e9)) / 1e9}[r.IntN(7)]
		want, err := marshalEvent(ev, rel)
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

// BenchmarkEncode: one packet line with its narration.
func BenchmarkEncode(b *testing.B) {
	p := &Packet{Frame: 12, Time: time.Now(), Proto: "tcp", Src: netip.MustParseAddrPort("127.0.0.1:40000"), Dst: netip.MustParseAddrPort("127.0.0.1:80"),
		Flags: "P.", Seq: 1000, Ack: 2000, RSeq: 1, RAck: 1, Win: 512, Len: 5, Payload: []byte("hello"), Conn: 1}
	ev := PacketEvent(p)
	ev.Explain = strings.Repeat("some narration ", 8)
	enc := NewEncoder(discard{}, time.Time{})
	b.ReportAllocs()
	for b.Loop() {
		if err := enc.Encode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
