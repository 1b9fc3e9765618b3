package decode

import (
	"fmt"
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/sockscope/sockscope/trace"
)

// pcap LINKTYPE_ values the decoder understands.
const (
	linkNull     = 0
	linkEthernet = 1
	linkRaw12    = 12
	linkRaw14    = 14
	linkRaw      = 101
	linkLoop     = 108
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276
)

// layerDecoder decodes frames into preallocated gopacket layers: one
// DecodingLayerParser per first layer, all sharing the same layer values, so
// that decoding a frame allocates nothing.
type layerDecoder struct {
	eth   layers.Ethernet
	vlan  layers.Dot1Q
	loop  layers.Loopback
	sll   layers.LinuxSLL
	sll2  layers.LinuxSLL2
	ip4   layers.IPv4
	ip6   layers.IPv6
	ext   layers.IPv6ExtensionSkipper
	frag6 layers.IPv6Fragment
	tcp   layers.TCP
	udp   layers.UDP
	icmp4 layers.ICMPv4
	icmp6 layers.ICMPv6

	parsers [numFirst]*gopacket.DecodingLayerParser // by firstLayer's index
	decoded []gopacket.LayerType

	// layersOnly turns decodeFast off: the differential tests compare
	// the two paths.
	layersOnly bool

	// strs is a slab the options strings are carved from, from index
	// stri on, so that rendering them allocates nothing per packet; what
	// is carved out is never written again.
	strs []byte
	stri int
}

