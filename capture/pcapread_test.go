package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sockscope/sockscope/internal/testcorpus"
	"github.com/sockscope/sockscope/trace"
)

// FileSource reads classic pcap files with a reader of its own (pcapread.go).
// These tests hold it to what FileSource did with gopacket's pcapgo.Reader:
// the same frames, the same offsets after every frame, and the same ending,
// io.EOF or the same damage at the same record, stopped at the same byte,
// with the same message.

// pcapgoSource reads a classic pcap file as FileSource did before it had a
// reader of its own: pcapgo.Reader over a bufio.Reader over the file.
type pcapgoSource struct {
	count  *countingReader
	br     *bufio.Reader
	r      *pcapgo.Reader
	frames int
	err    error
	shared bool
}

// errNotClassic: the input is not a classic pcap file FileSource reads.
var errNotClassic = errors.New("not a classic pcap file")

func openPcapgo(in io.Reader, shared bool) (*pcapgoSource, error) {
	s := &pcapgoSource{count: &countingReader{r: in}, shared: shared}
	s.br = bufio.NewReaderSize(s.count, 64<<10)
	magic, err := s.br.Peek(4)
	if err != nil {
		return nil, errNotClassic
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(s.br)
		if err != nil {
			return nil, errNotClassic
		}
		s.count = &countingReader{r: zr}
		s.br = bufio.NewReaderSize(s.count, 64<<10)
		if magic, err = s.br.Peek(4); err != nil {
			return nil, errNotClassic
		}
	}
	order := binary.ByteOrder(binary.BigEndian)
	switch m := binary.BigEndian.Uint32(magic); m {
	case magicPcapMicroBE, magicPcapNanoBE:
	case magicPcapMicroLE, magicPcapNanoLE:
		order = binary.LittleEndian
	default:
		return nil, errNotClassic
	}
	if hdr, err := s.br.Peek(8); err == nil && (order.Uint16(hdr[4:]) != 2 || order.Uint16(hdr[6:]) != 4) {
		return nil, errNotClassic
	}
	if s.r, err = pcapgo.NewReader(s.br); err != nil {
		return nil, s.damaged(0, err)
	}
	return s, nil
}

func (s *pcapgoSource) Offset() int64 { return s.count.n - int64(s.br.Buffered()) }

func (s *pcapgoSource) Next() (trace.Frame, error) {
	if s.err != nil {
		return trace.Frame{}, s.err
	}
	start := s.Offset()
	read := s.r.ReadPacketData
	if s.shared {
		read = s.r.ZeroCopyReadPacketData
	}
	data, ci, err := read()
	if err != nil {
		if err == io.EOF && s.Offset() == start {
			s.err = io.EOF
		} else {
			s.err = s.damaged(start, err)
		}
		return trace.Frame{}, s.err
	}
	s.frames++
	return trace.Frame{Time: ci.Timestamp, LinkType: int(s.r.LinkType()), Data: data, WireLen: max(ci.Length, len(data))}, nil
}

func (s *pcapgoSource) damaged(start int64, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &DamagedError{Format: "pcap", Frames: s.frames, Offset: start, At: s.Offset(), Err: err}
}

// readout is everything a reader shows of a file.
type readout struct {
	open    string // the error opening it, if any
	offsets []int64
	frames  []trace.Frame // with their data copied
	end     error
}

type frameSource interface {
	Next() (trace.Frame, error)
	Offset() int64
}

func readOut(src frameSource, openErr error) readout {
	var r readout
	if openErr != nil {
		r.open, r.end = openErr.Error(), openErr
		return r
	}
	r.offsets = append(r.offsets, src.Offset())
	for {
		f, err := src.Next()
		r.offsets = append(r.offsets, src.Offset())
		if err != nil {
			r.end = err
			return r
		}
		f.Data = bytes.Clone(f.Data)
		r.frames = append(r.frames, f)
	}
}

