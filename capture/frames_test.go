package capture

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sockscope/sockscope/trace"
)

// Helpers that synthesise packets and capture files for the tests.

var (
	clientIP = net.IPv4(127, 0, 0, 1)
	serverIP = net.IPv4(127, 0, 0, 2)
)

// tcpSegment returns an IPv4/TCP packet from client:50000 to server:7,
// wrapped in an Ethernet header when ether is set (lo's link type), bare
// otherwise (LINKTYPE_RAW).
func tcpSegment(t testing.TB, ether bool, seq uint32, syn bool, payload string) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: clientIP, DstIP: serverIP}
	tcp := &layers.TCP{SrcPort: 50000, DstPort: 7, Seq: seq, SYN: syn, ACK: !syn, PSH: payload != "", Window: 65535}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	ls := []gopacket.SerializableLayer{ip, tcp, gopacket.Payload(payload)}
	if ether {
		eth := &layers.Ethernet{
			SrcMAC: net.HardwareAddr{0, 0, 0, 0, 0, 0}, DstMAC: net.HardwareAddr{0, 0, 0, 0, 0, 0},
			EthernetType: layers.EthernetTypeIPv4,
		}
		ls = append([]gopacket.SerializableLayer{eth}, ls...)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// threeFrames is a handshake's first segment and two data segments on
// Ethernet, at nanosecond-precise times.
func threeFrames(t testing.TB) []trace.Frame {
	t.Helper()
	base := time.Date(2024, 3, 1, 12, 0, 0, 123456789, time.UTC)
	var fs []trace.Frame
	for i, p := range []string{"", "hello", "world!"} {
		d := tcpSegment(t, true, uint32(1000+i), p == "", p)
		fs = append(fs, trace.Frame{Time: base.Add(time.Duration(i) * 1001 * time.Nanosecond), LinkType: 1, Data: d, WireLen: len(d)})
	}
	return fs
}

// pcapgoFile writes frames with pcapgo's pcap writer (little-endian).
func pcapgoFile(t testing.TB, nano bool, linkType int, fs []trace.Frame) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if nano {
		w = pcapgo.NewWriterNanos(&b)
	}
	if err := w.WriteFileHeader(65536, layers.LinkType(linkType)); err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		ci := gopacket.CaptureInfo{Timestamp: f.Time, CaptureLength: len(f.Data), Length: f.WireLen}
		if err := w.WritePacket(ci, f.Data); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// handPcap writes a pcap file in any byte order; pcapgo only writes
// little-endian.
func handPcap(order binary.AppendByteOrder, nano bool, linkType int, fs []trace.Frame) []byte {
	var b bytes.Buffer
	magic := uint32(0xa1b2c3d4)
	if nano {
		magic = 0xa1b23c4d
	}
	put32 := func(v uint32) { b.Write(order.AppendUint32(nil, v)) }
	put16 := func(v uint16) { b.Write(order.AppendUint16(nil, v)) }
	put32(magic)
	put16(2)
	put16(4)
	put32(0)
	put32(0)
	put32(65536)
	put32(uint32(linkType))
	for _, f := range fs {
		frac := f.Time.Nanosecond()
		if !nano {
			frac /= 1000
		}
		put32(uint32(f.Time.Unix()))
		put32(uint32(frac))
		put32(uint32(len(f.Data)))
		put32(uint32(f.WireLen))
		b.Write(f.Data)
	}
	return b.Bytes()
}

// ngFile writes frames with pcapgo's NgWriter, one interface per entry of
// linkTypes; a frame goes to the interface of its link type.
func ngFile(t testing.TB, linkTypes []int, fs []trace.Frame) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, layers.LinkType(linkTypes[0]))
	if err != nil {
		t.Fatal(err)
	}
	index := map[int]int{linkTypes[0]: 0}
	for _, lt := range linkTypes[1:] {
		intf := pcapgo.DefaultNgInterface
		intf.LinkType = layers.LinkType(lt)
		id, err := w.AddInterface(intf)
		if err != nil {
			t.Fatal(err)
		}
		index[lt] = id
	}
	for _, f := range fs {
		ci := gopacket.CaptureInfo{Timestamp: f.Time, CaptureLength: len(f.Data), Length: f.WireLen, InterfaceIndex: index[f.LinkType]}
		if err := w.WritePacketWithOptions(ci, f.Data, pcapgo.NgPacketOptions{Comments: f.Comments}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// truncTime drops the nanoseconds a microsecond file cannot hold.
func truncTime(fs []trace.Frame) []trace.Frame {
	out := make([]trace.Frame, len(fs))
	for i, f := range fs {
		f.Time = f.Time.Truncate(time.Microsecond)
		out[i] = f
	}
	return out
}
