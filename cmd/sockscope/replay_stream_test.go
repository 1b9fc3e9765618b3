package main

import (
	"bytes"
	byteorder "encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sockscope/sockscope/capture"
	"github.com/sockscope/sockscope/decode"
	"github.com/sockscope/sockscope/trace"
	"github.com/sockscope/sockscope/ui"
)

// writeConversations writes a pcap of n tutorial conversations between
// 127.0.0.1:4000x clients and 127.0.0.1:12345, as another tool would
// capture them (no sockscope comments): handshake, a request and its
// reply, the client closes first. Ten packets each.
func writeConversations(t testing.TB, path string, n int) {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	sb := gopacket.NewSerializeBuffer()
	for conv := range n {
		cport := layers.TCPPort(40000 + conv)
		cseq, sseq := uint32(1000*conv), uint32(7000*conv+5)
		for _, s := range []struct {
			c             bool
			syn, ack, fin bool
			data          string
		}{
			{c: true, syn: true}, {syn: true, ack: true}, {c: true, ack: true},
			{c: true, ack: true, data: "hello"}, {ack: true}, {ack: true, data: "hello to you"}, {c: true, ack: true},
			{c: true, ack: true, fin: true}, {ack: true, fin: true}, {c: true, ack: true},
		} {
			sp, dp, seq, ack := cport, layers.TCPPort(12345), &cseq, &sseq
			if !s.c {
				sp, dp, seq, ack = dp, sp, &sseq, &cseq
			}
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IPv4(127, 0, 0, 1), DstIP: net.IPv4(127, 0, 0, 1)}
			tcp := &layers.TCP{SrcPort: sp, DstPort: dp, Seq: *seq, SYN: s.syn, ACK: s.ack, FIN: s.fin, PSH: s.data != "", Window: 512}
			if s.ack {
				tcp.Ack = *ack
			}
			_ = tcp.SetNetworkLayerForChecksum(ip)
			eth := &layers.Ethernet{SrcMAC: make(net.HardwareAddr, 6), DstMAC: make(net.HardwareAddr, 6), EthernetType: layers.EthernetTypeIPv4}
			if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(s.data)); err != nil {
				t.Fatal(err)
			}
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(sb.Bytes()), Length: len(sb.Bytes())}, sb.Bytes()); err != nil {
				t.Fatal(err)
			}
			*seq += uint32(len(s.data))
			if s.syn || s.fin {
				*seq++
			}
			at = at.Add(10 * time.Microsecond)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// kinds counts the events of a JSON Lines output by kind, and inferred calls.
func kinds(evs []trace.Event) map[string]int {
	n := map[string]int{}
	for _, ev := range evs {
		n[string(ev.Kind)]++
		if ev.Call != nil && ev.Call.Inferred != "" {
			n["inferred"]++
		}
		if ev.Note != nil && ev.Note.Topic == trace.TopicSummary {
			n["summary"]++
		}
	}
	return n
}

