package decode

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sockscope/sockscope/internal/testcorpus"
	"github.com/sockscope/sockscope/trace"
)

// The fast path (decodeFast) must fill a packet exactly as the gopacket path
// (decodeLayers) does, and must leave alone every frame it cannot decode so.
// These tests run both over the shared corpus of odd captures, over
// synthesised frames of every link type and header variant, over every cut
// of them and over mutations and garbage; FuzzFastFrame goes on from there.

// compareDecode decodes one frame through both paths and reports any
// difference; it returns whether the fast path took the frame.
func compareDecode(t testing.TB, ld *layerDecoder, linkType int, data []byte) bool {
	t.Helper()
	var fast, slow trace.Packet
	ff, payload, fok, done := ld.decodeFast(&fast, linkType, data)
	sf, sok := ld.decodeLayers(&slow, linkType, data)
	if done {
		fast.Payload = payload
	} else if payload != nil {
		t.Errorf("link type %d, frame % x: the fast path declined the frame but returned a payload", linkType, data)
	}
	if !done {
		if !reflect.DeepEqual(fast, trace.Packet{}) {
			t.Errorf("link type %d, frame % x: the fast path declined the frame but wrote %+v", linkType, data, fast)
		}
		return false
	}
	if ff != sf || fok != sok {
		t.Errorf("link type %d, frame % x: fast path returned flags %#x ok %v, gopacket path %#x %v", linkType, data, ff, fok, sf, sok)
	}
	if d := packetDiff(&fast, &slow); d != "" {
		t.Errorf("link type %d, frame % x: fast and gopacket paths differ:\n%s", linkType, data, d)
	}
	return true
}

// packetDiff lists the fields in which a and b differ. Payloads are
// compared by their bytes and by whether they are nil: both paths leave
// them pointing into the frame.
func packetDiff(a, b *trace.Packet) string {
	var out []string
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := range va.NumField() {
		name := va.Type().Field(i).Name
		fa, fb := va.Field(i).Interface(), vb.Field(i).Interface()
		if name == "Payload" {
			pa, pb := fa.([]byte), fb.([]byte)
			if !bytes.Equal(pa, pb) || (pa == nil) != (pb == nil) {
				out = append(out, fmt.Sprintf("  Payload: % x (nil %v) vs % x (nil %v)", pa, pa == nil, pb, pb == nil))
			}
			continue
		}
		if !reflect.DeepEqual(fa, fb) {
			out = append(out, fmt.Sprintf("  %s: %#v vs %#v", name, fa, fb))
		}
	}
	return strings.Join(out, "\n")
}

// compareFeeds feeds frames to a decoder with the fast path and to one
// without, and requires the same events, connections and states.
func compareFeeds(t *testing.T, name string, fs []trace.Frame) {
	t.Helper()
	fast, slow := NewDecoder(), NewDecoder()
	slow.ld.layersOnly = true
	bad := 0
	for i := range fs {
		ef := fast.Feed(&fs[i], i+1)
		es := slow.Feed(&fs[i], i+1)
		if !reflect.DeepEqual(ef, es) && bad < 5 {
			bad++
			t.Errorf("%s frame %d: Feed's events differ:\nfast %s\nslow %s", name, i+1, eventsString(ef), eventsString(es))
		}
	}
	if cf, cs := fast.Conns(), slow.Conns(); !reflect.DeepEqual(cf, cs) {
		t.Errorf("%s: Conns differ: %v vs %v", name, cf, cs)
	} else {
		for _, c := range cf {
			for _, ep := range []trace.Endpoint{c.Client, c.Server} {
				if sf, ss := fast.State(c.ID, ep), slow.State(c.ID, ep); sf != ss {
					t.Errorf("%s: conn %d %v: state %s vs %s", name, c.ID, ep, sf, ss)
				}
			}
		}
	}
}

func eventsString(evs []trace.Event) string {
	var b strings.Builder
	for _, e := range evs {
		switch {
		case e.Packet != nil:
			fmt.Fprintf(&b, "\n  packet %+v", *e.Packet)
		case e.State != nil:
			fmt.Fprintf(&b, "\n  state %+v", *e.State)
		default:
			fmt.Fprintf(&b, "\n  %+v", e)
		}
	}
	return b.String()
}

