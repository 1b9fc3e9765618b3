package decode

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/sockscope/sockscope/trace"
)

// t0 is the time of the first synthesised frame.
var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// seg describes one TCP segment of a synthesised conversation.
type seg struct {
	fromClient bool
	flags      string // tcpdump letters: any of "FSRPUEW." ("." = ACK)
	seq, ack   uint32 // absolute
	data       string
	opts       []layers.TCPOption
	win        uint16
	zeroWin    bool // send a window of 0 (win 0 means the default, 512)
}

// endpoints of a synthesised conversation.
var (
	cliAP  = netip.MustParseAddrPort("127.0.0.1:40000")
	srvAP  = netip.MustParseAddrPort("127.0.0.1:12345")
	cli6AP = netip.MustParseAddrPort("[::1]:40000")
	srv6AP = netip.MustParseAddrPort("[::1]:12345")
)

// tcpLayer builds the TCP header of s.
func tcpLayer(s seg, src, dst netip.AddrPort) *layers.TCP {
	t := &layers.TCP{
		SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: s.seq, Ack: s.ack, Window: s.win, Options: s.opts,
	}
	if t.Window == 0 && !s.zeroWin {
		t.Window = 512
	}
	for _, c := range s.flags {
		switch c {
		case 'F':
			t.FIN = true
		case 'S':
			t.SYN = true
		case 'R':
			t.RST = true
		case 'P':
			t.PSH = true
		case 'U':
			t.URG = true
		case 'E':
			t.ECE = true
		case 'W':
			t.CWR = true
		case 'e':
			t.NS = true
		case '.':
			t.ACK = true
		}
	}
	return t
}

// ipPacket serialises an IPv4 or IPv6 packet (chosen by the addresses)
// carrying the transport layer tl and payload.
func ipPacket(tb testing.TB, src, dst netip.AddrPort, proto layers.IPProtocol, tl gopacket.SerializableLayer, payload []byte) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	var nl gopacket.SerializableLayer
	if src.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, Flags: layers.IPv4DontFragment,
			SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
		nl = ip
		if c, ok := tl.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			_ = c.SetNetworkLayerForChecksum(ip)
		}
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto,
			SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
		nl = ip
		if c, ok := tl.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			_ = c.SetNetworkLayerForChecksum(ip)
		}
	}
	ls := []gopacket.SerializableLayer{nl}
	if tl != nil {
		ls = append(ls, tl)
	}
	ls = append(ls, gopacket.Payload(payload))
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// tcpPacket is the IP packet of one segment.
func tcpPacket(tb testing.TB, s seg, cli, srv netip.AddrPort) []byte {
	src, dst := cli, srv
	if !s.fromClient {
		src, dst = srv, cli
	}
	return ipPacket(tb, src, dst, layers.IPProtocolTCP, tcpLayer(s, src, dst), []byte(s.data))
}

// withLink wraps an IP packet in the link-layer header of linkType.
func withLink(tb testing.TB, linkType int, ip []byte) []byte {
	tb.Helper()
	v6 := ip[0]>>4 == 6
	etype := uint16(0x0800)
	if v6 {
		etype = 0x86dd
	}
	var hdr []byte
	switch linkType {
	case 1: // Ethernet
		hdr = make([]byte, 14) // zero MAC addresses, as on lo
		binary.BigEndian.PutUint16(hdr[12:], etype)
	case -1: // Ethernet with an 802.1Q tag (link type 1)
		hdr = make([]byte, 18)
		binary.BigEndian.PutUint16(hdr[12:], 0x8100)
		binary.BigEndian.PutUint16(hdr[14:], 42)
		binary.BigEndian.PutUint16(hdr[16:], etype)
	case 0: // NULL, host (little-endian) order
		hdr = make([]byte, 4)
		fam := uint32(2)
		if v6 {
			fam = 30
		}
		binary.LittleEndian.PutUint32(hdr, fam)
	case -2: // NULL written on a big-endian host
		hdr = make([]byte, 4)
		fam := uint32(2)
		if v6 {
			fam = 24
		}
		binary.BigEndian.PutUint32(hdr, fam)
	case 108: // LOOP, network order
		hdr = make([]byte, 4)
		fam := uint32(2)
		if v6 {
			fam = 28
		}
		binary.BigEndian.PutUint32(hdr, fam)
	case 101, 12, 14, 228, 229:
	case 113: // LINUX_SLL
		hdr = make([]byte, 16)
		binary.BigEndian.PutUint16(hdr[0:], 0)   // to us
		binary.BigEndian.PutUint16(hdr[2:], 772) // ARPHRD_LOOPBACK
		binary.BigEndian.PutUint16(hdr[4:], 6)   // address length
		binary.BigEndian.PutUint16(hdr[14:], etype)
	case 276: // LINUX_SLL2
		hdr = make([]byte, 20)
		binary.BigEndian.PutUint16(hdr[0:], etype)
		binary.BigEndian.PutUint32(hdr[4:], 1)   // ifindex
		binary.BigEndian.PutUint16(hdr[8:], 772) // ARPHRD_LOOPBACK
		hdr[10] = 0                              // to us
		hdr[11] = 6
	default:
		tb.Fatalf("withLink: link type %d", linkType)
	}
	return append(hdr, ip...)
}

// frames makes the frames of a conversation, one millisecond apart, as
// Ethernet (the link type tcpdump writes for lo).
func frames(tb testing.TB, segs []seg) []trace.Frame {
	return framesOn(tb, segs, cliAP, srvAP, 1)
}

