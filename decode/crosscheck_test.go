package decode

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sockscope/sockscope/trace"
)

// crossCheckConversations are synthesised captures compared with tshark
// and tcpdump.
func crossCheckConversations(t *testing.T) map[string][]trace.Frame {
	m := map[string][]trace.Frame{}
	m["close"] = handshake(newConvo(t, 1000, 5000)).
		c("P.", "hello").s(".", "").s("P.", "hello").c(".", "").
		c("F.", "").s("F.", "").c(".", "").frames()
	m["wrap"] = handshake(newConvo(t, 0xfffffffa, 0xfffffffe)).
		c("P.", "0123456789").s(".", "").s("P.", "abcdef").c(".", "").
		c("F.", "").s(".", "").s("F.", "").c(".", "").frames()
	m["halfclose"] = handshake(newConvo(t, 77, 3_000_000_000)).
		c("F.", "").s(".", "").s("P.", "more").c(".", "").s("FP.", "last").c(".", "").frames()
	c := newConvo(t, 1000, 0).c("S", "")
	c.raw(seg{fromClient: false, flags: "R.", seq: 0, ack: 1001})
	m["refused"] = c.frames()
	m["midstream"] = frames(t, []seg{
		{fromClient: false, flags: "P.", seq: 5000, ack: 9000, data: "hello"},
		{fromClient: true, flags: ".", seq: 9000, ack: 5005},
		{fromClient: true, flags: "P.", seq: 9000, ack: 5005, data: "abc"},
		{fromClient: true, flags: "F.", seq: 9003, ack: 5005},
		{fromClient: false, flags: "F.", seq: 5005, ack: 9004},
		{fromClient: true, flags: ".", seq: 9004, ack: 5006},
	})
	m["synackfirst"] = frames(t, []seg{
		{fromClient: false, flags: "S.", seq: 100, ack: 7001},
		{fromClient: true, flags: ".", seq: 7001, ack: 101},
		{fromClient: true, flags: "P.", seq: 7001, ack: 101, data: "hi"},
	})
	m["flags"] = frames(t, []seg{
		{fromClient: true, flags: "FSRPUEW.", seq: 1, ack: 2},
		{fromClient: true, flags: "", seq: 1},
		{fromClient: true, flags: "U.", seq: 1, ack: 2},
		{fromClient: true, flags: "EW", seq: 1},
	})
	// Ethernet padding: a 60-byte minimum frame around a 40-byte segment.
	pad := handshake(newConvo(t, 1, 2)).frames()
	for i := range pad {
		pad[i].Data = append(pad[i].Data, make([]byte, 60-len(pad[i].Data)%60)...)
		pad[i].WireLen = len(pad[i].Data)
	}
	m["padded"] = pad
	return m
}

// tsharkFlags turns tshark's tcp.flags.str ("·······AP···") into the flag
// byte.
func tsharkFlags(s string) byte {
	var b byte
	for _, r := range s {
		switch r {
		case 'F':
			b |= flagFIN
		case 'S':
			b |= flagSYN
		case 'R':
			b |= flagRST
		case 'P':
			b |= flagPSH
		case 'A':
			b |= flagACK
		case 'U':
			b |= flagURG
		case 'E':
			b |= flagECE
		case 'C':
			b |= flagCWR
		}
	}
	return b
}

// TestCrossCheckTshark compares flags, relative sequence and
// acknowledgement numbers and payload lengths with tshark's tcp.flags.str,
// tcp.seq, tcp.ack and tcp.len.
func TestCrossCheckTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	dir := t.TempDir()
	for name, fs := range crossCheckConversations(t) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".pcap")
			writePcap(t, path, fs)
			out, err := exec.Command("tshark", "-r", path, "-T", "fields", "-E", "separator=/t",
				"-e", "tcp.flags.str", "-e", "tcp.seq", "-e", "tcp.ack", "-e", "tcp.len").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			_, evs := feedAll(fs)
			lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
			if len(lines) != len(evs) {
				t.Fatalf("tshark shows %d packets, we %d", len(lines), len(evs))
			}
			for i, line := range lines {
				f := strings.Split(line, "\t")
				p := evs[i][0].Packet
				want := fmt.Sprintf("%s %s %s %s", tcpFlags(tsharkFlags(f[0])), f[1], f[2], f[3])
				got := fmt.Sprintf("%s %d %d %d", p.Flags, p.RSeq, p.RAck, p.Len)
				if got != want {
					t.Errorf("frame %d: got %q, tshark %q", i+1, got, want)
				}
			}
		})
	}
}

var tcpdumpLine = regexp.MustCompile(`Flags \[([^\]]*)\](?:, seq (\d+)(?::\d+)?)?(?:, ack (\d+))?, win (\d+)(?:, urg \d+)?(?:, options \[([^\]]*)\])?, length (\d+)`)

// TestCrossCheckTcpdump compares flags, absolute numbers, window, options
// and length with tcpdump -S.
func TestCrossCheckTcpdump(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed")
	}
	dir := t.TempDir()
	for name, fs := range crossCheckConversations(t) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".pcap")
			writePcap(t, path, fs)
			out, err := exec.Command("tcpdump", "-n", "-S", "-r", path).Output()
			if err != nil {
				t.Fatalf("tcpdump: %v", err)
			}
			_, evs := feedAll(fs)
			sc := bufio.NewScanner(bytes.NewReader(out))
			i := 0
			for sc.Scan() {
				m := tcpdumpLine.FindStringSubmatch(sc.Text())
				if m == nil {
					t.Fatalf("unexpected tcpdump line %q", sc.Text())
				}
				if i >= len(evs) {
					t.Fatalf("tcpdump shows more packets than we do")
				}
				p := evs[i][0].Packet
				i++
				if p.Flags != m[1] || p.Options != m[5] || strconv.Itoa(p.Win) != m[4] || strconv.Itoa(p.Len) != m[6] {
					t.Errorf("frame %d: got flags %q options %q win %d len %d; tcpdump %q", i, p.Flags, p.Options, p.Win, p.Len, sc.Text())
				}
				if m[2] != "" && strconv.FormatUint(uint64(p.Seq), 10) != m[2] {
					t.Errorf("frame %d: seq %d, tcpdump %s", i, p.Seq, m[2])
				}
				if m[3] != "" && strconv.FormatUint(uint64(p.Ack), 10) != m[3] {
					t.Errorf("frame %d: ack %d, tcpdump %s", i, p.Ack, m[3])
				}
			}
			if i != len(evs) {
				t.Errorf("tcpdump shows %d packets, we %d", i, len(evs))
			}
		})
	}
}