// readCapture reads the frames of a pcap or pcapng file as far as it can;
// a damaged file yields the frames before the damage.
func readCapture(t *testing.T, path string) []trace.Frame {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, err := br.Peek(4)
	if err != nil {
		return nil
	}
	var fs []trace.Frame
	add := func(data []byte, ci gopacket.CaptureInfo, lt int) {
		fs = append(fs, trace.Frame{Time: ci.Timestamp, LinkType: lt, Data: data, WireLen: max(ci.Length, len(data))})
	}
	if binary.BigEndian.Uint32(magic) == 0x0a0d0d0a {
		r, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		if err != nil {
			t.Logf("%s: %v", filepath.Base(path), err)
			return nil
		}
		for {
			data, ci, err := r.ReadPacketData()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Logf("%s: after %d frames: %v", filepath.Base(path), len(fs), err)
				}
				return fs
			}
			lt := -1
			if intf, err := r.Interface(ci.InterfaceIndex); err == nil {
				lt = int(intf.LinkType)
			}
			add(data, ci, lt)
		}
	}
	r, err := pcapgo.NewReader(br)
	if err != nil {
		t.Logf("%s: %v", filepath.Base(path), err)
		return nil
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Logf("%s: after %d frames: %v", filepath.Base(path), len(fs), err)
			}
			return fs
		}
		add(data, ci, int(r.LinkType()))
	}
}

// TestFastPathCorpus decodes every frame of every capture in the shared
// corpus through both paths, then every cut of it, and feeds each capture
// to a decoder with and one without the fast path. More captures can be
// named in SOCKSCOPE_DIFF_CAPTURES (a list separated by the OS's path
// list separator), e.g. a large real one.
func TestFastPathCorpus(t *testing.T) {
	var paths []string
	for _, p := range filepath.SplitList(os.Getenv("SOCKSCOPE_DIFF_CAPTURES")) {
		if p != "" {
			paths = append(paths, p)
		}
	}
	dir, err := testcorpus.Dir()
	if err != nil {
		t.Skip(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".pcap") || strings.HasSuffix(n, ".pcapng") {
			paths = append(paths, filepath.Join(dir, n))
		}
	}
	ld := newLayerDecoder()
	total, taken := 0, 0
	for _, path := range paths {
		fs := readCapture(t, path)
		for _, f := range fs {
			total++
			if compareDecode(t, ld, f.LinkType, f.Data) {
				taken++
			}
			if len(fs) <= 10000 { // every cut, for the small captures
				for k := range len(f.Data) {
					compareDecode(t, ld, f.LinkType, f.Data[:k])
				}
			}
		}
		compareFeeds(t, filepath.Base(path), fs)
	}
	t.Logf("%d captures, %d frames, %d through the fast path", len(paths), total, taken)
	if total == 0 {
		t.Fatalf("no frame read from %s", dir)
	}
}

// linkVariants are the link headers of withLink: every supported link
// type, VLAN-tagged Ethernet (-1) and NULL from a big-endian host (-2).
var linkVariants = []int{1, -1, 0, -2, 108, 101, 12, 14, 228, 229, 113, 276}

// realLinkType is the pcap link type of a withLink variant.
func realLinkType(v int) int {
	switch v {
	case -1:
		return 1
	case -2:
		return 0
	}
	return v
}