// TestReplayOfALongForeignCaptureStreams: 3000 conversations (30000
// packets, more than the ladder holds): JSON has every packet, the calls
// each conversation implies (connect, listening socket, two closes), a
// summary per connection; the text says it prints one line per event.
func TestReplayOfALongForeignCaptureStreams(t *testing.T) {
	dir := t.TempDir()
	writeConversations(t, filepath.Join(dir, "long.pcap"), 3000)
	r := sockscope(t, 0, dir, "replay", "long.pcap", "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	n := kinds(decodeJSON(t, r.stdout))
	if n["packet"] != 30000 || n["inferred"] != 4*3000 || n["summary"] != 3000 {
		t.Errorf("JSON: %d packets, %d inferred calls, %d summaries; want 30000, 12000, 3000", n["packet"], n["inferred"], n["summary"])
	}
	r = sockscope(t, 0, dir, "replay", "long.pcap", "--format", "text")
	if r.code != 0 {
		t.Fatalf("text: exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(r.stdout, "\n")
	if !strings.Contains(lines[0], "one line per event") {
		t.Errorf("text begins %q", lines[0])
	}
	// Each packet one row, each inferred call one, each summary one.
	if got := strings.Count(r.stdout, " → "); got != 30000 {
		t.Errorf("text shows %d packet rows, want 30000", got)
	}
	if got := strings.Count(r.stdout, "(inferred)"); got != 12000 {
		t.Errorf("text shows %d inferred calls, want 12000", got)
	}
}

// TestReplayFilterAndConn: --filter keeps the packets it matches with
// their states and calls, --conn one connection, and a bad expression is
// one clear line and exit status 2.
func TestReplayFilterAndConn(t *testing.T) {
	dir := t.TempDir()
	writeConversations(t, filepath.Join(dir, "c.pcap"), 5)
	for _, tc := range []struct {
		args    []string
		packets int
		check   func(p *trace.Packet) bool
	}{
		{[]string{"--filter", "port 40002"}, 10, func(p *trace.Packet) bool { return p.Src.Port() == 40002 || p.Dst.Port() == 40002 }},
		{[]string{"--conn", "4"}, 10, func(p *trace.Packet) bool { return p.Conn == 4 }},
		{[]string{"--filter", "src port 12345 and tcp", "--conn", "1"}, 4, func(p *trace.Packet) bool { return p.Conn == 1 && p.Src.Port() == 12345 }},
		{[]string{"--filter", "udp or icmp"}, 0, nil},
	} {
		r := sockscope(t, 0, dir, append([]string{"replay", "c.pcap", "--format", "json"}, tc.args...)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, r.code, r.stderr)
		}
		evs := decodeJSON(t, r.stdout)
		n := 0
		var conns = map[int]bool{}
		for _, ev := range evs {
			if p := ev.Packet; p != nil {
				n++
				conns[p.Conn] = true
				if !tc.check(p) {
					t.Errorf("%v: packet %+v should not pass", tc.args, p)
				}
			}
			if s := ev.State; s != nil && !conns[s.Conn] {
				t.Errorf("%v: a state of connection %d, none of whose packets passed", tc.args, s.Conn)
			}
			if no := ev.Note; no != nil && no.Conn != 0 && !conns[no.Conn] {
				t.Errorf("%v: a note about connection %d, none of whose packets passed", tc.args, no.Conn)
			}
		}
		if n != tc.packets {
			t.Errorf("%v: %d packets shown, want %d", tc.args, n, tc.packets)
		}
		last := evs[len(evs)-1]
		if last.Note == nil || !strings.Contains(last.Note.Text, fmt.Sprintf("%d of 50 packets shown", tc.packets)) {
			t.Errorf("%v: the last line is %+v, want a note counting what the filter kept", tc.args, last)
		}
	}
	for _, args := range [][]string{{"--filter", "port"}, {"--filter", "host 300.1.1.1"}, {"--filter", "tcp and (udp"}, {"--conn", "-1"}} {
		r := sockscope(t, 0, dir, append([]string{"replay", "c.pcap"}, args...)...)
		if r.code != exitCannot || r.stdout != "" || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.HasPrefix(r.stderr, "sockscope: --") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q: want one line and exit 2", args, r.code, r.stdout, r.stderr)
		}
	}
}

// TestReplayOfDamagedAndForeignFiles: a file cut short shows what it
// holds, a warning with the byte offset, exit status 1; garbage, an empty
// file and a missing one are one line and exit 2; frames of a link type
// sockscope does not decode are each shown and counted, exit 0; standard
// input reads the same as the file.
func TestReplayOfDamagedAndForeignFiles(t *testing.T) {
	dir := t.TempDir()
	whole := filepath.Join(dir, "c.pcap")
	writeConversations(t, whole, 3)
	data, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	// Cut in the middle of the 13th record.
	cut := 24
	for range 12 {
		cut += 16 + int(byteorder.LittleEndian.Uint32(data[cut+8:]))
	}
	cut += 20
	os.WriteFile(filepath.Join(dir, "cut.pcap"), data[:cut], 0o644)
	r := sockscope(t, 0, dir, "replay", "cut.pcap", "--format", "json")
	if r.code != exitDamaged {
		t.Fatalf("cut file: exit %d, want 1: %s", r.code, r.stderr)
	}
	if n := kinds(decodeJSON(t, r.stdout))["packet"]; n != 12 {
		t.Errorf("cut file: %d packets shown, want the 12 before the cut", n)
	}
	if want := fmt.Sprintf("byte %d", cut-20); !strings.Contains(r.stderr, want) || !strings.Contains(r.stdout, "damaged") {
		t.Errorf("cut file: stderr %q should name %q, and the output end with a warning", r.stderr, want)
	}
	os.WriteFile(filepath.Join(dir, "garbage.pcap"), []byte("this is not a capture file at all\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "empty.pcap"), nil, 0o644)
	for _, f := range []string{"garbage.pcap", "empty.pcap", "missing.pcap"} {
		r := sockscope(t, 0, dir, "replay", f)
		if r.code != exitCannot || r.stdout != "" || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q: want one line and exit 2", f, r.code, r.stdout, r.stderr)
		}
	}

	// LINKTYPE_USER0 (147): three frames of something sockscope cannot decode.
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	w.WriteFileHeader(65535, layers.LinkType(147))
	for i := range 3 {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: 4, Length: 4}, []byte{1, 2, 3, 4})
	}
	os.WriteFile(filepath.Join(dir, "user0.pcap"), buf.Bytes(), 0o644)
	r = sockscope(t, 0, dir, "replay", "user0.pcap", "--format", "json")
	if r.code != 0 {
		t.Fatalf("user0: exit %d: %s", r.code, r.stderr)
	}
	evs := decodeJSON(t, r.stdout)
	n := 0
	for _, ev := range evs {
		if p := ev.Packet; p != nil && p.Info == "unsupported link type 147" {
			n++
		}
	}
	if last := evs[len(evs)-1].Note; n != 3 || last == nil || !strings.Contains(last.Text, "3 of 3 frames") || !strings.Contains(last.Text, "147") {
		t.Errorf("user0: %d packets say unsupported, closing note %+v", n, last)
	}

	// Standard input.
	cmd := exec.Command(binary, "replay", "-", "--format", "json")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("replay -: %v", err)
	}
	if file := sockscope(t, 0, dir, "replay", "c.pcap", "--format", "json"); string(out) != file.stdout {
		t.Errorf("replay - differs from replay of the file")
	}
}