// sameReadout reports how got differs from want, "" if it does not.
func sameReadout(got, want readout) string {
	if got.open != want.open {
		return fmt.Sprintf("open: %q, want %q", got.open, want.open)
	}
	if len(got.frames) != len(want.frames) {
		return fmt.Sprintf("%d frames, want %d (ended with %v, want %v)", len(got.frames), len(want.frames), got.end, want.end)
	}
	for i, w := range want.frames {
		g := got.frames[i]
		// == rather than Equal: the location must be the same too.
		if g.Time != w.Time || g.LinkType != w.LinkType || g.WireLen != w.WireLen || !bytes.Equal(g.Data, w.Data) || g.Comments != nil {
			return fmt.Sprintf("frame %d: %v %d %d %x %q, want %v %d %d %x", i+1,
				g.Time, g.LinkType, g.WireLen, g.Data, g.Comments, w.Time, w.LinkType, w.WireLen, w.Data)
		}
	}
	for i := range want.offsets {
		if got.offsets[i] != want.offsets[i] {
			return fmt.Sprintf("offset after %d frames: %d, want %d", i, got.offsets[i], want.offsets[i])
		}
	}
	if (got.end == io.EOF) != (want.end == io.EOF) {
		return fmt.Sprintf("ended with %v, want %v", got.end, want.end)
	}
	if want.end == io.EOF {
		return ""
	}
	var g, w *DamagedError
	if !errors.As(got.end, &g) || !errors.As(want.end, &w) {
		return fmt.Sprintf("ended with %T %v, want %T %v", got.end, got.end, want.end, want.end)
	}
	if g.Format != w.Format || g.Frames != w.Frames || g.Offset != w.Offset || g.At != w.At ||
		g.Err.Error() != w.Err.Error() || g.Error() != w.Error() {
		return fmt.Sprintf("ended with %+v, want %+v", *g, *w)
	}
	for _, sentinel := range []error{io.ErrUnexpectedEOF, errBroken, gzip.ErrChecksum, gzip.ErrHeader, io.ErrNoProgress} {
		if errors.Is(g, sentinel) != errors.Is(w, sentinel) {
			return fmt.Sprintf("ended with %v, want %v: errors.Is %v differs", g, w, sentinel)
		}
	}
	return ""
}