// syntheticIP returns IP packets covering the header variants the fast
// path takes and those it must leave to gopacket.
func syntheticIP(t testing.TB) map[string][]byte {
	m := map[string][]byte{}
	opt := func(kind byte, data ...byte) layers.TCPOption {
		return layers.TCPOption{OptionType: layers.TCPOptionKind(kind), OptionLength: uint8(len(data) + 2), OptionData: data}
	}
	nop := layers.TCPOption{OptionType: layers.TCPOptionKindNop, OptionLength: 1}
	eol := layers.TCPOption{OptionType: layers.TCPOptionKindEndList, OptionLength: 1}
	sack := func(n int) layers.TCPOption {
		d := make([]byte, 8*n)
		for i := range d {
			d[i] = byte(i*37 + 1)
		}
		return opt(5, d...)
	}
	optSets := map[string][]layers.TCPOption{
		"none":      nil,
		"syn":       synOpts(12345, 0),
		"ts":        dataOpts(7, 6),
		"sack1":     {nop, nop, tsOpt(1, 2), nop, nop, sack(1)},
		"sack3":     {nop, nop, sack(3)},
		"sack4":     {sack(4)},
		"unknown":   {opt(99, 0xab), opt(254, 1, 2, 3, 4), nop},
		"mptcp":     {opt(30, 0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8), nop, nop},
		"mptcp-bad": {opt(30, 0x10), nop},
		"eol":       {nop, eol, nop, nop},
		"odd-len":   {opt(2, 0xff), opt(3), opt(8, 1, 2, 3)},
		"md5":       {opt(19, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16), nop, nop},
	}
	for _, v := range []struct {
		name     string
		cli, srv netip.AddrPort
	}{{"v4", cliAP, srvAP}, {"v6", cli6AP, srv6AP}} {
		for oname, opts := range optSets {
			for _, data := range []string{"", "hello, world"} {
				for _, flags := range []string{"S", "S.", ".", "P.", "FP.", "R", "", "FSRPUEW."} {
					s := seg{fromClient: true, flags: flags, seq: 0xfffffff0, ack: 77, data: data, opts: opts}
					m[fmt.Sprintf("%s tcp %s %q %q", v.name, oname, flags, data)] = tcpPacket(t, s, v.cli, v.srv)
				}
			}
		}
		for _, data := range []string{"", "ping"} {
			m[v.name+" udp "+data] = ipPacket(t, v.cli, v.srv, layers.IPProtocolUDP,
				&layers.UDP{SrcPort: layers.UDPPort(v.cli.Port()), DstPort: layers.UDPPort(v.srv.Port())}, []byte(data))
		}
		src, dst := netip.AddrPortFrom(v.srv.Addr(), 0), netip.AddrPortFrom(v.cli.Addr(), 0)
		udp := m[v.name+" udp ping"]
		if v.name == "v4" {
			m["v4 icmp unreachable"] = ipPacket(t, src, dst, layers.IPProtocolICMPv4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, udp)
			m["v4 icmp echo"] = ipPacket(t, src, dst, layers.IPProtocolICMPv4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 2}, []byte("abc"))
		} else {
			m["v6 icmp unreachable"] = ipPacket(t, src, dst, layers.IPProtocolICMPv6, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 4)}, append(make([]byte, 4), udp...))
		}
		m[v.name+" sctp"] = ipPacket(t, v.cli, v.srv, layers.IPProtocolSCTP, nil, []byte("12345678"))
		m[v.name+" gre"] = ipPacket(t, v.cli, v.srv, layers.IPProtocolGRE, nil, []byte{0, 0, 8, 0})
	}

	tcp4 := m[`v4 tcp ts "P." "hello, world"`]
	tcp6 := m[`v6 tcp ts "P." "hello, world"`]
	udp4, udp6 := m["v4 udp ping"], m["v6 udp ping"]
	edit := func(name string, b []byte, f func(b []byte) []byte) {
		m[name] = f(append([]byte(nil), b...))
	}
	// IPv4 header variants.
	withIPOpts := func(b, opts []byte) []byte {
		ihl := 20 + len(opts)
		out := append(append(append([]byte(nil), b[:20]...), opts...), b[20:]...)
		out[0] = 0x40 | byte(ihl/4)
		binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
		return out
	}
	m["v4 options nop"] = withIPOpts(tcp4, []byte{1, 1, 1, 0})
	m["v4 options rr"] = withIPOpts(tcp4, []byte{7, 7, 4, 0, 0, 0, 0, 0})
	m["v4 options bad"] = withIPOpts(tcp4, []byte{7, 1, 0, 0})
	m["v4 options udp"] = withIPOpts(udp4, []byte{1, 1, 1, 1})
	for _, ff := range []uint16{0x2000, 0x0001, 0x2010, 0x4000, 0x8000, 0xc000} {
		edit(fmt.Sprintf("v4 flags/frag %#04x", ff), tcp4, func(b []byte) []byte { binary.BigEndian.PutUint16(b[6:], ff); return b })
		edit(fmt.Sprintf("v4 udp flags/frag %#04x", ff), udp4, func(b []byte) []byte { binary.BigEndian.PutUint16(b[6:], ff); return b })
	}
	for _, tl := range []int{0, 1, 19, 20, 21, 39, 40, 41, 50, 1000, 65535} {
		edit(fmt.Sprintf("v4 total length %d", tl), tcp4, func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], uint16(tl)); return b })
		edit(fmt.Sprintf("v4 udp total length %d", tl), udp4, func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], uint16(tl)); return b })
	}
	for _, vb := range []byte{0x44, 0x46, 0x4f, 0x55, 0x65, 0x05, 0xf5} {
		edit(fmt.Sprintf("v4 version/ihl %#02x", vb), tcp4, func(b []byte) []byte { b[0] = vb; return b })
	}
	for _, proto := range []byte{0, 4, 41, 43, 44, 50, 51, 58, 59, 60, 132, 136, 255} {
		edit(fmt.Sprintf("v4 proto %d", proto), tcp4, func(b []byte) []byte { b[9] = proto; return b })
		edit(fmt.Sprintf("v6 next header %d", proto), tcp6, func(b []byte) []byte { b[6] = proto; return b })
	}
	edit("v4 trailer", tcp4, func(b []byte) []byte { return append(b, 1, 2, 3, 4, 5, 6) })
	edit("v4 in v4", tcp4, func(b []byte) []byte {
		out := append(append([]byte(nil), b[:20]...), b...)
		out[9] = 4
		binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
		return out
	})
	// IPv6 header variants.
	for _, pl := range []int{0, 1, 7, 8, 19, 20, 31, 32, 1000, 65535} {
		edit(fmt.Sprintf("v6 payload length %d", pl), tcp6, func(b []byte) []byte { binary.BigEndian.PutUint16(b[4:], uint16(pl)); return b })
		edit(fmt.Sprintf("v6 udp payload length %d", pl), udp6, func(b []byte) []byte { binary.BigEndian.PutUint16(b[4:], uint16(pl)); return b })
	}
	for _, vb := range []byte{0x40, 0x50, 0x00, 0xf6} {
		edit(fmt.Sprintf("v6 version %#02x", vb), tcp6, func(b []byte) []byte { b[0] = vb; return b })
	}
	edit("v6 trailer", tcp6, func(b []byte) []byte { return append(b, 1, 2, 3, 4) })
	withExt := func(b []byte, first byte, hdrs ...[]byte) []byte {
		out := append([]byte(nil), b[:40]...)
		out[6] = first
		n := 0
		for _, h := range hdrs {
			out = append(out, h...)
			n += len(h)
		}
		out = append(out, b[40:]...)
		binary.BigEndian.PutUint16(out[4:], binary.BigEndian.Uint16(b[4:])+uint16(n))
		return out
	}
	m["v6 hop-by-hop"] = withExt(tcp6, 0, []byte{6, 0, 1, 4, 0, 0, 0, 0})
	m["v6 hop-by-hop udp"] = withExt(udp6, 0, []byte{17, 0, 1, 4, 0, 0, 0, 0})
	m["v6 destination"] = withExt(tcp6, 60, []byte{6, 0, 1, 4, 0, 0, 0, 0})
	m["v6 routing"] = withExt(tcp6, 43, []byte{6, 0, 0, 0, 0, 0, 0, 0})
	m["v6 hbh+dest"] = withExt(tcp6, 0, []byte{60, 0, 1, 4, 0, 0, 0, 0}, []byte{6, 0, 1, 4, 0, 0, 0, 0})
	m["v6 fragment first"] = withExt(tcp6, 44, []byte{6, 0, 0, 1, 0, 0, 0, 42})
	m["v6 fragment later"] = withExt(tcp6, 44, []byte{6, 0, 0, 8, 0, 0, 0, 42})
	m["v6 atomic fragment"] = withExt(udp6, 44, []byte{17, 0, 0, 0, 0, 0, 0, 42})
	m["v6 jumbo"] = withExt(tcp6, 0, []byte{6, 0, 0xc2, 4, 0, 0, 0, 0})
	// TCP header variants.
	for _, off := range []byte{0x00, 0x40, 0x50, 0x60, 0x70, 0x80, 0xf0, 0x51} {
		edit(fmt.Sprintf("v4 tcp data offset %#02x", off), tcp4, func(b []byte) []byte { b[20+12] = off; return b })
		edit(fmt.Sprintf("v6 tcp data offset %#02x", off), tcp6, func(b []byte) []byte { b[40+12] = off; return b })
	}
	// Options whose length runs past the header, or is 0 or 1.
	for _, o := range [][]byte{{2, 40, 0, 0}, {8, 0, 0, 0}, {8, 1, 0, 0}, {5, 12, 0, 0}, {30, 2, 0, 0}, {30, 20, 0x10, 0}, {1, 1, 1, 2}, {0, 0, 0, 0}} {
		edit(fmt.Sprintf("v4 tcp options % x", o), tcp4, func(b []byte) []byte {
			out := append(append(append([]byte(nil), b[:40]...), o...), b[40:]...)
			out[20+12] += 0x10
			binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
			return out
		})
	}
	// UDP length variants.
	for _, ul := range []int{0, 1, 7, 8, 9, 11, 12, 13, 100, 65535} {
		edit(fmt.Sprintf("v4 udp length %d", ul), udp4, func(b []byte) []byte { binary.BigEndian.PutUint16(b[20+4:], uint16(ul)); return b })
		edit(fmt.Sprintf("v6 udp length %d", ul), udp6, func(b []byte) []byte { binary.BigEndian.PutUint16(b[40+4:], uint16(ul)); return b })
	}
	// Mapped and unusual addresses.
	m["v6 mapped v4"] = tcpPacket(t, seg{fromClient: true, flags: "P.", seq: 1, ack: 1, data: "x"},
		netip.MustParseAddrPort("[::ffff:127.0.0.1]:1"), netip.MustParseAddrPort("[::ffff:127.0.0.2]:2"))
	m["v4 port 0"] = tcpPacket(t, seg{fromClient: true, flags: "S"},
		netip.MustParseAddrPort("0.0.0.0:0"), netip.MustParseAddrPort("255.255.255.255:0"))
	return m
}

