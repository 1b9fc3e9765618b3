package decode

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket/layers"

	"github.com/sockscope/sockscope/trace"
)

// icmp4Info describes an ICMP message: "echo request, id 1, seq 2",
// "port unreachable (udp 127.0.0.1:40000 > 127.0.0.1:9999)".
func icmp4Info(m *layers.ICMPv4) string {
	typ, code := m.TypeCode.Type(), m.TypeCode.Code()
	switch typ {
	case layers.ICMPv4TypeEchoRequest, layers.ICMPv4TypeEchoReply:
		s := "echo reply"
		if typ == layers.ICMPv4TypeEchoRequest {
			s = "echo request"
		}
		return s + ", id " + strconv.Itoa(int(m.Id)) + ", seq " + strconv.Itoa(int(m.Seq))
	case layers.ICMPv4TypeDestinationUnreachable:
		var s string
		switch code {
		case 0:
			s = "net unreachable"
		case 1:
			s = "host unreachable"
		case 2:
			s = "protocol unreachable"
		case 3:
			s = "port unreachable"
		case 4:
			s = "fragmentation needed (mtu " + strconv.Itoa(int(m.Seq)) + ")"
		case 9, 10, 13:
			s = "administratively prohibited"
		default:
			s = "unreachable, code " + strconv.Itoa(int(code))
		}
		return s + quoted(m.Payload, false)
	case layers.ICMPv4TypeTimeExceeded:
		s := "time to live exceeded"
		if code == 1 {
			s = "fragment reassembly time exceeded"
		}
		return s + quoted(m.Payload, false)
	case layers.ICMPv4TypeSourceQuench:
		return "source quench" + quoted(m.Payload, false)
	case layers.ICMPv4TypeRedirect:
		return "redirect" + quoted(m.Payload, false)
	case layers.ICMPv4TypeParameterProblem:
		return "parameter problem" + quoted(m.Payload, false)
	case layers.ICMPv4TypeTimestampRequest:
		return "timestamp request"
	case layers.ICMPv4TypeTimestampReply:
		return "timestamp reply"
	}
	return "type " + strconv.Itoa(int(typ)) + ", code " + strconv.Itoa(int(code))
}

// icmp6Info describes an ICMPv6 message in the style of icmp4Info.
func icmp6Info(m *layers.ICMPv6) string {
	typ, code := m.TypeCode.Type(), m.TypeCode.Code()
	// The payload starts with the 4 bytes after type, code and checksum; an
	// error message quotes the offending packet after them.
	var body []byte
	if len(m.Payload) >= 4 {
		body = m.Payload[4:]
	}
	switch typ {
	case layers.ICMPv6TypeEchoRequest, layers.ICMPv6TypeEchoReply:
		s := "echo reply"
		if typ == layers.ICMPv6TypeEchoRequest {
			s = "echo request"
		}
		if len(m.Payload) >= 4 {
			s += ", id " + strconv.Itoa(int(binary.BigEndian.Uint16(m.Payload))) +
				", seq " + strconv.Itoa(int(binary.BigEndian.Uint16(m.Payload[2:])))
		}
		return s
	case layers.ICMPv6TypeDestinationUnreachable:
		var s string
		switch code {
		case 0:
			s = "no route to destination"
		case 1:
			s = "administratively prohibited"
		case 3:
			s = "address unreachable"
		case 4:
			s = "port unreachable"
		default:
			s = "unreachable, code " + strconv.Itoa(int(code))
		}
		return s + quoted(body, true)
	case layers.ICMPv6TypePacketTooBig:
		s := "packet too big"
		if len(m.Payload) >= 4 {
			s += " (mtu " + strconv.Itoa(int(binary.BigEndian.Uint32(m.Payload))) + ")"
		}
		return s + quoted(body, true)
	case layers.ICMPv6TypeTimeExceeded:
		s := "hop limit exceeded"
		if code == 1 {
			s = "fragment reassembly time exceeded"
		}
		return s + quoted(body, true)
	case layers.ICMPv6TypeParameterProblem:
		return "parameter problem" + quoted(body, true)
	case layers.ICMPv6TypeRouterSolicitation:
		return "router solicitation"
	case layers.ICMPv6TypeRouterAdvertisement:
		return "router advertisement"
	case layers.ICMPv6TypeNeighborSolicitation:
		return "neighbor solicitation"
	case layers.ICMPv6TypeNeighborAdvertisement:
		return "neighbor advertisement"
	case layers.ICMPv6TypeRedirect:
		return "redirect"
	case layers.ICMPv6TypeMLDv1MulticastListenerQueryMessage, layers.ICMPv6TypeMLDv1MulticastListenerReportMessage,
		layers.ICMPv6TypeMLDv1MulticastListenerDoneMessage, layers.ICMPv6TypeMLDv2MulticastListenerReportMessageV2:
		return "multicast listener message"
	}
	return "type " + strconv.Itoa(int(typ)) + ", code " + strconv.Itoa(int(code))
}

// quoted describes the datagram an ICMP error quotes: " (udp
// 127.0.0.1:40000 > 127.0.0.1:9999)", or "" when too little of it is there.
func quoted(b []byte, v6 bool) string {
	var (
		src, dst netip.Addr
		proto    layers.IPProtocol
		rest     []byte
	)
	switch {
	case !v6 && len(b) >= 20 && b[0]>>4 == 4:
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || ihl > len(b) {
			return ""
		}
		src, dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		proto, rest = layers.IPProtocol(b[9]), b[ihl:]
	case v6 && len(b) >= 40 && b[0]>>4 == 6:
		src, dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		proto, rest = layers.IPProtocol(b[6]), b[40:]
	default:
		return ""
	}
	name := protoName(proto)
	if (proto == layers.IPProtocolTCP || proto == layers.IPProtocolUDP) && len(rest) >= 4 {
		s := netip.AddrPortFrom(src, binary.BigEndian.Uint16(rest))
		d := netip.AddrPortFrom(dst, binary.BigEndian.Uint16(rest[2:]))
		return " (" + name + " " + s.String() + " > " + d.String() + ")"
	}
	return " (" + name + " " + src.String() + " > " + dst.String() + ")"
}

// quotedTuple reads back the "(udp A > B)" or "(tcp A > B)" that quoted
// put in an ICMP error's Info.
func quotedTuple(info string) (src, dst trace.Endpoint, ok bool) {
	i := strings.Index(info, "(udp ")
	if i < 0 {
		i = strings.Index(info, "(tcp ")
	}
	if i < 0 {
		return src, dst, false
	}
	rest := info[i+len("(udp "):]
	j := strings.Index(rest, " > ")
	k := strings.Index(rest, ")")
	if j < 0 || k < j {
		return src, dst, false
	}
	var err1, err2 error
	src, err1 = netip.ParseAddrPort(rest[:j])
	dst, err2 = netip.ParseAddrPort(rest[j+3 : k])
	return src, dst, err1 == nil && err2 == nil
}
