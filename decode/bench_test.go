package decode

import (
	"strings"
	"testing"

	"github.com/sockscope/sockscope/trace"
)

// benchConversation is a tutorial echo session: handshake, 50 request and
// reply pairs with their ACKs, and the three-segment close.
func benchConversation(b testing.TB, withOptions bool) []trace.Frame {
	c := handshake(newConvo(b, 1000, 5000))
	for range 50 {
		c.c("P.", "hello, world").s(".", "").s("P.", "hello, world").c(".", "")
	}
	c.c("F.", "").s("F.", "").c(".", "")
	if !withOptions {
		for i := range c.segs {
			c.segs[i].opts = nil
		}
	}
	return c.frames()
}

// BenchmarkDecode feeds a conversation over and over (each round is a new
// connection on the same tuple) and reports the cost per frame. Packets,
// payload copies, options strings, state changes and event slices come
// from slabs: no allocation per frame in steady state.
func BenchmarkDecode(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts bool
	}{{"timestamps", true}, {"no-options", false}} {
		b.Run(tc.name, func(b *testing.B) {
			fs := benchConversation(b, tc.opts)
			d := NewDecoder()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d.Feed(&fs[i%len(fs)], i+1)
				i++
			}
		})
	}
	// The layer decoding alone, into one reused packet: no connection
	// tracking, no copies. layers-only takes the fast path, as Feed does
	// for these frames; layers-gopacket the gopacket path that every
	// other frame takes.
	for _, tc := range []struct {
		name       string
		layersOnly bool
	}{{"layers-only", false}, {"layers-gopacket", true}} {
		b.Run(tc.name, func(b *testing.B) {
			fs := benchConversation(b, true)
			ld := newLayerDecoder()
			ld.layersOnly = tc.layersOnly
			var p trace.Packet
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f := &fs[i%len(fs)]
				p = trace.Packet{}
				_, p.Payload, _ = ld.decode(&p, f.LinkType, f.Data)
				i++
			}
		})
	}
}

// TestDecodeAllocations pins the allocation budget BenchmarkDecode shows.
func TestDecodeAllocations(t *testing.T) {
	if strings.Contains(t.Name(), "race") {
		t.Skip()
	}
	for _, tc := range []struct {
		opts bool
		max  float64
	}{{false, 0.1}, {true, 0.1}} {
		fs := benchConversation(t, tc.opts)
		d := NewDecoder()
		for i := range fs { // warm up: the first round opens the maps and slabs
			d.Feed(&fs[i], i+1)
		}
		i := 0
		n := testing.AllocsPerRun(2000, func() {
			d.Feed(&fs[i%len(fs)], i+1)
			i++
		})
		if n > tc.max {
			t.Errorf("options %v: %.2f allocations per frame, want ≤ %.1f", tc.opts, n, tc.max)
		}
	}
}