// syntheticFrames wraps every synthetic IP packet in every link header,
// and adds link headers the fast path must refuse.
func syntheticFrames(t testing.TB) []trace.Frame {
	ips := syntheticIP(t)
	names := make([]string, 0, len(ips))
	for n := range ips {
		names = append(names, n)
	}
	slices.Sort(names) // for reproducible failures
	var fs []trace.Frame
	add := func(lt int, data []byte) {
		fs = append(fs, trace.Frame{Time: t0.Add(time.Duration(len(fs)) * time.Microsecond), LinkType: lt, Data: data, WireLen: len(data)})
	}
	for _, n := range names {
		ip := ips[n]
		for _, v := range linkVariants {
			if v == 228 && ip[0]>>4 == 6 || v == 229 && ip[0]>>4 != 6 {
				// The wrong version for the link type: gopacket does not
				// check it, so keep it as a case.
				add(v, ip)
				continue
			}
			add(realLinkType(v), withLink(t, v, ip))
		}
	}
	tcp4 := withLink(t, 1, ips[`v4 tcp ts "P." "hello, world"`])
	tcp6 := withLink(t, 1, ips[`v6 tcp ts "P." "hello, world"`])
	edit := func(lt int, b []byte, f func(b []byte)) {
		c := append([]byte(nil), b...)
		f(c)
		add(lt, c)
	}
	// Ethernet: other EtherTypes, an 802.3 length, QinQ.
	for _, et := range []uint16{0x0806, 0x8100, 0x88a8, 0x0600, 0x05dc, 0x0040, 0x0000, 0x86dd, 0x0800, 0xffff} {
		edit(1, tcp4, func(b []byte) { binary.BigEndian.PutUint16(b[12:], et) })
		edit(1, tcp6, func(b []byte) { binary.BigEndian.PutUint16(b[12:], et) })
	}
	ip4, ip6 := tcp4[14:], tcp6[14:]
	// NULL/LOOP families in both byte orders.
	for _, fam := range []uint32{0, 1, 2, 10, 23, 24, 28, 30, 255, 256, 0x02000000, 0x1e000000} {
		for _, ip := range [][]byte{ip4, ip6} {
			for _, lt := range []int{0, 108} {
				h := make([]byte, 4)
				binary.LittleEndian.PutUint32(h, fam)
				add(lt, append(h, ip...))
				h = make([]byte, 4)
				binary.BigEndian.PutUint32(h, fam)
				add(lt, append(h, ip...))
			}
		}
	}
	// LINUX_SLL: address lengths, protocol types.
	sll4, sll6 := withLink(t, 113, ip4), withLink(t, 113, ip6)
	for _, al := range []uint16{0, 6, 8, 9, 0xffff} {
		edit(113, sll4, func(b []byte) { binary.BigEndian.PutUint16(b[4:], al) })
	}
	for _, et := range []uint16{0x0004, 0x0806, 0x8100, 0x0001, 0x0800, 0x86dd} {
		edit(113, sll4, func(b []byte) { binary.BigEndian.PutUint16(b[14:], et) })
		edit(113, sll6, func(b []byte) {
			binary.BigEndian.PutUint16(b[14:], et)
			binary.BigEndian.PutUint16(b[2:], 803) // radiotap
		})
	}
	// LINUX_SLL2: hardware types that change the meaning of the protocol
	// type, address lengths, protocol types.
	sll24, sll26 := withLink(t, 276, ip4), withLink(t, 276, ip6)
	for _, hw := range []uint16{1, 770, 772, 778, 803, 0xffff} {
		edit(276, sll24, func(b []byte) { binary.BigEndian.PutUint16(b[8:], hw) })
		edit(276, sll26, func(b []byte) { binary.BigEndian.PutUint16(b[8:], hw) })
	}
	for _, al := range []byte{0, 8, 9, 255} {
		edit(276, sll24, func(b []byte) { b[11] = al })
	}
	for _, pt := range []uint16{0x0001, 0x0003, 0x0004, 0x000c, 0x0806, 0x8100, 0x86dd} {
		edit(276, sll24, func(b []byte) { binary.BigEndian.PutUint16(b[0:], pt) })
	}
	// RAW: the version nibble picks the IP version.
	for _, vb := range []byte{0x00, 0x45, 0x46, 0x55, 0x65, 0x60, 0x6f} {
		for _, lt := range []int{101, 12, 14} {
			edit(lt, ip4, func(b []byte) { b[0] = vb })
			edit(lt, ip6, func(b []byte) { b[0] = vb })
		}
	}
	// Empty frames and unsupported link types.
	for _, lt := range append([]int{147, -1, 9999}, fuzzLinkTypes...) {
		add(lt, nil)
		add(lt, []byte{})
		add(lt, ip4)
	}
	return fs
}

