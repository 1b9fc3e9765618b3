package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// readAll reads frames until an error; it fails the test if reading does
// not stop.
func readAll(t *testing.T, s *FileSource) ([]trace.Frame, error) {
	t.Helper()
	var fs []trace.Frame
	for range 1000 {
		f, err := s.Next()
		if err != nil {
			return fs, err
		}
		fs = append(fs, f)
	}
	t.Fatal("Next never stopped")
	return nil, nil
}

func sameFrames(t *testing.T, got, want []trace.Frame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) {
			t.Errorf("frame %d: time %v, want %v", i+1, g.Time, w.Time)
		}
		if g.LinkType != w.LinkType {
			t.Errorf("frame %d: link type %d, want %d", i+1, g.LinkType, w.LinkType)
		}
		if !bytes.Equal(g.Data, w.Data) {
			t.Errorf("frame %d: data differs:\n got %x\nwant %x", i+1, g.Data, w.Data)
		}
		if g.WireLen != w.WireLen {
			t.Errorf("frame %d: wire length %d, want %d", i+1, g.WireLen, w.WireLen)
		}
		if !slices.Equal(g.Comments, w.Comments) {
			t.Errorf("frame %d: comments %q, want %q", i+1, g.Comments, w.Comments)
		}
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestReadWellFormedFiles(t *testing.T) {
	eth := threeFrames(t)
	// Two interfaces of different link types, interleaved, with comments.
	mixed := []trace.Frame{eth[0], eth[1], eth[2]}
	raw := tcpSegment(t, false, 7, false, "bare IP")
	rawFrame := trace.Frame{Time: eth[0].Time.Add(time.Microsecond), LinkType: LinkTypeRaw, Data: raw, WireLen: len(raw)}
	mixed = slices.Insert(mixed, 1, rawFrame)
	mixed[0].Comments = []string{"on lo"}
	mixed[1].Comments = []string{"on tun0", "second comment"}
	// A snapped frame: fewer bytes kept than were on the wire.
	snapped := slices.Clone(eth)
	snapped[2].Data = snapped[2].Data[:40]

	for _, tc := range []struct {
		name   string
		file   []byte
		format string
		want   []trace.Frame
	}{
		{"pcap little-endian microseconds", pcapgoFile(t, false, 1, eth), "pcap", truncTime(eth)},
		{"pcap little-endian nanoseconds", pcapgoFile(t, true, 1, eth), "pcap", eth},
		{"pcap big-endian microseconds", handPcap(binary.BigEndian, false, 1, eth), "pcap", truncTime(eth)},
		{"pcap big-endian nanoseconds", handPcap(binary.BigEndian, true, 1, eth), "pcap", eth},
		{"pcap keeps the wire length of a snapped frame", pcapgoFile(t, true, 1, snapped), "pcap", snapped},
		{"pcap with raw IP link type", handPcap(binary.LittleEndian, true, LinkTypeRaw, []trace.Frame{rawFrame}), "pcap", []trace.Frame{rawFrame}},
		{"pcap without packets", pcapgoFile(t, true, 1, nil), "pcap", nil},
		{"pcapng with two interfaces of different link types", ngFile(t, []int{1, LinkTypeRaw}, mixed), "pcapng", mixed},
		{"pcapng without packets", ngFile(t, []int{1}, nil), "pcapng", nil},
		{"gzip-compressed pcap", gzipped(t, pcapgoFile(t, true, 1, eth)), "pcap", eth},
		{"gzip-compressed pcapng", gzipped(t, ngFile(t, []int{1, LinkTypeRaw}, mixed)), "pcapng", mixed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewFileSource(bytes.NewReader(tc.file))
			if err != nil {
				t.Fatalf("NewFileSource: %v", err)
			}
			if s.Format() != tc.format {
				t.Errorf("format %q, want %q", s.Format(), tc.format)
			}
			got, err := readAll(t, s)
			if err != io.EOF {
				t.Fatalf("ended with %v, want io.EOF", err)
			}
			sameFrames(t, got, tc.want)
			if _, err := s.Next(); err != io.EOF {
				t.Errorf("Next after the end: %v, want io.EOF again", err)
			}
			if tc.file[0] != 0x1f && s.Offset() != int64(len(tc.file)) {
				t.Errorf("Offset at the end = %d, want the file size %d", s.Offset(), len(tc.file))
			}
		})
	}
}