// options renders a TCP options area (see tcpOptions) into the slab.
func (ld *layerDecoder) options(opts []byte) string {
	if len(opts) == 0 {
		return ""
	}
	// An options area is at most 40 bytes; its rendering is at most a
	// few hundred.
	if len(ld.strs)-ld.stri < 1024 {
		ld.strs, ld.stri = make([]byte, 64<<10), 0
	}
	b := appendTCPOptions(ld.strs[ld.stri:ld.stri], opts)
	ld.stri += len(b)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func newLayerDecoder() *layerDecoder {
	ld := &layerDecoder{decoded: make([]gopacket.LayerType, 0, 8)}
	all := []gopacket.DecodingLayer{
		&ld.eth, &ld.vlan, &ld.loop, &ld.sll, &ld.sll2, &ld.ip4, &ld.ip6,
		&ld.ext, &ld.frag6, // the fragment header overrides the skipper for its type
		&ld.tcp, &ld.udp, &ld.icmp4, &ld.icmp6,
	}
	for i, first := range firstLayers {
		p := gopacket.NewDecodingLayerParser(first)
		// An array indexed by layer type is faster than the default map.
		var dlc gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
		for _, l := range all {
			dlc = dlc.Put(l)
		}
		p.SetDecodingLayerContainer(dlc)
		p.IgnoreUnsupported = true // stop quietly at payloads and protocols we do not decode
		ld.parsers[i] = p
	}
	return ld
}

// firstLayers are the layers a frame can start with.
var firstLayers = [...]gopacket.LayerType{
	layers.LayerTypeEthernet, layers.LayerTypeLoopback, layers.LayerTypeLinuxSLL,
	layers.LayerTypeLinuxSLL2, layers.LayerTypeIPv4, layers.LayerTypeIPv6,
}

const numFirst = len(firstLayers)

// LinkTypeSupported reports whether the decoder decodes frames of a pcap
// LINKTYPE_ value; frames of other link types become packets that say
// "unsupported link type N".
func LinkTypeSupported(linkType int) bool {
	_, ok := firstLayer(linkType, nil)
	return ok
}

// firstLayer returns the index in firstLayers of the layer a frame of
// linkType starts with; ok is false for link types the decoder does not know.
func firstLayer(linkType int, data []byte) (i int, ok bool) {
	switch linkType {
	case linkEthernet:
		return 0, true
	case linkNull, linkLoop:
		return 1, true
	case linkSLL:
		return 2, true
	case linkSLL2:
		return 3, true
	case linkIPv4:
		return 4, true
	case linkIPv6:
		return 5, true
	case linkRaw, linkRaw12, linkRaw14:
		if len(data) > 0 && data[0]>>4 == 6 {
			return 5, true
		}
		return 4, true
	}
	return 0, false
}

// decode fills p (Frame, Time and Payload aside), a zero packet, from the
// frame's bytes.
// It returns the TCP flag byte for TCP segments, the payload (pointing into
// data: the caller copies it into p.Payload), and ok when p has a TCP or
// UDP header and so belongs to a connection.
//
// The common frames (plain TCP or UDP over IPv4 without options or
// fragments, or over IPv6 without extension headers, after one of the usual
// link headers) take decodeFast; everything else, and every frame with an
// error, takes decodeLayers. Both decode a frame identically.
func (ld *layerDecoder) decode(p *trace.Packet, linkType int, data []byte) (flags byte, payload []byte, ok bool) {
	if !ld.layersOnly {
		if flags, payload, ok, done := ld.decodeFast(p, linkType, data); done {
			return flags, payload, ok
		}
	}
	flags, ok = ld.decodeLayers(p, linkType, data)
	payload, p.Payload = p.Payload, nil
	return flags, payload, ok
}

// decodeLayers decodes a frame through gopacket's DecodingLayerParser: any
// frame the decoder supports, errors included. It fills p as decode does,
// and leaves p.Payload pointing into data.
func (ld *layerDecoder) decodeLayers(p *trace.Packet, linkType int, data []byte) (flags byte, ok bool) {
	fi, ok := firstLayer(linkType, data)
	if !ok {
		p.Proto = "other"
		p.Info = "unsupported link type " + itoa(linkType)
		return 0, false
	}
	first := firstLayers[fi]
	err := ld.parsers[fi].DecodeLayers(data, &ld.decoded)

	p.Proto = "other"
	var (
		ipPayload   []byte // the IP payload as captured (after the IP header)
		ipDeclared  = -1   // the IP payload length the IP header declares
		ipProto     layers.IPProtocol
		haveIP      bool
		transport   gopacket.LayerType
		lastNet     gopacket.LayerType // the last IPv6 extension header decoded
		lastDecoded = first
	)
	for _, t := range ld.decoded {
		lastDecoded = t
		switch t {
		case layers.LayerTypeIPv4:
			haveIP = true
			p.Src = netip.AddrPortFrom(addr4(ld.ip4.SrcIP), 0)
			p.Dst = netip.AddrPortFrom(addr4(ld.ip4.DstIP), 0)
			ipProto = ld.ip4.Protocol
			ipPayload = ld.ip4.Payload
			ipDeclared = int(ld.ip4.Length) - int(ld.ip4.IHL)*4
		case layers.LayerTypeIPv6:
			haveIP = true
			p.Src = netip.AddrPortFrom(addr16(ld.ip6.SrcIP), 0)
			p.Dst = netip.AddrPortFrom(addr16(ld.ip6.DstIP), 0)
			ipProto = ld.ip6.NextHeader
			if ld.ip6.HopByHop != nil {
				ipProto = ld.ip6.HopByHop.NextHeader
			}
			// The payload length counts the extension headers; after the
			// hop-by-hop header it is what follows it.
			ipPayload = ld.ip6.Payload
			ipDeclared = int(ld.ip6.Length)
			if ld.ip6.HopByHop != nil {
				ipDeclared = int(ld.ip6.Length) - ld.ip6.HopByHop.ActualLength
			}
		case layers.LayerTypeIPv6Fragment:
			lastNet = t
		case layers.LayerTypeTCP, layers.LayerTypeUDP, layers.LayerTypeICMPv4, layers.LayerTypeICMPv6:
			transport = t
		default:
			if layers.LayerClassIPv6Extension.Contains(t) {
				lastNet = t
			}
		}
	}
	// After IPv6 extension headers, the IP payload is what follows the last
	// one (the skipper and the fragment layer hold the state of the last
	// header of their kind decoded).
	if lastNet != 0 {
		rest, next := ld.ext.Payload, ld.ext.NextHeader
		if lastNet == layers.LayerTypeIPv6Fragment {
			rest, next = ld.frag6.Payload, ld.frag6.NextHeader
		}
		ipDeclared -= len(ipPayload) - len(rest)
		ipPayload, ipProto = rest, next
	}
	if ipDeclared < len(ipPayload) {
		ipDeclared = len(ipPayload) // a TSO or jumbo length: trust what was captured
	}

	if err != nil {
		// The layer after the last decoded one failed.
		p.Error = layerName(ld.failed(first)) + ": " + err.Error()
	}

	switch transport {
	case layers.LayerTypeTCP:
		t := &ld.tcp
		p.Proto = "tcp"
		p.Src = netip.AddrPortFrom(p.Src.Addr(), uint16(t.SrcPort))
		p.Dst = netip.AddrPortFrom(p.Dst.Addr(), uint16(t.DstPort))
		hdr := t.Contents
		flags = hdr[13]
		p.Flags = tcpFlags(flags)
		p.Seq, p.Ack = t.Seq, t.Ack
		p.Win = int(t.Window)
		p.Options = ld.options(hdr[20:])
		p.Len = ipDeclared - len(hdr)
		p.Payload = t.Payload
		noteTruncated(p, len(t.Payload))
		return flags, true
	case layers.LayerTypeUDP:
		u := &ld.udp
		p.Proto = "udp"
		p.Src = netip.AddrPortFrom(p.Src.Addr(), uint16(u.SrcPort))
		p.Dst = netip.AddrPortFrom(p.Dst.Addr(), uint16(u.DstPort))
		p.Len = ipDeclared - 8
		if u.Length >= 8 {
			p.Len = int(u.Length) - 8
		}
		p.Payload = u.Payload
		noteTruncated(p, len(u.Payload))
		return 0, true
	case layers.LayerTypeICMPv4:
		p.Proto = "icmp"
		p.Len = ipDeclared
		p.Info = icmp4Info(&ld.icmp4)
		p.Payload = ld.icmp4.Payload
		setQuoted(p)
		return 0, false
	case layers.LayerTypeICMPv6:
		p.Proto = "icmp6"
		p.Len = ipDeclared
		p.Info = icmp6Info(&ld.icmp6)
		p.Payload = ld.icmp6.Payload
		setQuoted(p)
		return 0, false
	}

	// No transport layer: an IP packet of another protocol, a fragment, a
	// header that failed to decode, or no IP at all.
	if !haveIP {
		if p.Error == "" {
			p.Info = ld.linkInfo(lastDecoded)
		}
		return 0, false
	}
	p.Len = ipDeclared
	p.Payload = ipPayload
	switch {
	case ld.isFragment(lastDecoded):
		p.Info = "fragment of " + protoName(ipProto)
	case p.Error != "":
		// Keep the protocol the header named, so the row says what failed.
		p.Info = protoName(ipProto)
		if n := protoLabel(ipProto); n != "" {
			p.Proto = n
		}
	case ipProto == layers.IPProtocolTCP || ipProto == layers.IPProtocolUDP ||
		ipProto == layers.IPProtocolICMPv4 || ipProto == layers.IPProtocolICMPv6:
		// The IP header names a transport but no byte of it was captured.
		p.Proto = protoLabel(ipProto)
		p.Error = fmt.Sprintf("%s: header missing: captured %d of %d IP payload bytes", p.Proto, len(ipPayload), ipDeclared)
	default:
		p.Info = protoName(ipProto)
	}
	return 0, false
}

// noteTruncated records when the payload was captured only in part.
func noteTruncated(p *trace.Packet, captured int) {
	if p.Len > captured && p.Error == "" {
		p.Error = fmt.Sprintf("truncated: captured %d of %d payload bytes", captured, p.Len)
	}
}

// failed is the layer type whose decoding failed: the first layer when
// nothing was decoded, else the one after the last decoded layer.
func (ld *layerDecoder) failed(first gopacket.LayerType) gopacket.LayerType {
	if len(ld.decoded) == 0 {
		return first
	}
	var dl gopacket.DecodingLayer
	switch t := ld.decoded[len(ld.decoded)-1]; t {
	case layers.LayerTypeEthernet:
		dl = &ld.eth
	case layers.LayerTypeDot1Q:
		dl = &ld.vlan
	case layers.LayerTypeLoopback:
		dl = &ld.loop
	case layers.LayerTypeLinuxSLL:
		dl = &ld.sll
	case layers.LayerTypeLinuxSLL2:
		dl = &ld.sll2
	case layers.LayerTypeIPv4:
		dl = &ld.ip4
	case layers.LayerTypeIPv6:
		dl = &ld.ip6
	case layers.LayerTypeIPv6Fragment:
		dl = &ld.frag6
	default:
		if !layers.LayerClassIPv6Extension.Contains(t) {
			return t
		}
		dl = &ld.ext
	}
	return dl.NextLayerType()
}

func (ld *layerDecoder) isFragment(last gopacket.LayerType) bool {
	switch last {
	case layers.LayerTypeIPv4:
		return ld.ip4.Flags&layers.IPv4MoreFragments != 0 || ld.ip4.FragOffset != 0
	case layers.LayerTypeIPv6Fragment:
		return ld.frag6.FragmentOffset != 0 || ld.frag6.MoreFragments
	}
	return false
}

// linkInfo describes a frame that carries no IP: its EtherType or family.
func (ld *layerDecoder) linkInfo(last gopacket.LayerType) string {
	var et layers.EthernetType
	switch last {
	case layers.LayerTypeEthernet:
		et = ld.eth.EthernetType
	case layers.LayerTypeDot1Q:
		et = ld.vlan.Type
	case layers.LayerTypeLinuxSLL:
		et = ld.sll.EthernetType
	case layers.LayerTypeLinuxSLL2:
		et = ld.sll2.ProtocolType
	case layers.LayerTypeLoopback:
		return "loopback family " + itoa(int(ld.loop.Family))
	default:
		return "no IP layer"
	}
	switch et {
	case layers.EthernetTypeARP:
		return "arp"
	case layers.EthernetTypeLLC:
		return "llc"
	}
	return fmt.Sprintf("ethertype 0x%04x", uint16(et))
}

// layerName is the lower-case name of a layer type for error messages.
func layerName(t gopacket.LayerType) string {
	switch t {
	case layers.LayerTypeEthernet:
		return "ethernet"
	case layers.LayerTypeDot1Q:
		return "vlan"
	case layers.LayerTypeLoopback:
		return "loopback"
	case layers.LayerTypeLinuxSLL:
		return "linux_sll"
	case layers.LayerTypeLinuxSLL2:
		return "linux_sll2"
	case layers.LayerTypeIPv4:
		return "ipv4"
	case layers.LayerTypeIPv6:
		return "ipv6"
	case layers.LayerTypeTCP:
		return "tcp"
	case layers.LayerTypeUDP:
		return "udp"
	case layers.LayerTypeICMPv4:
		return "icmp"
	case layers.LayerTypeICMPv6:
		return "icmp6"
	}
	if layers.LayerClassIPv6Extension.Contains(t) {
		return "ipv6 extension header"
	}
	return t.String()
}

// protoLabel is the Packet.Proto of an IP protocol we decode, "" otherwise.
func protoLabel(p layers.IPProtocol) string {
	switch p {
	case layers.IPProtocolTCP:
		return "tcp"
	case layers.IPProtocolUDP:
		return "udp"
	case layers.IPProtocolICMPv4:
		return "icmp"
	case layers.IPProtocolICMPv6:
		return "icmp6"
	}
	return ""
}

// protoName names an IP protocol for Info: "ip proto 132 (sctp)".
func protoName(p layers.IPProtocol) string {
	if l := protoLabel(p); l != "" {
		return l
	}
	s := "ip proto " + itoa(int(p))
	switch p {
	case layers.IPProtocolSCTP:
		s += " (sctp)"
	case layers.IPProtocolIGMP:
		s += " (igmp)"
	case layers.IPProtocolGRE:
		s += " (gre)"
	case layers.IPProtocolESP:
		s += " (esp)"
	case layers.IPProtocolAH:
		s += " (ah)"
	case layers.IPProtocolUDPLite:
		s += " (udplite)"
	case layers.IPProtocolNoNextHeader:
		s += " (no next header)"
	}
	return s
}

func addr4(b []byte) netip.Addr {
	if len(b) != 4 {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte(b))
}

func addr16(b []byte) netip.Addr {
	if len(b) != 16 {
		return netip.Addr{}
	}
	return netip.AddrFrom16([16]byte(b))
}

func itoa(n int) string { return strconv.Itoa(n) }

// setQuoted records which datagram an ICMP error answers.
func setQuoted(p *trace.Packet) {
	if src, dst, ok := quotedTuple(p.Info); ok {
		p.Quoted = [2]trace.Endpoint{src, dst}
	}
}