// TestFastPathSynthetic compares the two paths on every synthetic frame,
// every cut of it and many mutations of it, then feeds the frames to a
// decoder with and one without the fast path.
func TestFastPathSynthetic(t *testing.T) {
	fs := syntheticFrames(t)
	ld := newLayerDecoder()
	taken := 0
	for _, f := range fs {
		if compareDecode(t, ld, f.LinkType, f.Data) {
			taken++
		}
		for k := range len(f.Data) {
			compareDecode(t, ld, f.LinkType, f.Data[:k])
		}
	}
	t.Logf("%d frames, %d through the fast path", len(fs), taken)
	if taken < len(fs)/4 || taken == len(fs) {
		t.Errorf("%d of %d synthetic frames through the fast path: the cases do not cover both paths", taken, len(fs))
	}
	compareFeeds(t, "synthetic", fs)

	// Mutations: a few random bytes of each frame changed, the header
	// bytes most often, and random garbage under every link type.
	rng := rand.New(rand.NewPCG(1, 2))
	n := 40000
	if testing.Short() {
		n = 4000
	}
	var mutated []trace.Frame
	for i := range n {
		f := fs[rng.IntN(len(fs))]
		b := append([]byte(nil), f.Data...)
		if len(b) == 0 {
			continue
		}
		for range 1 + rng.IntN(3) {
			j := rng.IntN(min(len(b), 80))
			if i%2 == 0 {
				j = rng.IntN(len(b))
			}
			b[j] = byte(rng.Uint32())
		}
		compareDecode(t, ld, f.LinkType, b)
		mutated = append(mutated, trace.Frame{Time: f.Time, LinkType: f.LinkType, Data: b})
	}
	compareFeeds(t, "mutated", mutated)
	for range n / 4 {
		b := make([]byte, rng.IntN(120))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		compareDecode(t, ld, fuzzLinkTypes[rng.IntN(len(fuzzLinkTypes))], b)
	}
}

