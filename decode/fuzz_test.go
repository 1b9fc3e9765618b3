package decode

import (
	"testing"

	"github.com/sockscope/sockscope/trace"
)

// FuzzDecode feeds arbitrary bytes under a link type, split into frames at
// a given length, and checks that every frame yields exactly one packet and
// that the decoder's invariants hold. The seed corpus under
// testdata/fuzz/FuzzDecode holds frames of every link type; more seeds come
// from the synthesised conversations.
func FuzzDecode(f *testing.F) {
	c := handshake(newConvo(f, 0xfffffffa, 5000)).c("FP.", "bye").s("F.", "").c(".", "")
	var all []byte
	for _, fr := range c.frames() {
		all = append(all, fr.Data...)
		f.Add(uint8(0), fr.Data, uint16(0))
	}
	f.Add(uint8(0), all, uint16(len(c.frames()[0].Data)))
	f.Fuzz(func(t *testing.T, lt uint8, data []byte, split uint16) {
		linkType := fuzzLinkTypes[int(lt)%len(fuzzLinkTypes)]
		d := NewDecoder()
		n := int(split)
		if n == 0 || n > len(data) {
			n = len(data)
		}
		frameNo := 0
		for len(data) > 0 || frameNo == 0 {
			k := min(n, len(data))
			// Feed every chunk twice: retransmissions and repeated SYNs
			// exercise the connection tracker.
			for range 2 {
				frameNo++
				fr := trace.Frame{LinkType: linkType, Data: data[:k], WireLen: k}
				check(t, d, d.Feed(&fr, frameNo), frameNo)
			}
			data = data[k:]
		}
		for _, c := range d.Conns() {
			_ = d.State(c.ID, c.Client)
		}
	})
}

// fuzzLinkTypes are the link types the fuzzer picks from by index: every
// supported one and one that is not.
var fuzzLinkTypes = []int{1, 0, 108, 101, 12, 14, 228, 229, 113, 276, 147}

func check(t *testing.T, d *Decoder, evs []trace.Event, frameNo int) {
	if len(evs) == 0 || evs[0].Packet == nil || evs[0].Kind != trace.KindPacket {
		t.Fatalf("frame %d: no packet event first: %v", frameNo, evs)
	}
	p := evs[0].Packet
	if p.Frame != frameNo || len(p.Payload) > trace.MaxData || p.Len < 0 {
		t.Fatalf("frame %d: bad packet %+v", frameNo, p)
	}
	switch p.Proto {
	case "tcp", "udp":
	case "icmp", "icmp6", "other":
		if p.Conn != 0 {
			t.Fatalf("frame %d: conn %d for %s", frameNo, p.Conn, p.Proto)
		}
	default:
		t.Fatalf("frame %d: proto %q", frameNo, p.Proto)
	}
	if p.Conn < 0 || p.Conn > len(d.Conns()) {
		t.Fatalf("frame %d: conn %d of %d", frameNo, p.Conn, len(d.Conns()))
	}
	for _, e := range evs[1:] {
		s := e.State
		if s == nil || s.Conn != p.Conn || s.From == s.To || s.Source != trace.SourceInferred || d.State(s.Conn, s.Endpoint) == trace.StateUnknown {
			t.Fatalf("frame %d: bad state event %+v", frameNo, s)
		}
	}
}
