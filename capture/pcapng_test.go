package capture

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// commentedFrames are the frames of the round-trip tests: no comment, one
// non-ASCII comment, several comments on one packet, and a call comment.
func commentedFrames(t *testing.T) []trace.Frame {
	t.Helper()
	fs := threeFrames(t)
	call := &trace.Call{
		ID: 3, Lane: "client", Op: trace.OpSend, FD: 3, Proto: "tcp", Len: 5, Ret: 5, Data: []byte("hello"),
		Remote: netip.MustParseAddrPort("127.0.0.2:7"), Start: fs[1].Time.Add(-time.Microsecond),
	}
	fs[1].Comments = []string{"état: ÉTABLI — 接続済み ✓"}
	fs[2].Comments = []string{"first", "second, with a comma", "", trace.CallComment(call)}
	return fs
}

func writePcapng(t *testing.T, w io.Writer, fs []trace.Frame) {
	t.Helper()
	pw, err := NewPcapngWriter(w, LinkTypeEthernet, "lo")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if err := pw.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.WriteStats(uint64(len(fs)), 0); err != nil {
		t.Fatal(err)
	}
	if err := pw.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestPcapngRoundTripKeepsFramesAndComments(t *testing.T) {
	fs := commentedFrames(t)
	raw := tcpSegment(t, false, 9, false, "raw")
	withRaw := append(fs[:2:2], trace.Frame{Time: fs[1].Time.Add(time.Nanosecond), LinkType: LinkTypeRaw, Data: raw, WireLen: len(raw) + 10, Comments: []string{"bare IP"}}, fs[2])

	for _, tc := range []struct {
		name string
		in   []trace.Frame
	}{
		{"comments: none, non-ASCII, several on one packet, a call", fs},
		{"a frame of another link type gets its own interface", withRaw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			writePcapng(t, &b, tc.in)
			s, err := NewFileSource(&b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, s)
			if err != io.EOF {
				t.Fatalf("ended with %v, want io.EOF", err)
			}
			sameFrames(t, got, tc.in)
			recv, drop, ok := s.InterfaceStats()
			if !ok || recv != uint64(len(tc.in)) || drop != 0 {
				t.Errorf("interface statistics = %d received, %d dropped (present %v); want %d, 0", recv, drop, ok, len(tc.in))
			}
		})
	}
}

func TestPcapngCallCommentParsesBack(t *testing.T) {
	fs := commentedFrames(t)
	var b bytes.Buffer
	writePcapng(t, &b, fs)
	s, err := NewFileSource(&b)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := readAll(t, s)
	c, ok, err := trace.ParseCallComment(got[2].Comments[3])
	if !ok || err != nil || c.Op != trace.OpSend || string(c.Data) != "hello" {
		t.Errorf("ParseCallComment = %+v, %v, %v", c, ok, err)
	}
}

func TestPcapngWriterRefusesOversizedComment(t *testing.T) {
	pw, err := NewPcapngWriter(io.Discard, LinkTypeEthernet, "lo")
	if err != nil {
		t.Fatal(err)
	}
	f := threeFrames(t)[0]
	f.Comments = []string{strings.Repeat("x", 1<<16)}
	if err := pw.WriteFrame(f); err == nil {
		t.Error("a 64 KiB comment was accepted; its length does not fit the option")
	}
}

// TestTsharkShowsComments checks the file against Wireshark's reader.
func TestTsharkShowsComments(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed")
	}
	fs := commentedFrames(t)
	path := filepath.Join(t.TempDir(), "comments.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	writePcapng(t, f, fs)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tshark, "-r", path, "-T", "fields", "-e", "frame.number", "-e", "frame.comment", "-E", "occurrence=a", "-E", "aggregator=|")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(fs) {
		t.Fatalf("tshark shows %d frames, want %d:\n%s", len(lines), len(fs), out)
	}
	for i, line := range lines {
		num, comments, _ := strings.Cut(line, "\t")
		if want := []string{"1", "2", "3"}[i]; num != want {
			t.Errorf("line %d: frame number %q, want %s", i+1, num, want)
		}
		if want := strings.Join(fs[i].Comments, "|"); comments != want {
			t.Errorf("frame %d: tshark shows comments %q, want %q", i+1, comments, want)
		}
	}
	t.Logf("tshark:\n%s", out)
}
