package decode

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/sockscope/sockscope/trace"
)

func TestEachLinkTypeDecodesTheSame(t *testing.T) {
	s := seg{fromClient: true, flags: "P.", seq: 1000, ack: 5000, data: "hello", opts: dataOpts(7, 6)}
	for _, v := range []struct {
		name     string
		cli, srv netip.AddrPort
		links    []int
	}{
		{"ipv4", cliAP, srvAP, []int{1, -1, 0, -2, 108, 101, 12, 14, 228, 113, 276}},
		{"ipv6", cli6AP, srv6AP, []int{1, -1, 0, -2, 108, 101, 12, 14, 229, 113, 276}},
	} {
		t.Run(v.name, func(t *testing.T) {
			ip := tcpPacket(t, s, v.cli, v.srv)
			var want *trace.Packet
			for _, lt := range v.links {
				data := withLink(t, lt, ip)
				f := trace.Frame{Time: t0, LinkType: lt, Data: data, WireLen: len(data)}
				switch lt {
				case -1: // VLAN-tagged Ethernet
					f.LinkType = 1
				case -2: // NULL from a big-endian host
					f.LinkType = 0
				}
				p := NewDecoder().Feed(&f, 1)[0].Packet
				if want == nil {
					want = p
					if p.Error != "" || p.Proto != "tcp" || p.Src != v.cli || p.Dst != v.srv || p.Flags != "P." ||
						p.Seq != 1000 || p.Ack != 5000 || p.RSeq != 1 || p.RAck != 1 || p.Len != 5 ||
						string(p.Payload) != "hello" || p.Options != "nop,nop,TS val 7 ecr 6" || p.Win != 512 || p.Conn != 1 {
						t.Fatalf("link type %d: %+v", lt, p)
					}
					continue
				}
				if !reflect.DeepEqual(p, want) {
					t.Errorf("link type %d (%d):\n got %+v\nwant %+v", f.LinkType, lt, p, want)
				}
			}
		})
	}
}

func TestUnsupportedLinkType(t *testing.T) {
	f := trace.Frame{Time: t0, LinkType: 147, Data: []byte{1, 2, 3}}
	evs := NewDecoder().Feed(&f, 9)
	p := evs[0].Packet
	if len(evs) != 1 || p.Proto != "other" || p.Info != "unsupported link type 147" || p.Error != "" || p.Frame != 9 || p.Time != t0 {
		t.Errorf("got %+v", p)
	}
}