// inputs are the ways a test hands a file to both readers.
var inputs = []struct {
	name string
	wrap func([]byte) io.Reader
}{
	{"whole", func(b []byte) io.Reader { return bytes.NewReader(b) }},
	{"a byte at a time", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
	{"in 4093 byte reads", func(b []byte) io.Reader { return &chunkReader{b: b, n: 4093} }},
	{"last data with io.EOF", func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
}

// chunkReader returns at most n bytes a read.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[n:]
	return n, nil
}

// errBroken is the error of a reader that breaks.
var errBroken = errors.New("the disk is on fire")

// brokenReader returns errBroken after the bytes of b.
type brokenReader struct {
	b []byte
}

func (r *brokenReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errBroken
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// compareReaders reads file with FileSource and with pcapgo, in both
// modes, and fails if they differ. It returns what pcapgo read, ok false
// if the file is not classic pcap.
func compareReaders(t *testing.T, name string, file []byte, wrap func([]byte) io.Reader) (readout, bool) {
	t.Helper()
	var want readout
	for _, shared := range []bool{false, true} {
		old, err := openPcapgo(wrap(file), shared)
		if err == errNotClassic {
			return readout{}, false
		}
		want = readOut(old, err)
		src, err := NewFileSource(wrap(file))
		if err == nil {
			if shared {
				src.ShareFrameData()
			}
			if src.Format() != "pcap" {
				t.Fatalf("%s: format %q", name, src.Format())
			}
		}
		if diff := sameReadout(readOut(src, err), want); diff != "" {
			t.Fatalf("%s (shared %v): %s", name, shared, diff)
		}
	}
	return want, true
}

// rec is a record as written, lengths and all.
type rec struct {
	sec, frac, caplen, wirelen uint32
	data                       []byte
}

// rawPcap writes a classic pcap file record by record, consistent or not.
func rawPcap(order binary.AppendByteOrder, nano bool, snaplen, link uint32, recs []rec) []byte {
	magic := uint32(magicPcapMicroBE)
	if nano {
		magic = magicPcapNanoBE
	}
	b := order.AppendUint32(nil, magic)
	b = order.AppendUint16(b, 2)
	b = order.AppendUint16(b, 4)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, snaplen)
	b = order.AppendUint32(b, link)
	for _, r := range recs {
		b = order.AppendUint32(b, r.sec)
		b = order.AppendUint32(b, r.frac)
		b = order.AppendUint32(b, r.caplen)
		b = order.AppendUint32(b, r.wirelen)
		b = append(b, r.data...)
	}
	return b
}

// randomRecs are n records of up to maxLen bytes, some snapped, some empty.
func randomRecs(rng *rand.Rand, n, maxLen int, nano bool) []rec {
	recs := make([]rec, n)
	for i := range recs {
		d := make([]byte, rng.IntN(maxLen+1))
		for j := range d {
			d[j] = byte(rng.Uint32())
		}
		frac := rng.Uint32N(1e6)
		if nano {
			frac = rng.Uint32N(1e9)
		}
		recs[i] = rec{sec: rng.Uint32(), frac: frac, caplen: uint32(len(d)), wirelen: uint32(len(d)) + rng.Uint32N(3)*rng.Uint32N(1000), data: d}
	}
	return recs
}

func TestClassicPcapFilesReadAsWithPcapgo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type file struct {
		name string
		b    []byte
	}
	var files []file
	for _, order := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, nano := range []bool{false, true} {
			name := fmt.Sprintf("%v nano=%v", order, nano)
			// Records across many refills of the buffer.
			files = append(files, file{name + " 3000 records", rawPcap(order, nano, 65535, 1, randomRecs(rng, 3000, 1600, nano))})
			// Link types in the upper bits, a snap length of 0.
			files = append(files, file{name + " link type 0x10071", rawPcap(order, nano, 0, 0x10071, randomRecs(rng, 5, 100, nano))})
		}
	}
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	files = append(files,
		file{"no records", rawPcap(binary.LittleEndian, true, 65535, 1, nil)},
		file{"zero-length records", rawPcap(binary.LittleEndian, true, 65535, 1, []rec{{1, 2, 0, 0, nil}, {3, 4, 0, 60, nil}, {5, 6, 1, 1, []byte{9}}, {7, 8, 0, 0, nil}})},
		// pcapgo takes records up to 262144 bytes whatever the snap length:
		// such a record and its header do not fit the buffer.
		file{"records of 262144 bytes with snap length 1500", rawPcap(binary.LittleEndian, true, 1500, 1, []rec{
			{1, 2, 10, 10, big[:10]}, {1, 3, 262144, 262144, big[:262144]}, {1, 4, 262143, 262150, big[1:262144]}, {1, 5, 3, 3, big[:3]}})},
		file{"a record of 3 MiB with snap length 4 MiB", rawPcap(binary.BigEndian, false, 4<<20, 1, []rec{
			{1, 2, 10, 10, big[:10]}, {1, 3, uint32(len(big)), uint32(len(big)), big}, {1, 4, 5, 5, big[:5]}})},
		file{"a record longer than any snap length", rawPcap(binary.LittleEndian, true, 1500, 1, []rec{{1, 2, 10, 10, big[:10]}, {1, 3, 262145, 262145, big[:262145]}})},
		file{"a record of 4 GiB in a short file, snap length 4 GiB", rawPcap(binary.LittleEndian, true, 0xffffffff, 1, []rec{{1, 2, 10, 10, big[:10]}, {1, 3, 0xffffffff, 0xffffffff, big[:1000]}})},
		file{"caplen above the wire length", rawPcap(binary.LittleEndian, true, 1500, 1, []rec{{1, 2, 10, 10, big[:10]}, {1, 3, 11, 10, big[:11]}})},
		file{"microseconds that wrap when multiplied", rawPcap(binary.BigEndian, false, 1500, 1, []rec{{1, 0xffffffff, 1, 1, big[:1]}, {0xffffffff, 4294968, 1, 1, big[:1]}, {5, 1e6, 0, 0, nil}})},
		file{"nanoseconds of more than a second", rawPcap(binary.LittleEndian, true, 1500, 1, []rec{{1, 0xffffffff, 1, 1, big[:1]}, {2, 1e9, 0, 0, nil}})},
	)
	for _, f := range files {
		for _, in := range inputs {
			if in.name == "a byte at a time" && len(f.b) > 1<<20 {
				continue
			}
			compareReaders(t, f.name+", "+in.name, f.b, in.wrap)
			compareReaders(t, f.name+", gzip, "+in.name, gzipped(t, f.b), in.wrap)
		}
		if len(f.b) > 1<<20 {
			continue
		}
		// Cut at every byte of the header and the first record and of the
		// last 2000 bytes (300 of a long file: the last record and more),
		// and broken by a failing reader there.
		window := 2000
		if len(f.b) >= 64<<10 {
			window = 300
		}
		for cut := range len(f.b) + 1 {
			if cut > 60 && cut < len(f.b)-window {
				continue
			}
			name := fmt.Sprintf("%s cut at %d", f.name, cut)
			if _, ok := compareReaders(t, name, f.b[:cut], inputs[0].wrap); !ok && cut >= 8 {
				t.Fatalf("%s: not read as classic pcap", name)
			}
			if len(f.b) < 64<<10 {
				compareReaders(t, name+", a byte at a time", f.b[:cut], inputs[1].wrap)
			}
			compareReaders(t, name+", broken there", f.b, func(b []byte) io.Reader { return &brokenReader{b: b[:cut]} })
		}
		// A gzip stream cut short or with a bad checksum fails inside the
		// decompressor, not at the end of a record.
		z := gzipped(t, f.b)
		for cut := 10; cut < len(z); cut += max(1, len(z)/50) {
			compareReaders(t, fmt.Sprintf("%s gzip cut at %d", f.name, cut), z[:cut], inputs[0].wrap)
		}
		bad := bytes.Clone(z)
		bad[len(bad)-6] ^= 1
		plain, _ := compareReaders(t, f.name, f.b, inputs[0].wrap)
		if want, _ := compareReaders(t, f.name+" gzip with a bad checksum", bad, inputs[0].wrap); plain.end == io.EOF && !errors.Is(want.end, gzip.ErrChecksum) {
			t.Errorf("%s gzip with a bad checksum: ended with %v", f.name, want.end)
		}
	}
}

