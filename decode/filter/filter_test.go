package filter

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/sockscope/sockscope/trace"
)

func pkt(proto, src, dst string, conn int) *trace.Packet {
	ep := func(s string) trace.Endpoint {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return ap
		}
		return netip.AddrPortFrom(netip.MustParseAddr(s), 0)
	}
	return &trace.Packet{Proto: proto, Src: ep(src), Dst: ep(dst), Conn: conn}
}

var (
	webSyn   = pkt("tcp", "10.0.0.5:40000", "93.184.216.34:80", 1)
	webReply = pkt("tcp", "93.184.216.34:80", "10.0.0.5:40000", 1)
	echo     = pkt("tcp", "127.0.0.1:50000", "127.0.0.1:12345", 2)
	dns      = pkt("udp", "[::1]:5353", "[::1]:53", 3)
	unreach  = pkt("icmp", "127.0.0.1", "127.0.0.1", 0)
	all      = []*trace.Packet{webSyn, webReply, echo, dns, unreach}
)

func TestFilterSelectsPackets(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []*trace.Packet
	}{
		{"", all},
		{"tcp", []*trace.Packet{webSyn, webReply, echo}},
		{"port 80", []*trace.Packet{webSyn, webReply}},
		{"dst port 80", []*trace.Packet{webSyn}},
		{"src host 93.184.216.34", []*trace.Packet{webReply}},
		{"host 127.0.0.1", []*trace.Packet{echo, unreach}},
		{"net 10.0.0.0/8", []*trace.Packet{webSyn, webReply}},
		{"tcp port 12345", []*trace.Packet{echo}},
		{"udp or icmp", []*trace.Packet{dns, unreach}},
		{"ip6", []*trace.Packet{dns}},
		{"ip and not tcp", []*trace.Packet{unreach}},
		{"portrange 50-100", []*trace.Packet{webSyn, webReply, dns}},
		{"conn 1", []*trace.Packet{webSyn, webReply}},
		{"not (port 80 or port 53)", []*trace.Packet{echo, unreach}},
		{"!tcp && host ::1", []*trace.Packet{dns}},
		{"tcp and (dst port 12345 || src port 80)", []*trace.Packet{webReply, echo}},
	} {
		f, err := Compile(tc.expr)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		var got []*trace.Packet
		for _, p := range all {
			if f.Match(p) {
				got = append(got, p)
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q matched %d packets, want %d", tc.expr, len(got), len(tc.want))
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q: packet %d is %v, want %v", tc.expr, i, got[i].Src, tc.want[i].Src)
			}
		}
	}
}

func TestFilterErrorsSayWhereAndWhat(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"port", "port at position 1 wants a port number"},
		{"port 99999", "not \"99999\" at position 6"},
		{"host localhost", "host wants an IP address"},
		{"tcp and", "ends too early"},
		{"(tcp", "missing ) for the ( at position 1"},
		{"tcp udp", "unexpected \"udp\" at position 5"},
		{"frobnicate", "unexpected \"frobnicate\" at position 1"},
		{"src tcp", "src at position 1 wants host, net, port or portrange"},
		{"conn zero", "conn wants a connection number"},
		{"net 10.0.0.0", "net wants a network"},
	} {
		_, err := Compile(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v, want one line containing %q", tc.expr, err, tc.want)
		}
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{"tcp port 80", "not (host ::1 or net 10.0.0.0/8)", "src portrange 1-2 and conn 3", "((("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := Compile(expr)
		if err != nil {
			return
		}
		for _, p := range all {
			flt.Match(p)
		}
	})
}
