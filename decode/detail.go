package decode

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Layer is one protocol layer of a frame, field by field, for a detail view.
type Layer struct {
	Name   string  // "Ethernet", "IPv4", "TCP" …
	Fields []Field // in header order
}

// Field is one header field, its value rendered as text.
type Field struct {
	Name  string
	Value string
}

// Layers decodes one frame of the given pcap link type fully, with
// gopacket.NewPacket: it is meant for the one packet a user selects, not for
// a whole capture (the Decoder is several times faster). A part that cannot
// be decoded becomes a layer named "Error" carrying the reason; Layers never
// panics on bad input.
func Layers(linkType int, data []byte) []Layer {
	fi, ok := firstLayer(linkType, data)
	if !ok {
		return []Layer{{Name: "Error", Fields: []Field{{"reason", fmt.Sprintf("unsupported link type %d", linkType)}}}}
	}
	pkt := gopacket.NewPacket(data, firstLayers[fi], gopacket.DecodeOptions{NoCopy: true, Lazy: false})
	var out []Layer
	for _, l := range pkt.Layers() {
		out = append(out, describe(l))
	}
	if f := pkt.ErrorLayer(); f != nil && !isDescribed(out, "Error") {
		out = append(out, Layer{Name: "Error", Fields: []Field{{"reason", f.Error().Error()}}})
	}
	return out
}

func isDescribed(ls []Layer, name string) bool {
	for _, l := range ls {
		if l.Name == name {
			return true
		}
	}
	return false
}

func describe(l gopacket.Layer) Layer {
	f := func(name string, format string, args ...any) Field { return Field{name, fmt.Sprintf(format, args...)} }
	switch l := l.(type) {
	case *layers.Ethernet:
		return Layer{"Ethernet", []Field{
			f("source", "%s", l.SrcMAC), f("destination", "%s", l.DstMAC), f("type", "%s (0x%04x)", l.EthernetType, uint16(l.EthernetType)),
		}}
	case *layers.Dot1Q:
		return Layer{"802.1Q VLAN", []Field{f("priority", "%d", l.Priority), f("vlan id", "%d", l.VLANIdentifier), f("type", "%s", l.Type)}}
	case *layers.Loopback:
		return Layer{"Null/Loopback", []Field{f("family", "%s", l.Family)}}
	case *layers.LinuxSLL:
		return Layer{"Linux cooked capture", []Field{
			f("packet type", "%s", l.PacketType), f("address type", "%d", l.AddrType), f("address", "%x", l.Addr), f("protocol", "%s", l.EthernetType),
		}}
	case *layers.LinuxSLL2:
		return Layer{"Linux cooked capture v2", []Field{
			f("protocol", "%s", l.ProtocolType), f("interface index", "%d", l.InterfaceIndex), f("packet type", "%s", l.PacketType), f("address", "%x", l.Addr),
		}}
	case *layers.IPv4:
		flags := l.Flags.String()
		if flags == "" {
			flags = "none"
		}
		return Layer{"IPv4", []Field{
			f("source", "%s", l.SrcIP), f("destination", "%s", l.DstIP), f("version", "%d", l.Version),
			f("header length", "%d bytes", int(l.IHL)*4), f("tos", "0x%02x", l.TOS), f("total length", "%d", l.Length),
			f("id", "%d (0x%04x)", l.Id, l.Id), f("flags", "%s", flags), f("fragment offset", "%d", l.FragOffset),
			f("ttl", "%d", l.TTL), f("protocol", "%s (%d)", l.Protocol, uint8(l.Protocol)), f("checksum", "0x%04x", l.Checksum),
		}}
	case *layers.IPv6:
		return Layer{"IPv6", []Field{
			f("source", "%s", l.SrcIP), f("destination", "%s", l.DstIP), f("traffic class", "0x%02x", l.TrafficClass),
			f("flow label", "0x%05x", l.FlowLabel), f("payload length", "%d", l.Length),
			f("next header", "%s (%d)", l.NextHeader, uint8(l.NextHeader)), f("hop limit", "%d", l.HopLimit),
		}}
	case *layers.TCP:
		fs := []Field{
			f("source port", "%d", l.SrcPort), f("destination port", "%d", l.DstPort),
			f("sequence number", "%d (absolute)", l.Seq), f("acknowledgment", "%d (absolute)", l.Ack),
			f("header length", "%d bytes", int(l.DataOffset)*4), f("flags", "%s", tcpFlagNames(l)),
			f("window", "%d (unscaled)", l.Window), f("checksum", "0x%04x", l.Checksum), f("urgent pointer", "%d", l.Urgent),
		}
		for _, o := range l.Options {
			fs = append(fs, Field{"option", tcpOptionText(o)})
		}
		fs = append(fs, f("payload", "%d bytes", len(l.Payload)))
		return Layer{"TCP", fs}
	case *layers.UDP:
		return Layer{"UDP", []Field{
			f("source port", "%d", l.SrcPort), f("destination port", "%d", l.DstPort), f("length", "%d", l.Length),
			f("checksum", "0x%04x", l.Checksum), f("payload", "%d bytes", len(l.Payload)),
		}}
	case *layers.ICMPv4:
		return Layer{"ICMPv4", []Field{f("type/code", "%s", l.TypeCode), f("checksum", "0x%04x", l.Checksum), f("id", "%d", l.Id), f("seq", "%d", l.Seq)}}
	case *layers.ICMPv6:
		return Layer{"ICMPv6", []Field{f("type/code", "%s", l.TypeCode), f("checksum", "0x%04x", l.Checksum)}}
	case *gopacket.Payload:
		return Layer{"Payload", []Field{f("length", "%d bytes", len(l.Payload()))}}
	case *gopacket.DecodeFailure:
		return Layer{"Error", []Field{f("reason", "%v", l.Error()), f("undecoded", "%d bytes", len(l.LayerContents()))}}
	}
	// Anything else: gopacket's own one-line rendering, without the raw bytes.
	s := gopacket.LayerString(l)
	return Layer{l.LayerType().String(), []Field{{"fields", strings.TrimSpace(strings.TrimPrefix(s, l.LayerType().String()))}}}
}