func TestOpenFileReadsPathAndClosesIt(t *testing.T) {
	eth := threeFrames(t)
	path := filepath.Join(t.TempDir(), "three.pcap")
	if err := os.WriteFile(path, pcapgoFile(t, true, 1, eth), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, s)
	if err != io.EOF {
		t.Fatalf("ended with %v, want io.EOF", err)
	}
	sameFrames(t, got, eth)
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := OpenFile(filepath.Join(t.TempDir(), "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}

func TestDamagedFilesReturnFramesThenWhereTheyBroke(t *testing.T) {
	eth := threeFrames(t)
	pcap3 := pcapgoFile(t, true, 1, eth)
	pcap2 := pcapgoFile(t, true, 1, eth[:2]) // frame 3's record starts where this ends
	ng3 := ngFile(t, []int{1}, eth)
	ng2 := ngFile(t, []int{1}, eth[:2])
	// A record header that claims 4 GiB of data: rejected, not allocated.
	huge := slices.Clone(pcap3)
	binary.LittleEndian.PutUint32(huge[len(pcap2)+8:], 0xfffffff0)
	binary.LittleEndian.PutUint32(huge[len(pcap2)+12:], 0xfffffff0)
	// An enhanced packet block on interface 5, which was never declared.
	badIface := slices.Clone(ng3)
	binary.LittleEndian.PutUint32(badIface[len(ng2)+8:], 5)

	for _, tc := range []struct {
		name       string
		file       []byte
		frames     int   // frames read before the error
		offset, at int64 // DamagedError.Offset and .At
	}{
		{"pcap cut in the middle of a record's data", pcap3[:len(pcap3)-10], 2, int64(len(pcap2)), int64(len(pcap3) - 10)},
		{"pcap cut in the middle of a record header", pcap3[:len(pcap2)+7], 2, int64(len(pcap2)), int64(len(pcap2) + 7)},
		{"pcap cut right after a record header", pcap3[:len(pcap2)+16], 2, int64(len(pcap2)), int64(len(pcap2) + 16)},
		{"pcap record longer than any snap length", huge, 2, int64(len(pcap2)), int64(len(pcap2) + 16)},
		{"pcapng cut in the middle of a block", ng3[:len(ng3)-10], 2, int64(len(ng2)), int64(len(ng3) - 10)},
		{"pcapng cut in the middle of a block header", ng3[:len(ng2)+5], 2, int64(len(ng2)), int64(len(ng2) + 5)},
		{"pcapng packet on an undeclared interface", badIface, 2, int64(len(ng2)), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewFileSource(bytes.NewReader(tc.file))
			if err != nil {
				t.Fatalf("NewFileSource: %v", err)
			}
			got, err := readAll(t, s)
			sameFrames(t, got, eth[:tc.frames])
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("ended with %v, want ErrDamaged", err)
			}
			var de *DamagedError
			if !errors.As(err, &de) {
				t.Fatalf("%T is not a *DamagedError", err)
			}
			if de.Frames != tc.frames || de.Offset != tc.offset || (tc.at >= 0 && de.At != tc.at) {
				t.Errorf("damage after %d frames at record %d, stopped at %d; want %d, %d, %d (%v)",
					de.Frames, de.Offset, de.At, tc.frames, tc.offset, tc.at, err)
			}
			if _, again := s.Next(); again != err {
				t.Errorf("Next after the damage: %v, want the same error", again)
			}
			t.Log(err)
		})
	}
}

func TestUnreadableInputsSayWhy(t *testing.T) {
	pcap := pcapgoFile(t, true, 1, threeFrames(t))
	v23 := slices.Clone(pcap)
	binary.LittleEndian.PutUint16(v23[6:], 3)
	kuz := slices.Clone(pcap)
	binary.BigEndian.PutUint32(kuz, 0xa1b2cd34)

	for _, tc := range []struct {
		name string
		file []byte
		want error
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), ErrFormat},
		{"empty input", nil, ErrFormat},
		{"three bytes", []byte{0xd4, 0xc3, 0xb2}, ErrFormat},
		{"pcap version 2.3", v23, ErrFormat},
		{"modified pcap", kuz, ErrFormat},
		{"gzip of garbage", gzipped(t, []byte("not a capture at all")), ErrFormat},
		{"pcap file header cut short", pcap[:20], ErrDamaged},
		{"pcapng section header cut short", ngFile(t, []int{1}, nil)[:14], ErrDamaged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewFileSource(bytes.NewReader(tc.file))
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewFileSource = %v, %v; want an error wrapping %v", s, err, tc.want)
			}
			t.Log(err)
		})
	}
}

// TestAReadErrorIsNotAFormat: an input that cannot be read at all (a
// directory, an I/O error) says so, not "empty input".
func TestAReadErrorIsNotAFormat(t *testing.T) {
	eio := errors.New("input/output error")
	if _, err := NewFileSource(iotest.ErrReader(eio)); !errors.Is(err, eio) || errors.Is(err, ErrFormat) {
		t.Errorf("NewFileSource of a failing reader: %v, want %v and not %v", err, eio, ErrFormat)
	}
	_, err := OpenFile(t.TempDir())
	if !errors.Is(err, syscall.EISDIR) || errors.Is(err, ErrFormat) {
		t.Errorf("OpenFile of a directory: %v, want EISDIR and not %v", err, ErrFormat)
	}
}

// FuzzFileSource checks that any input ends in io.EOF or a classified error,
// without a panic, with Offset never going back or past the input.
// Its seeds are synthesised here; run it with -fuzz=FuzzFileSource.
func FuzzFileSource(f *testing.F) {
	eth := threeFrames(f)
	f.Add(pcapgoFile(f, false, 1, eth))
	f.Add(handPcap(binary.BigEndian, true, 1, eth))
	f.Add(ngFile(f, []int{1, LinkTypeRaw}, eth))
	f.Add(ngFile(f, []int{1}, eth)[:200])
	f.Add([]byte("\x0a\x0d\x0d\x0a"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := NewFileSource(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrDamaged) {
				t.Fatalf("open: unclassified error %v", err)
			}
			return
		}
		// Offsets of a gzip file count decompressed bytes.
		limit := int64(len(b))
		if len(b) > 1 && b[0] == 0x1f && b[1] == 0x8b {
			limit = 1 << 40
		}
		last := s.Offset()
		for range limit + 1 {
			_, err := s.Next()
			if off := s.Offset(); off < last || off > limit {
				t.Fatalf("offset went from %d to %d in %d bytes", last, off, len(b))
			}
			last = s.Offset()
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrDamaged) {
					t.Fatalf("next: unclassified error %v", err)
				}
				return
			}
		}
		t.Fatal("more frames than bytes")
	})
}