func framesOn(tb testing.TB, segs []seg, cli, srv netip.AddrPort, linkType int) []trace.Frame {
	tb.Helper()
	var fs []trace.Frame
	for i, s := range segs {
		b := withLink(tb, linkType, tcpPacket(tb, s, cli, srv))
		lt := linkType
		if lt < 0 {
			lt = 1
		}
		fs = append(fs, trace.Frame{Time: t0.Add(time.Duration(i) * time.Millisecond), LinkType: lt, Data: b, WireLen: len(b)})
	}
	return fs
}

// writePcap writes frames as a classic pcap file (all of one link type).
func writePcap(tb testing.TB, path string, fs []trace.Frame) {
	tb.Helper()
	lt := 1
	if len(fs) > 0 {
		lt = fs[0].LinkType
	}
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b[0:], 0xa1b23c4d) // nanosecond pcap
	binary.LittleEndian.PutUint16(b[4:], 2)
	binary.LittleEndian.PutUint16(b[6:], 4)
	binary.LittleEndian.PutUint32(b[16:], 262144)
	binary.LittleEndian.PutUint32(b[20:], uint32(lt))
	for _, f := range fs {
		var h [16]byte
		binary.LittleEndian.PutUint32(h[0:], uint32(f.Time.Unix()))
		binary.LittleEndian.PutUint32(h[4:], uint32(f.Time.Nanosecond()))
		binary.LittleEndian.PutUint32(h[8:], uint32(len(f.Data)))
		wl := f.WireLen
		if wl < len(f.Data) {
			wl = len(f.Data)
		}
		binary.LittleEndian.PutUint32(h[12:], uint32(wl))
		b = append(b, h[:]...)
		b = append(b, f.Data...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// Typical Linux SYN options and the data segments' timestamp option.
func synOpts(tsval, tsecr uint32) []layers.TCPOption {
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0xff, 0xd7}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		tsOpt(tsval, tsecr),
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}
}

func tsOpt(val, ecr uint32) layers.TCPOption {
	d := make([]byte, 8)
	binary.BigEndian.PutUint32(d, val)
	binary.BigEndian.PutUint32(d[4:], ecr)
	return layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: d}
}

func dataOpts(val, ecr uint32) []layers.TCPOption {
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		tsOpt(val, ecr),
	}
}

// convo builds a TCP conversation, keeping each side's next sequence
// number, the way Linux would number it.
type convo struct {
	tb         testing.TB
	cseq, sseq uint32
	ts         uint32
	segs       []seg
}

func newConvo(tb testing.TB, ciss, siss uint32) *convo {
	return &convo{tb: tb, cseq: ciss, sseq: siss, ts: 1000}
}

// c sends a segment from the client with the given tcpdump flags and data;
// the ack is the server's next sequence number.
func (c *convo) c(flags, data string) *convo { return c.send(true, flags, data) }

// s sends a segment from the server.
func (c *convo) s(flags, data string) *convo { return c.send(false, flags, data) }

func (c *convo) send(fromClient bool, flags, data string) *convo {
	mine, theirs := &c.cseq, &c.sseq
	if !fromClient {
		mine, theirs = theirs, mine
	}
	sg := seg{fromClient: fromClient, flags: flags, seq: *mine, data: data}
	if strings.Contains(flags, ".") {
		sg.ack = *theirs
	}
	c.ts++
	if strings.Contains(flags, "S") {
		sg.opts = synOpts(c.ts, 0)
		sg.win = 65495
	} else if !strings.Contains(flags, "R") {
		sg.opts = dataOpts(c.ts, c.ts-1)
	}
	*mine += uint32(len(data))
	if strings.ContainsAny(flags, "SF") {
		*mine++
	}
	c.segs = append(c.segs, sg)
	return c
}

// raw appends a segment exactly as given (for retransmissions and resets).
func (c *convo) raw(s seg) *convo {
	c.segs = append(c.segs, s)
	return c
}

func (c *convo) frames() []trace.Frame { return frames(c.tb, c.segs) }

// played is the outcome of feeding frames to a new decoder.
type played struct {
	d     *Decoder
	evs   [][]trace.Event // the events of each frame
	lines []string        // the story of each frame, see play
}

// feedAll feeds frames to a new decoder, recording after each frame its
// events and the story line:
//
//	"S.  client SYN_SENT>ESTABLISHED  | ESTABLISHED SYN_RECV"
//
// that is the flags, the state changes with "client"/"server" for the
// connection's endpoints, and both ends' states after the frame.
func feedAll(fs []trace.Frame) (*Decoder, [][]trace.Event) {
	p := play(fs)
	return p.d, p.evs
}

func play(fs []trace.Frame) *played {
	pl := &played{d: NewDecoder()}
	d := pl.d
	for i := range fs {
		ev := d.Feed(&fs[i], i+1)
		pl.evs = append(pl.evs, ev)
		p := ev[0].Packet
		line := p.Flags
		if p.Proto != "tcp" {
			line = p.Proto
		}
		var cl, sv trace.Endpoint
		if p.Conn > 0 {
			c := d.Conns()[p.Conn-1]
			cl, sv = c.Client, c.Server
		}
		for _, e := range ev[1:] {
			who := "server"
			if e.State.Endpoint == cl {
				who = "client"
			}
			line += fmt.Sprintf("  %s %s>%s", who, e.State.From, e.State.To)
		}
		if p.Proto == "tcp" {
			line += fmt.Sprintf("  | %s %s", d.State(p.Conn, cl), d.State(p.Conn, sv))
		}
		pl.lines = append(pl.lines, line)
	}
	return pl
}

// checkStory compares story lines, reporting each difference.
func checkStory(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d frames, want %d", len(got), len(want))
	}
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if norm(g) != norm(w) {
			t.Errorf("frame %d:\n got %s\nwant %s", i+1, g, w)
		}
	}
}

// norm collapses runs of spaces so that tables can be aligned freely.
func norm(s string) string { return strings.Join(strings.Fields(s), " ") }