// TestReplayOfEveryCutOfARecordedCapture: a tcp-echo capture sockscope
// recorded, cut at every 61st byte: each cut replays in text and JSON
// without a panic, exit 1 (damaged) or 2 (no header), never a hang.
func TestReplayOfEveryCutOfARecordedCapture(t *testing.T) {
	dir := t.TempDir()
	r := sockscope(t, 0, dir, "run", "tcp-echo", "--format", "json", "-w", "echo.pcapng")
	if r.code != 0 {
		t.Skipf("cannot record tcp-echo here (exit %d): %s", r.code, strings.TrimSpace(r.stderr))
	}
	data, err := os.ReadFile(filepath.Join(dir, "echo.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	for cut := 1; cut < len(data); cut += 61 {
		os.WriteFile(filepath.Join(dir, "cut.pcapng"), data[:cut], 0o644)
		for _, format := range []string{"json", "text"} {
			r := sockscope(t, 0, dir, "replay", "cut.pcapng", "--format", format)
			if r.code != exitDamaged && r.code != exitCannot || strings.Contains(r.stderr, "panic") {
				t.Fatalf("cut at %d, %s: exit %d: %s", cut, format, r.code, r.stderr)
			}
			if format == "json" && r.code == exitDamaged {
				decodeJSON(t, r.stdout)
			}
		}
	}
}

// BenchmarkReplay: a foreign capture of 2000 conversations (20000 packets)
// replayed in text and JSON, in process, to nowhere; ns/packet is the whole
// pipeline: reading, decoding, annotating, printing.
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "c.pcap")
	writeConversations(b, path, 2000)
	for _, format := range []string{"text", "json"} {
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if code := run(b.Context(), []string{"replay", path, "--format", format}, io.Discard, io.Discard); code != 0 {
					b.Fatalf("exit %d", code)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/20000, "ns/packet")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// TestLongReplayIsTheWholeCapturesAnnotation: a foreign capture long
// enough to be annotated frame by frame, with the records of the frames
// printed reused for the next ones, prints exactly what annotating the
// whole capture at once and printing it gives, in text and JSON.
func TestLongReplayIsTheWholeCapturesAnnotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "long.pcap")
	writeConversations(t, path, 4000) // 40000 packets, about 100000 events
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	d := decode.NewDecoder()
	var all []trace.Event
	for n := 1; ; n++ {
		f, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, d.Feed(&f, n)...)
	}
	whole := decode.Annotate(all, decode.AnnotateOptions{InferCalls: true, NoExplain: true})

	var text, jsonl bytes.Buffer
	ts := ui.NewTextStream(&text, ui.TextOptions{}, 0)
	enc := trace.NewEncoder(&jsonl, time.Time{})
	for _, ev := range whole {
		if err := ts.Event(ev); err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	for format, want := range map[string]string{"text": text.String(), "json": jsonl.String()} {
		r := sockscope(t, 0, dir, "replay", "long.pcap", "--format", format)
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s", format, r.code, r.stderr)
		}
		if r.stdout != want {
			got, exp := strings.Split(r.stdout, "\n"), strings.Split(want, "\n")
			for i := range min(len(got), len(exp)) {
				if got[i] != exp[i] {
					t.Fatalf("%s, line %d:\n replay %s\n whole  %s", format, i+1, got[i], exp[i])
				}
			}
			t.Fatalf("%s: %d lines, the whole capture's %d", format, len(got), len(exp))
		}
	}
}