func tcpFlagNames(t *layers.TCP) string {
	var names []string
	for _, fl := range []struct {
		on   bool
		name string
	}{{t.CWR, "CWR"}, {t.ECE, "ECE"}, {t.URG, "URG"}, {t.ACK, "ACK"}, {t.PSH, "PSH"}, {t.RST, "RST"}, {t.SYN, "SYN"}, {t.FIN, "FIN"}, {t.NS, "NS"}} {
		if fl.on {
			names = append(names, fl.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, " ")
}

func tcpOptionText(o layers.TCPOption) string {
	d := o.OptionData
	switch o.OptionType {
	case layers.TCPOptionKindMSS:
		if len(d) == 2 {
			return fmt.Sprintf("MSS %d bytes", binary.BigEndian.Uint16(d))
		}
	case layers.TCPOptionKindWindowScale:
		if len(d) == 1 {
			return fmt.Sprintf("window scale %d (multiply by %d)", d[0], 1<<min(d[0], 14))
		}
	case layers.TCPOptionKindSACKPermitted:
		return "SACK permitted"
	case layers.TCPOptionKindTimestamps:
		if len(d) == 8 {
			return fmt.Sprintf("timestamps val %d ecr %d", binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:]))
		}
	case layers.TCPOptionKindNop:
		return "NOP"
	case layers.TCPOptionKindEndList:
		return "end of options"
	case layers.TCPOptionKindSACK:
		var blocks []string
		for i := 0; i+8 <= len(d); i += 8 {
			blocks = append(blocks, fmt.Sprintf("%d-%d", binary.BigEndian.Uint32(d[i:]), binary.BigEndian.Uint32(d[i+4:])))
		}
		return "SACK " + strings.Join(blocks, " ")
	}
	return fmt.Sprintf("%s % x", o.OptionType, d)
}
