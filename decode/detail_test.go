package decode

import (
	"strings"
	"testing"
)

// layerText flattens Layers for assertions: "TCP flags=SYN" per field.
func layerText(ls []Layer) string {
	var sb strings.Builder
	for _, l := range ls {
		for _, f := range l.Fields {
			sb.WriteString(l.Name + " " + f.Name + "=" + f.Value + "\n")
		}
	}
	return sb.String()
}

// TestSynDetailShowsOptionsAndWindowScale: the detail view of a Linux SYN
// names every header field and spells out the options a student asks about.
func TestSynDetailShowsOptionsAndWindowScale(t *testing.T) {
	fs := newConvo(t, 1000, 5000).c("S", "").frames()
	got := layerText(Layers(fs[0].LinkType, fs[0].Data))
	for _, want := range []string{
		"Ethernet type=IPv4 (0x0800)",
		"IPv4 source=127.0.0.1",
		"IPv4 protocol=TCP (6)",
		"TCP source port=40000",
		"TCP destination port=12345",
		"TCP sequence number=1000 (absolute)",
		"TCP flags=SYN",
		"TCP window=65495 (unscaled)",
		"TCP option=MSS 65495 bytes",
		"TCP option=SACK permitted",
		"TCP option=window scale 7 (multiply by 128)",
		"TCP payload=0 bytes",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

// TestDataSegmentDetailOnEveryLinkType: the same data segment reads the same
// whatever link layer the capture used, including bare IPv6 (229).
func TestDataSegmentDetailOnEveryLinkType(t *testing.T) {
	c := newConvo(t, 1000, 5000).c("S", "").s("S.", "").c(".", "").c("P.", "hello")
	for _, lt := range []int{0, 1, 101, 108, 113, 228, 276} {
		fs := framesOn(t, c.segs, cliAP, srvAP, lt)
		got := layerText(Layers(fs[3].LinkType, fs[3].Data))
		if !strings.Contains(got, "TCP flags=ACK PSH\n") || !strings.Contains(got, "TCP payload=5 bytes\n") {
			t.Errorf("link type %d:\n%s", lt, got)
		}
	}
	fs := framesOn(t, c.segs, cli6AP, srv6AP, 229)
	if got := layerText(Layers(229, fs[3].Data)); !strings.Contains(got, "IPv6 source=::1\n") || !strings.Contains(got, "TCP payload=5 bytes\n") {
		t.Errorf("IPv6:\n%s", got)
	}
}

// TestTruncatedFrameDetailIsAnErrorLayer: a frame cut inside its TCP header
// shows what could be decoded, then the error, and never panics.
func TestTruncatedFrameDetailIsAnErrorLayer(t *testing.T) {
	fs := newConvo(t, 1000, 5000).c("S", "").frames()
	for n := 0; n < len(fs[0].Data); n++ {
		ls := Layers(1, fs[0].Data[:n])
		if n == 14+20+10 {
			got := layerText(ls)
			if !strings.Contains(got, "IPv4 source=127.0.0.1") || !strings.Contains(got, "Error reason=") {
				t.Errorf("cut at %d:\n%s", n, got)
			}
		}
	}
	if got := layerText(Layers(9999, []byte{1, 2})); !strings.Contains(got, "unsupported link type 9999") {
		t.Errorf("unknown link type: %s", got)
	}
}