// TestFastPathTakesTheCommonFrames: the frames the fast path exists for
// do take it (else it silently stops paying).
func TestFastPathTakesTheCommonFrames(t *testing.T) {
	ld := newLayerDecoder()
	for _, opts := range []bool{true, false} {
		for i, f := range benchConversation(t, opts) {
			var p trace.Packet
			if _, _, _, done := ld.decodeFast(&p, f.LinkType, f.Data); !done {
				t.Errorf("bench conversation frame %d (options %v): not through the fast path", i+1, opts)
			}
		}
	}
	ips := syntheticIP(t)
	for _, name := range []string{`v4 tcp syn "S" ""`, `v6 tcp sack3 "P." "hello, world"`, `v4 tcp unknown "FP." ""`,
		`v4 tcp none "R" ""`, "v4 udp ping", "v6 udp ", "v4 trailer", "v6 trailer", "v4 flags/frag 0x4000"} {
		ip, ok := ips[name]
		if !ok {
			t.Fatalf("no synthetic packet %q", name)
		}
		for _, v := range linkVariants {
			if v == -1 || v == 228 && ip[0]>>4 == 6 || v == 229 && ip[0]>>4 != 6 {
				continue // VLAN tags are left to gopacket
			}
			var p trace.Packet
			if _, _, _, done := ld.decodeFast(&p, realLinkType(v), withLink(t, v, ip)); !done {
				t.Errorf("%s under link variant %d: not through the fast path", name, v)
			}
		}
	}
}