func TestPcapCorpusReadsAsWithPcapgo(t *testing.T) {
	// The shared corpus of odd captures, and the inputs FuzzFileSource
	// found interesting.
	var paths []string
	if dir := corpusOrNothing(t); dir != "" {
		ps, _ := filepath.Glob(filepath.Join(dir, "*"))
		paths = append(paths, ps...)
	}
	fuzzed, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "*", "*"))
	paths = append(paths, fuzzed...)
	classic := 0
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(path, filepath.Join("testdata", "fuzz")) {
			if b = fuzzInput(b); b == nil {
				continue
			}
		}
		for _, in := range inputs {
			if _, ok := compareReaders(t, path+", "+in.name, b, in.wrap); ok {
				classic++
			}
		}
		for cut := len(b) - 1; cut >= 24 && cut > len(b)-100; cut-- {
			compareReaders(t, fmt.Sprintf("%s cut at %d", path, cut), b[:cut], inputs[0].wrap)
		}
	}
	t.Logf("%d files, %d classic pcap readings compared", len(paths), classic)
	if classic == 0 {
		t.Error("no classic pcap file compared")
	}
}

// corpusOrNothing is the shared corpus directory, "" (logged) if there is
// none: the tests then compare testdata alone.
func corpusOrNothing(t *testing.T) string {
	dir, err := testcorpus.Dir()
	if err != nil {
		t.Log(err)
	}
	return dir
}

