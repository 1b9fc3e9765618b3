// Command mkcapture synthesises a pcap file of many short TCP conversations
// (handshake, request, reply, close) between loopback-like hosts, for
// benchmarks and robustness checks: `go run ./cmd/mkcapture -n 1000000 -o big.pcap`.
//
// The client addresses are few (-hosts, default 1) and the client ports
// cycle through 28000 ephemeral ports, as on a real machine: tcpdump keeps
// the addresses it printed in a hash table that thousands of distinct
// 127.0.x.y addresses degrade into one long list.
//
// The conversations are the ones sockscope's tutorials produce: a client
// sends a line, the server answers with a longer one, the client closes
// first and the ACK of its FIN rides on the server's FIN.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	n := flag.Int("n", 1000000, "how many packets (rounded up to whole conversations)")
	out := flag.String("o", "capture.pcap", "the pcap file to write")
	hosts := flag.Int("hosts", 1, "how many client addresses (127.0.0.1, 127.0.0.2, …); the server is 127.0.0.1:12345")
	flag.Parse()
	if err := write(*out, *n, max(*hosts, 1)); err != nil {
		fmt.Fprintln(os.Stderr, "mkcapture:", err)
		os.Exit(1)
	}
}

// perConversation is how many packets one conversation has.
const perConversation = 10

func write(path string, n, hosts int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriterNanos(bw)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		return err
	}
	t := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	buf := gopacket.NewSerializeBuffer()
	for conv := 0; conv*perConversation < n; conv++ {
		h := 1 + conv%hosts
		client := net.IPv4(127, byte(h>>16), byte(h>>8), byte(h))
		server := net.IPv4(127, 0, 0, 1)
		cport := layers.TCPPort(32768 + conv%28000)
		cseq, sseq := uint32(conv*7919), uint32(conv*104729)
		req := []byte(fmt.Sprintf("hello %d", conv))
		reply := []byte(fmt.Sprintf("[%s] hello %d", t.Format(time.ANSIC), conv))
		type seg struct {
			fromClient    bool
			syn, ack, fin bool
			psh           bool
			payload       []byte
		}
		segs := []seg{
			{fromClient: true, syn: true},
			{syn: true, ack: true},
			{fromClient: true, ack: true},
			{fromClient: true, ack: true, psh: true, payload: req},
			{ack: true},
			{ack: true, psh: true, payload: reply},
			{fromClient: true, ack: true},
			{fromClient: true, ack: true, fin: true},
			{ack: true, fin: true},
			{fromClient: true, ack: true},
		}
		for _, s := range segs {
			src, dst, sp, dp := client, server, cport, layers.TCPPort(12345)
			seq, ack := &cseq, &sseq
			if !s.fromClient {
				src, dst, sp, dp = server, client, dp, sp
				seq, ack = &sseq, &cseq
			}
			eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0, 0, 0, 0, 0}, DstMAC: net.HardwareAddr{0, 0, 0, 0, 0, 0}, EthernetType: layers.EthernetTypeIPv4}
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst, Flags: layers.IPv4DontFragment}
			tcp := &layers.TCP{SrcPort: sp, DstPort: dp, Seq: *seq, SYN: s.syn, ACK: s.ack, FIN: s.fin, PSH: s.psh, Window: 512}
			if s.ack {
				tcp.Ack = *ack
			}
			if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
				return err
			}
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
				eth, ip, tcp, gopacket.Payload(s.payload)); err != nil {
				return err
			}
			data := buf.Bytes()
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: t, CaptureLength: len(data), Length: len(data)}, data); err != nil {
				return err
			}
			*seq += uint32(len(s.payload))
			if s.syn || s.fin {
				*seq++
			}
			t = t.Add(7 * time.Microsecond)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}