// TestNoPortLeadsToADecodedLayer: decodeFast stops after the TCP or UDP
// header, which is exact only if gopacket's parser stops there too, that
// is if no port names a layer the parser decodes (it would then decode,
// say, an IP header inside UDP and report that instead).
func TestNoPortLeadsToADecodedLayer(t *testing.T) {
	ld := newLayerDecoder()
	decoded := map[gopacket.LayerType]bool{}
	for _, l := range []gopacket.DecodingLayer{&ld.eth, &ld.vlan, &ld.loop, &ld.sll, &ld.sll2, &ld.ip4, &ld.ip6,
		&ld.ext, &ld.frag6, &ld.tcp, &ld.udp, &ld.icmp4, &ld.icmp6} {
		for _, lt := range l.CanDecode().LayerTypes() {
			decoded[lt] = true
		}
	}
	for port := range 1 << 16 {
		tl := layers.TCPPort(port).LayerType()
		ul := layers.UDPPort(port).LayerType()
		if decoded[tl] || decoded[ul] || ul == layers.LayerTypeAGUEVar0 && decoded[layers.LayerTypeAGUEVar1] {
			t.Errorf("port %d leads to %v (tcp) / %v (udp), a layer the parser decodes", port, tl, ul)
		}
	}
}

// TestFeedEventsAreTraceEvents: Feed sets the events' fields itself; they
// must equal what trace's constructors return.
func TestFeedEventsAreTraceEvents(t *testing.T) {
	d := NewDecoder()
	states := 0
	for i, f := range benchConversation(t, true) {
		evs := d.Feed(&f, i+1)
		if evs[0] != trace.PacketEvent(evs[0].Packet) {
			t.Errorf("frame %d: packet event %+v", i+1, evs[0])
		}
		for _, e := range evs[1:] {
			states++
			if e != trace.StateEvent(e.State) {
				t.Errorf("frame %d: state event %+v", i+1, e)
			}
		}
	}
	if states == 0 {
		t.Error("no state event")
	}
}