// fuzzInput is the []byte of a fuzz corpus file with one, nil otherwise.
func fuzzInput(file []byte) []byte {
	lines := strings.Split(string(file), "\n")
	if len(lines) < 2 || lines[0] != "go test fuzz v1" {
		return nil
	}
	arg, ok := strings.CutPrefix(lines[1], "[]byte(")
	if !ok {
		return nil
	}
	s, err := strconv.Unquote(strings.TrimSuffix(arg, ")"))
	if err != nil {
		return nil
	}
	return []byte(s)
}

// FuzzClassicPcap compares FileSource with pcapgo on a classic pcap header
// of any byte order, resolution and snap length followed by any bytes,
// read whole, in reads of any size, or gzip-compressed.
func FuzzClassicPcap(f *testing.F) {
	// kind: bit 0 big-endian, 1 nanoseconds, 2 gzip, the rest the link type.
	order := func(kind uint8) binary.AppendByteOrder {
		if kind&1 != 0 {
			return binary.BigEndian
		}
		return binary.LittleEndian
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i, recs := range [][]rec{
		randomRecs(rng, 10, 200, true),
		{{1, 2, 0, 0, nil}, {1, 3, 4, 4, []byte{1, 2, 3, 4}}},
		{{1, 2, 70000, 70000, make([]byte, 70000)}},
		{{1, 2, 10, 9, make([]byte, 10)}},
		randomRecs(rng, 10, 200, false),
	} {
		kind := uint8(i | 1<<3)
		body := rawPcap(order(kind), kind&2 != 0, 65535, 1, recs)[24:]
		f.Add(kind, uint32(65535), body, uint16(i*100))
	}
	f.Fuzz(func(t *testing.T, kind uint8, snaplen uint32, body []byte, chunk uint16) {
		file := append(rawPcap(order(kind), kind&2 != 0, snaplen, uint32(kind>>3), nil), body...)
		if kind&4 != 0 {
			file = gzipped(t, file)
		}
		wrap := inputs[0].wrap
		if chunk > 0 {
			wrap = func(b []byte) io.Reader { return &chunkReader{b: b, n: int(chunk)} }
		}
		if _, ok := compareReaders(t, "fuzzed", file, wrap); !ok {
			t.Fatal("not read as classic pcap")
		}
	})
}

// benchFile is a classic pcap file of n frames of 64 bytes, as the
// conversations of cmd/mkcapture are.
func benchFile(n int) []byte {
	recs := make([]rec, n)
	d := make([]byte, 64)
	for i := range recs {
		recs[i] = rec{sec: uint32(i / 1000), frac: uint32(i%1000) * 7000, caplen: 64, wirelen: 64, data: d}
	}
	return rawPcap(binary.LittleEndian, true, 262144, 1, recs)
}

// BenchmarkFileSourceNext: ns a frame of FileSource.Next on a classic pcap
// file in memory, sharing frame data (as replay does) or not; "pcapgo" is
// FileSource's reading before it had its own reader.
func BenchmarkFileSourceNext(b *testing.B) {
	file := benchFile(100000)
	for _, reader := range []string{"sockscope", "pcapgo"} {
		for _, shared := range []bool{true, false} {
			b.Run(fmt.Sprintf("reader=%s/shared=%v", reader, shared), func(b *testing.B) {
				open := func() frameSource {
					if reader == "pcapgo" {
						s, err := openPcapgo(bytes.NewReader(file), shared)
						if err != nil {
							b.Fatal(err)
						}
						return s
					}
					s, err := NewFileSource(bytes.NewReader(file))
					if err != nil {
						b.Fatal(err)
					}
					if shared {
						s.ShareFrameData()
					}
					return s
				}
				src := open()
				b.SetBytes(16 + 64)
				b.ReportAllocs()
				b.ResetTimer()
				// As replay's readCapture does: into one frame for the file.
				var f trace.Frame
				for range b.N {
					var err error
					f, err = src.Next()
					if err == io.EOF {
						b.StopTimer()
						src = open()
						b.StartTimer()
						f, err = src.Next()
					}
					if err != nil || len(f.Data) != 64 {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkFrameReaderReadAt: one frame read again by its offset, as the
// dashboard's detail pane does, from a file of 100000 frames.
func BenchmarkFrameReaderReadAt(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.pcap")
	if err := os.WriteFile(path, benchFile(100000), 0o644); err != nil {
		b.Fatal(err)
	}
	const first = 24
	fr, err := OpenFrameReader(path, first)
	if err != nil {
		b.Fatal(err)
	}
	defer fr.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	b.ReportAllocs()
	for b.Loop() {
		off := first + int64(rng.IntN(100000))*(16+64)
		if f, err := fr.ReadAt(off); err != nil || len(f.Data) != 64 {
			b.Fatal(err)
		}
	}
}

// intoSource reads with NextInto, into one Frame for the whole file, as a
// replay does.
type intoSource struct {
	*FileSource
	f trace.Frame
}

func (s *intoSource) Next() (trace.Frame, error) {
	err := s.NextInto(&s.f)
	return s.f, err
}

// TestNextIntoIsNext: NextInto gives the frames, offsets and ending Next
// gives, comments included, over the corpus and cut copies of it, sharing
// frame data and not.
func TestNextIntoIsNext(t *testing.T) {
	var paths []string
	if dir := corpusOrNothing(t); dir != "" {
		paths, _ = filepath.Glob(filepath.Join(dir, "*"))
	}
	synth := filepath.Join(t.TempDir(), "synth.pcap")
	rng := rand.New(rand.NewPCG(3, 4))
	if err := os.WriteFile(synth, rawPcap(binary.LittleEndian, true, 65535, 1, randomRecs(rng, 3000, 300, true)), 0o644); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, synth)
	read := func(path string, cut int, shared, into bool) (frames []trace.Frame, offsets []int64, end error) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if cut > 0 {
			b = b[:cut]
		}
		src, err := NewFileSource(bytes.NewReader(b))
		if err != nil {
			return nil, nil, err
		}
		if shared {
			src.ShareFrameData()
		}
		var fs frameSource = src
		if into {
			fs = &intoSource{FileSource: src}
		}
		for {
			f, err := fs.Next()
			offsets = append(offsets, src.Offset())
			if err != nil {
				return frames, offsets, err
			}
			f.Data = bytes.Clone(f.Data)
			frames = append(frames, f)
		}
	}
	compared := 0
	for _, path := range paths {
		size := 0
		if st, err := os.Stat(path); err == nil {
			size = int(st.Size())
		}
		for _, cut := range []int{0, size - 1, size - 7, size / 2} {
			if cut < 0 {
				continue
			}
			for _, shared := range []bool{true, false} {
				wantF, wantO, wantErr := read(path, cut, shared, false)
				gotF, gotO, gotErr := read(path, cut, shared, true)
				if !reflect.DeepEqual(gotF, wantF) || !slices.Equal(gotO, wantO) || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
					t.Errorf("%s cut at %d, shared %v: NextInto read %d frames ending %v, Next %d ending %v", path, cut, shared, len(gotF), gotErr, len(wantF), wantErr)
				}
				compared += len(wantF)
			}
		}
	}
	if compared < 3000 {
		t.Errorf("only %d frames compared", compared)
	}
}
