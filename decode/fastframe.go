package decode

import (
	"encoding/binary"
	"net/netip"

	"github.com/sockscope/sockscope/trace"
)

// decodeFast decodes the frames that make up nearly every capture straight
// into p, without gopacket: TCP or UDP over IPv4 without options or
// fragments, or over IPv6 without extension headers, after an Ethernet,
// LINUX_SLL, LINUX_SLL2, NULL or LOOP header or none (RAW, IPV4, IPV6).
//
// It takes a frame only when decodeLayers would decode every one of its
// layers without an error and stop after the transport header, and then
// fills p exactly as decodeLayers would, except that it returns the payload
// (decodeLayers's p.Payload) instead of storing it: Feed stores its copy
// (the differential tests in fastframe_test.go hold the two to it). For any other frame (VLAN tags,
// IP options, fragments, extension headers, ICMP, other protocols, a cut or
// malformed header, an unexpected IP version) it returns done false without
// touching p, and decode falls back to decodeLayers.
func (ld *layerDecoder) decodeFast(p *trace.Packet, linkType int, data []byte) (flags byte, payload []byte, ok, done bool) {
	// The link layer: where IP starts and which version the link header
	// announces, with the checks gopacket's layers make.
	var (
		ip []byte
		v6 bool
	)
	switch linkType {
	case linkEthernet:
		if len(data) < 14 {
			return 0, nil, false, false
		}
		switch binary.BigEndian.Uint16(data[12:]) {
		case 0x0800:
		case 0x86dd:
			v6 = true
		default: // VLAN, ARP, LLC ...
			return 0, nil, false, false
		}
		ip = data[14:]
	case linkNull, linkLoop:
		// The family is in the writer's byte order: like layers.Loopback,
		// read it big-endian when the first two bytes are zero.
		if len(data) < 4 {
			return 0, nil, false, false
		}
		var fam uint32
		if data[0] == 0 && data[1] == 0 {
			fam = binary.BigEndian.Uint32(data)
		} else {
			fam = binary.LittleEndian.Uint32(data)
		}
		switch fam {
		case 2: // PF_INET
		case 10, 24, 28, 30: // PF_INET6 on Linux, the BSDs and Darwin
			v6 = true
		default:
			return 0, nil, false, false
		}
		ip = data[4:]
	case linkSLL:
		if len(data) < 16 || binary.BigEndian.Uint16(data[4:]) > 8 {
			return 0, nil, false, false
		}
		switch binary.BigEndian.Uint16(data[14:]) {
		case 0x0800:
		case 0x86dd:
			v6 = true
		default:
			return 0, nil, false, false
		}
		ip = data[16:]
	case linkSLL2:
		if len(data) < 20 || data[11] > 8 {
			return 0, nil, false, false
		}
		switch binary.BigEndian.Uint16(data[8:]) {
		case 770, 778, 803: // ARPHRD_FRAD, ARPHRD_IPGRE, radiotap: the protocol type means something else
			return 0, nil, false, false
		}
		switch binary.BigEndian.Uint16(data[0:]) {
		case 0x0800:
		case 0x86dd:
			v6 = true
		default:
			return 0, nil, false, false
		}
		ip = data[20:]
	case linkIPv4:
		ip = data
	case linkIPv6:
		ip, v6 = data, true
	case linkRaw, linkRaw12, linkRaw14:
		ip, v6 = data, len(data) > 0 && data[0]>>4 == 6
	default:
		return 0, nil, false, false
	}

	// The IP header. gopacket does not check the version against what the
	// link layer announced; we leave a mismatch to it.
	var (
		ipPayload []byte // as captured, within the IP length
		declared  int    // the IP payload length the header declares
		proto     byte
		src, dst  netip.Addr
	)
	if !v6 {
		// Exactly 20 bytes of header (no options), a total length that
		// covers it (0, TSO's length, is left to gopacket), no fragment.
		if len(ip) < 20 || ip[0] != 0x45 || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return 0, nil, false, false
		}
		tl := int(binary.BigEndian.Uint16(ip[2:]))
		if tl < 20 {
			return 0, nil, false, false
		}
		if len(ip) > tl {
			ip = ip[:tl] // Ethernet padding, a trailer
		}
		proto = ip[9]
		src = netip.AddrFrom4([4]byte(ip[12:16]))
		dst = netip.AddrFrom4([4]byte(ip[16:20]))
		ipPayload = ip[20:]
		declared = tl - 20
	} else {
		// No extension header (hop-by-hop included), a non-zero payload
		// length (0 is a jumbogram's).
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return 0, nil, false, false
		}
		pl := int(binary.BigEndian.Uint16(ip[4:]))
		if pl == 0 {
			return 0, nil, false, false
		}
		proto = ip[6]
		src = netip.AddrFrom16([16]byte(ip[8:24]))
		dst = netip.AddrFrom16([16]byte(ip[24:40]))
		ipPayload = ip[40:]
		if len(ipPayload) > pl {
			ipPayload = ipPayload[:pl]
		}
		declared = pl
	}
	if declared < len(ipPayload) {
		declared = len(ipPayload) // cannot happen: the payload is cut to the declared length
	}

	switch proto {
	case 6: // TCP: a whole header, its options included.
		if len(ipPayload) < 20 {
			return 0, nil, false, false
		}
		hlen := int(ipPayload[12]>>4) * 4
		if hlen < 20 || hlen > len(ipPayload) {
			return 0, nil, false, false
		}
		hdr := ipPayload[:hlen]
		flags = hdr[13]
		p.Proto = "tcp"
		p.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(hdr[0:]))
		p.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(hdr[2:]))
		p.Flags = tcpFlags(flags)
		p.Seq = binary.BigEndian.Uint32(hdr[4:])
		p.Ack = binary.BigEndian.Uint32(hdr[8:])
		p.Win = int(binary.BigEndian.Uint16(hdr[14:]))
		if hlen > 20 { // p is zero: "" needs no store (nor its write barrier)
			p.Options = ld.options(hdr[20:])
		}
		p.Len = declared - hlen
		payload = ipPayload[hlen:]
		noteTruncated(p, len(payload))
		return flags, payload, true, true
	case 17: // UDP: a header whose length is 0 (a jumbogram's) or covers it.
		if len(ipPayload) < 8 {
			return 0, nil, false, false
		}
		ulen := int(binary.BigEndian.Uint16(ipPayload[4:]))
		switch {
		case ulen >= 8:
			payload = ipPayload[8:min(ulen, len(ipPayload))]
		case ulen == 0:
			payload = ipPayload[8:]
		default:
			return 0, nil, false, false
		}
		p.Proto = "udp"
		p.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(ipPayload[0:]))
		p.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(ipPayload[2:]))
		p.Len = declared - 8
		if ulen >= 8 {
			p.Len = ulen - 8
		}
		noteTruncated(p, len(payload))
		return 0, payload, true, true
	}
	return 0, nil, false, false
}