func TestUDPAndICMPUnreachable(t *testing.T) {
	cli := netip.MustParseAddrPort("127.0.0.1:50000")
	srv := netip.MustParseAddrPort("127.0.0.1:9999")
	udp := func(src, dst netip.AddrPort, data string) []byte {
		return ipPacket(t, src, dst, layers.IPProtocolUDP,
			&layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}, []byte(data))
	}
	req := udp(cli, srv, "ping")
	// The kernel answers a datagram to a closed port with ICMP port
	// unreachable quoting the datagram.
	icmp := ipPacket(t, netip.AddrPortFrom(srv.Addr(), 0), netip.AddrPortFrom(cli.Addr(), 0), layers.IPProtocolICMPv4,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, req)
	echo := udp(cli, netip.MustParseAddrPort("127.0.0.1:7"), "hi")
	reply := udp(netip.MustParseAddrPort("127.0.0.1:7"), cli, "hi")

	cli6 := netip.MustParseAddrPort("[::1]:50000")
	srv6 := netip.MustParseAddrPort("[::1]:9999")
	req6 := udp(cli6, srv6, "ping6")
	icmp6 := ipPacket(t, netip.AddrPortFrom(srv6.Addr(), 0), netip.AddrPortFrom(cli6.Addr(), 0), layers.IPProtocolICMPv6,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 4)}, append(make([]byte, 4), req6...))

	var fs []trace.Frame
	for _, ip := range [][]byte{req, icmp, echo, reply, req, req6, icmp6} {
		b := withLink(t, 1, ip)
		fs = append(fs, trace.Frame{Time: t0, LinkType: 1, Data: b, WireLen: len(b)})
	}
	d, evs := feedAll(fs)
	type row struct {
		proto, src, dst string
		len, conn       int
		info            string
	}
	var got []row
	for _, ev := range evs {
		if len(ev) != 1 {
			t.Errorf("frame %d: state events for a non-TCP packet: %v", ev[0].Packet.Frame, ev[1:])
		}
		p := ev[0].Packet
		if p.Error != "" {
			t.Errorf("frame %d: error %q", p.Frame, p.Error)
		}
		got = append(got, row{p.Proto, p.Src.String(), p.Dst.String(), p.Len, p.Conn, p.Info})
	}
	want := []row{
		{"udp", "127.0.0.1:50000", "127.0.0.1:9999", 4, 1, ""},
		{"icmp", "127.0.0.1:0", "127.0.0.1:0", 40, 0, "port unreachable (udp 127.0.0.1:50000 > 127.0.0.1:9999)"},
		{"udp", "127.0.0.1:50000", "127.0.0.1:7", 2, 2, ""},
		{"udp", "127.0.0.1:7", "127.0.0.1:50000", 2, 2, ""},
		{"udp", "127.0.0.1:50000", "127.0.0.1:9999", 4, 1, ""},
		{"udp", "[::1]:50000", "[::1]:9999", 5, 3, ""},
		{"icmp6", "[::1]:0", "[::1]:0", 61, 0, "port unreachable (udp [::1]:50000 > [::1]:9999)"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
	if string(evs[0][0].Packet.Payload) != "ping" {
		t.Errorf("payload %q", evs[0][0].Packet.Payload)
	}
	wantConns := []trace.Conn{
		{ID: 1, Proto: "udp", Client: cli, Server: srv},
		{ID: 2, Proto: "udp", Client: cli, Server: netip.MustParseAddrPort("127.0.0.1:7")},
		{ID: 3, Proto: "udp", Client: cli6, Server: srv6},
	}
	if c := d.Conns(); !reflect.DeepEqual(c, wantConns) {
		t.Errorf("Conns() = %v, want %v", c, wantConns)
	}
	if s := d.State(1, cli); s != trace.StateUnknown {
		t.Errorf("UDP flow has state %q", s)
	}
}

func TestTruncatedFrame(t *testing.T) {
	full := withLink(t, 1, tcpPacket(t, seg{fromClient: true, flags: "P.", seq: 1, ack: 1, data: strings.Repeat("x", 100)}, cliAP, srvAP))
	for _, tc := range []struct {
		name   string
		keep   int // bytes captured
		proto  string
		len    int
		errHas string
		ports  bool
	}{
		{"payload cut (snaplen)", 14 + 20 + 20 + 10, "tcp", 100, "truncated: captured 10 of 100 payload bytes", true},
		{"header cut", 14 + 20 + 10, "tcp", 120, "tcp: Invalid TCP header", false},
		{"no transport byte", 14 + 20, "tcp", 120, "tcp: header missing: captured 0 of 120", false},
		{"ip header cut", 14 + 12, "other", 0, "ipv4: Invalid ip4 header", false},
		{"ethernet cut", 8, "other", 0, "ethernet: ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := trace.Frame{Time: t0, LinkType: 1, Data: full[:tc.keep], WireLen: len(full)}
			d := NewDecoder()
			p := d.Feed(&f, 1)[0].Packet
			if p.Proto != tc.proto || p.Len != tc.len || !strings.Contains(p.Error, tc.errHas) {
				t.Errorf("got proto %q len %d error %q; want %q %d %q", p.Proto, p.Len, p.Error, tc.proto, tc.len, tc.errHas)
			}
			if tc.ports != (p.Src.Port() != 0) {
				t.Errorf("src %v", p.Src)
			}
			if tc.ports && (p.Flags != "P." || len(p.Payload) != 10 || p.Conn != 1) {
				t.Errorf("headers lost: %+v", p)
			}
		})
	}
}

func TestPayloadIsCopiedAndBounded(t *testing.T) {
	big := strings.Repeat("y", 1000)
	b := withLink(t, 1, tcpPacket(t, seg{fromClient: true, flags: "P.", seq: 1, ack: 1, data: big}, cliAP, srvAP))
	f := trace.Frame{Time: t0, LinkType: 1, Data: b, WireLen: len(b)}
	p := NewDecoder().Feed(&f, 1)[0].Packet
	if p.Len != 1000 || len(p.Payload) != trace.MaxData || cap(p.Payload) != trace.MaxData {
		t.Fatalf("len %d payload %d cap %d", p.Len, len(p.Payload), cap(p.Payload))
	}
	for i := range b {
		b[i] = 0
	}
	if p.Payload[0] != 'y' {
		t.Error("payload shares the frame's buffer")
	}
}