// TestLastConnCache: the decoder tries the last packet's connection first;
// interleaved connections, a new connection on a finished tuple and a
// forgotten connection must still be told apart.
func TestLastConnCache(t *testing.T) {
	a := handshake(newConvo(t, 1000, 5000)).c("P.", "a").s(".", "").c("F.", "").s("F.", "").c(".", "").frames()
	other := netip.MustParseAddrPort("127.0.0.1:40001")
	b := framesOn(t, handshake(newConvo(t, 9000, 7000)).c("P.", "b").s(".", "").segs, other, srvAP, 1)
	// Interleave a and b, then a again on the same tuple (a new
	// connection after the finished one): a is 1, b is 2, the second a 3.
	var (
		fs   []trace.Frame
		want []int
	)
	for i := range max(len(a), len(b)) {
		if i < len(a) {
			fs, want = append(fs, a[i]), append(want, 1)
		}
		if i < len(b) {
			fs, want = append(fs, b[i]), append(want, 2)
		}
	}
	for _, f := range a[:4] {
		fs, want = append(fs, f), append(want, 3)
	}
	compareFeeds(t, "interleaved", fs)

	d := NewDecoder()
	for i := range fs {
		if c := d.Feed(&fs[i], i+1)[0].Packet.Conn; c != want[i] {
			t.Errorf("frame %d: conn %d, want %d", i+1, c, want[i])
		}
	}
	// Forgetting the last connection: its tuple opens a new one.
	d.Forget(3)
	f := a[4]
	if c := d.Feed(&f, 100)[0].Packet.Conn; c != 4 {
		t.Errorf("after Forget(3): conn %d, want 4", c)
	}
	if c := d.Feed(&f, 101)[0].Packet.Conn; c != 4 {
		t.Errorf("again: conn %d, want 4", c)
	}
	// A UDP flow on the same addresses and ports is another connection.
	u := withLink(t, 1, ipPacket(t, cliAP, srvAP, layers.IPProtocolUDP,
		&layers.UDP{SrcPort: layers.UDPPort(cliAP.Port()), DstPort: layers.UDPPort(srvAP.Port())}, []byte("u")))
	uf := trace.Frame{Time: t0, LinkType: 1, Data: u}
	if c := d.Feed(&uf, 102)[0].Packet.Conn; c != 5 {
		t.Errorf("UDP on the TCP tuple: conn %d, want 5", c)
	}
	if c := d.Feed(&f, 103)[0].Packet.Conn; c != 4 {
		t.Errorf("TCP after UDP: conn %d, want 4", c)
	}
}

// FuzzFastFrame compares the fast and gopacket paths on arbitrary frames.
func FuzzFastFrame(f *testing.F) {
	for i, fr := range syntheticFrames(f) {
		if i%7 == 0 { // a sample: the synthetic test runs them all
			lt := 0
			for j, l := range fuzzLinkTypes {
				if l == fr.LinkType {
					lt = j
				}
			}
			f.Add(uint8(lt), fr.Data)
		}
	}
	ld := newLayerDecoder()
	f.Fuzz(func(t *testing.T, lt uint8, data []byte) {
		compareDecode(t, ld, fuzzLinkTypes[int(lt)%len(fuzzLinkTypes)], data)
	})
}