func TestOtherProtocols(t *testing.T) {
	arp := make([]byte, 42)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	sctp := withLink(t, 1, ipPacket(t, cliAP, srvAP, layers.IPProtocolSCTP, nil, []byte("12345678")))
	frag := withLink(t, 1, ipPacket(t, cliAP, srvAP, layers.IPProtocolTCP, nil, []byte("12345678")))
	binary.BigEndian.PutUint16(frag[14+6:], 0x2000|10) // more fragments, offset 80
	for _, tc := range []struct {
		data []byte
		info string
	}{
		{arp, "arp"},
		{sctp, "ip proto 132 (sctp)"},
		{frag, "fragment of tcp"},
	} {
		f := trace.Frame{Time: t0, LinkType: 1, Data: tc.data}
		p := NewDecoder().Feed(&f, 1)[0].Packet
		if p.Proto != "other" || p.Info != tc.info || p.Error != "" || p.Conn != 0 {
			t.Errorf("%s: got %+v", tc.info, p)
		}
	}
}

func TestOptionsNotation(t *testing.T) {
	for _, tc := range []struct {
		opts []byte
		want string
	}{
		{nil, ""},
		{[]byte{2, 4, 0xff, 0xd7, 4, 2, 8, 10, 0, 0, 0, 123, 0, 0, 0, 0, 1, 3, 3, 7}, "mss 65495,sackOK,TS val 123 ecr 0,nop,wscale 7"},
		{[]byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 9}, "nop,nop,sack 1 {1:9}"},
		{[]byte{0, 1, 1, 1}, "eol"},
		{[]byte{2, 40}, "[bad opt]"},
		{[]byte{30, 4, 0x10, 0}, "mptcp join"},
		{[]byte{99, 3, 0xab}, "unknown-99 ab"},
	} {
		if got := tcpOptions(tc.opts); got != tc.want {
			t.Errorf("tcpOptions(%v) = %q, want %q", tc.opts, got, tc.want)
		}
	}
	for b, want := range map[byte]string{0: "none", flagSYN: "S", flagSYN | flagACK: "S.", flagACK: ".", flagPSH | flagACK: "P.",
		flagFIN | flagACK: "F.", flagFIN | flagPSH | flagACK: "FP.", flagRST: "R", flagRST | flagACK: "R.", 0xff: "FSRP.UEW"} {
		if got := tcpFlags(b); got != want {
			t.Errorf("tcpFlags(%#x) = %q, want %q", b, got, want)
		}
	}
}

func TestIPv6ExtensionHeadersSkipped(t *testing.T) {
	s := seg{fromClient: true, flags: "P.", seq: 1000, ack: 5000, data: "hello"}
	plain := tcpPacket(t, s, cli6AP, srv6AP)
	// Insert a hop-by-hop and a destination options header, each 8 bytes
	// of PadN, between the IPv6 header and TCP.
	ext := append([]byte(nil), plain[:40]...)
	ext[6] = 0 // hop-by-hop
	binary.BigEndian.PutUint16(ext[4:], binary.BigEndian.Uint16(plain[4:])+16)
	ext = append(ext, 60, 0, 1, 4, 0, 0, 0, 0) // next: destination options
	ext = append(ext, 6, 0, 1, 4, 0, 0, 0, 0)  // next: TCP
	ext = append(ext, plain[40:]...)
	ext = append(ext, 0, 0, 0, 0) // and a trailer the payload length excludes

	decode := func(ip []byte) *trace.Packet {
		f := trace.Frame{Time: t0, LinkType: 229, Data: ip}
		return NewDecoder().Feed(&f, 1)[0].Packet
	}
	want, got := decode(plain), decode(ext)
	if want.Error != "" || want.Len != 5 {
		t.Fatalf("plain: %+v", want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("with extension headers:\n got %+v\nwant %+v", got, want)
	}
}
