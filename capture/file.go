package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sockscope/sockscope/trace"
)

// ErrFormat is wrapped by errors for input that is not a capture file this
// package reads (not pcap, not pcapng, or an unsupported version of them).
var ErrFormat = errors.New("not a pcap or pcapng file")

// ErrDamaged is wrapped by errors for a capture file that is recognised but
// broken: cut short or with a corrupt record. Frames before the damage have
// been returned. The error is a *DamagedError.
var ErrDamaged = errors.New("damaged capture file")

// DamagedError says where a capture file broke.
type DamagedError struct {
	Format string // "pcap" or "pcapng"
	Frames int    // frames read before the damage
	Offset int64  // byte offset of the record (or header) that could not be read
	At     int64  // byte offset where reading stopped
	Err    error  // what the reader reported
}

func (e *DamagedError) Error() string {
	what := fmt.Sprintf("record at byte %d (after frame %d)", e.Offset, e.Frames)
	if e.Offset == 0 {
		what = "file header"
	}
	cause := e.Err.Error()
	if errors.Is(e.Err, io.ErrUnexpectedEOF) {
		cause = "file ends in the middle of it"
	}
	return fmt.Sprintf("damaged %s file: %s unreadable, stopped at byte %d: %s", e.Format, what, e.At, cause)
}

// Is makes errors.Is(err, ErrDamaged) true.
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

// Unwrap returns the reader's error.
func (e *DamagedError) Unwrap() error { return e.Err }

// Magic numbers, as the first four bytes read big-endian.
const (
	magicPcapMicroBE = 0xa1b2c3d4
	magicPcapMicroLE = 0xd4c3b2a1
	magicPcapNanoBE  = 0xa1b23c4d
	magicPcapNanoLE  = 0x4d3cb2a1
	magicPcapngSHB   = 0x0a0d0d0a
	magicKuznetzovBE = 0xa1b2cd34 // "modified" pcap from old Red Hat tcpdump
	magicKuznetzovLE = 0x34cdb2a1
)

// FileSource reads frames from a pcap or pcapng file.
type FileSource struct {
	closer io.Closer // nil for stdin or a caller's reader
	count  *countingReader
	br     *bufio.Reader
	format string
	pcap   *pcapReader
	ng     *pcapgo.NgReader
	link   int // pcap: the file's link type
	frames int
	err    error // sticky: once broken, stays broken

	statsSeen         bool
	received, dropped uint64

	shared bool // Next's frame data is valid until the next call only
}

// ShareFrameData lets Next return frames whose Data the next call to Next
// overwrites: no copy and no allocation per frame, for a reader that is
// done with a frame's bytes before it asks for the next one.
func (s *FileSource) ShareFrameData() { s.shared = true }

// OpenFile opens a capture file; "-" reads standard input. pcap (either byte
// order, micro- or nanosecond timestamps) and pcapng are recognised by their
// magic number, gzip-compressed files too.
func OpenFile(path string) (*FileSource, error) {
	if path == "-" {
		s, err := NewFileSource(os.Stdin)
		if err != nil {
			return nil, fmt.Errorf("read capture from stdin: %w", err)
		}
		return s, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	s, err := NewFileSource(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read capture %s: %w", path, err)
	}
	s.closer = f
	return s, nil
}

// NewFileSource reads a capture from r; see OpenFile.
func NewFileSource(r io.Reader) (*FileSource, error) {
	s := &FileSource{count: &countingReader{r: r}}
	// pcapgo's NgReader wraps its input in bufio.NewReader, which returns a
	// *bufio.Reader of at least 4 KiB as is: so this is the only buffer, and
	// the bytes consumed are the bytes read minus the bytes buffered. The
	// classic pcap reader reads through it into a buffer of its own and
	// counts what it consumed itself.
	s.br = bufio.NewReaderSize(s.count, 64<<10)
	magic, err := s.br.Peek(4)
	if err != nil {
		if !errors.Is(err, io.EOF) {
			return nil, err // a read error (a directory, an I/O error), not a short file
		}
		if len(magic) == 0 {
			return nil, fmt.Errorf("%w: empty input", ErrFormat)
		}
		return nil, fmt.Errorf("%w: only %d bytes", ErrFormat, len(magic))
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(s.br)
		if err != nil {
			return nil, fmt.Errorf("%w: bad gzip header: %w", ErrFormat, err)
		}
		// Offsets now count decompressed bytes.
		s.count = &countingReader{r: zr}
		s.br = bufio.NewReaderSize(s.count, 64<<10)
		if magic, err = s.br.Peek(4); err != nil {
			return nil, fmt.Errorf("%w: gzip stream holds %d bytes", ErrFormat, len(magic))
		}
	}
	switch m := binary.BigEndian.Uint32(magic); m {
	case magicPcapMicroBE, magicPcapMicroLE, magicPcapNanoBE, magicPcapNanoLE:
		s.format = "pcap"
		if hdr, err := s.br.Peek(8); err == nil {
			order := binary.ByteOrder(binary.BigEndian)
			if m == magicPcapMicroLE || m == magicPcapNanoLE {
				order = binary.LittleEndian
			}
			if maj, min := order.Uint16(hdr[4:6]), order.Uint16(hdr[6:8]); maj != 2 || min != 4 {
				return nil, fmt.Errorf("%w: pcap version %d.%d (only 2.4 is read)", ErrFormat, maj, min)
			}
		}
		if s.pcap, err = newPcapReader(s.br, s.Offset()); err != nil {
			return nil, s.damaged(0, err)
		}
		s.link = s.pcap.link
	case magicPcapngSHB:
		s.format = "pcapng"
		s.ng, err = pcapgo.NewNgReader(s.br, pcapgo.NgReaderOptions{
			WantMixedLinkType:  true, // keep every interface's packets
			SkipUnknownVersion: true,
			StatisticsCallback: s.onStats,
		})
		if errors.Is(err, pcapgo.ErrNgVersionMismatch) {
			return nil, fmt.Errorf("%w: unsupported pcapng version", ErrFormat)
		}
		if err != nil {
			return nil, s.damaged(0, err)
		}
	case magicKuznetzovBE, magicKuznetzovLE:
		return nil, fmt.Errorf("%w: modified (Kuznetzov) pcap; convert it with editcap", ErrFormat)
	default:
		return nil, fmt.Errorf("%w: unknown magic number %#08x", ErrFormat, m)
	}
	return s, nil
}

func (s *FileSource) onStats(iface int, st pcapgo.NgInterfaceStatistics) {
	if iface != 0 {
		return
	}
	s.statsSeen = true
	s.received, s.dropped = st.PacketsReceived, st.PacketsDropped
}

// Format is "pcap" or "pcapng".
func (s *FileSource) Format() string { return s.format }

// Offset is the number of bytes of the file consumed so far (of the
// decompressed stream for a gzip file).
func (s *FileSource) Offset() int64 {
	if s.pcap != nil {
		return s.pcap.offset()
	}
	return s.count.n - int64(s.br.Buffered())
}

// InterfaceStats returns the counters of the last pcapng interface
// statistics block for interface 0 read so far (such blocks usually come
// last: ask after io.EOF). ok is false if there was none; a counter the block
// left out is pcapgo.NgNoValue64.
func (s *FileSource) InterfaceStats() (received, dropped uint64, ok bool) {
	return s.received, s.dropped, s.statsSeen
}

// Next returns the next frame. It returns io.EOF at a clean end, and an error
// wrapping ErrDamaged (a *DamagedError) if the file breaks; after an error
// every call returns the same error.
func (s *FileSource) Next() (trace.Frame, error) {
	// A classic pcap record that is in the buffer whole and whose lengths
	// pass is sliced out right here: the frame is written once, into the
	// result (each function it passes through copies it again).
	if p := s.pcap; p != nil && s.err == nil {
		if h := p.buf[p.pos:p.end]; len(h) >= pcapRecordLen {
			caplen, wirelen := p.u32(h[8:]), p.u32(h[12:])
			if caplen <= wirelen && caplen <= p.maxCap && uint64(caplen) <= uint64(len(h)-pcapRecordLen) {
				n := pcapRecordLen + int(caplen)
				data := h[pcapRecordLen:n:n]
				if !s.shared {
					data = append(make([]byte, 0, len(data)), data...)
				}
				p.pos += n
				s.frames++
				// p.time(h), which is not inlined.
				t := time.Unix(int64(p.u32(h)), int64(p.u32(h[4:])*p.nanoMul)).UTC()
				return trace.Frame{Time: t, LinkType: s.link, Data: data, WireLen: int(wirelen)}, nil
			}
		}
	}
	return s.next()
}

// NextInto is Next writing the frame into *f (all its fields): for a
// caller that reads a whole file into one Frame, it spares copying each
// frame out of a result.
func (s *FileSource) NextInto(f *trace.Frame) error {
	if p := s.pcap; p != nil && s.err == nil && s.shared {
		if h := p.buf[p.pos:p.end]; len(h) >= pcapRecordLen {
			caplen, wirelen := p.u32(h[8:]), p.u32(h[12:])
			if caplen <= wirelen && caplen <= p.maxCap && uint64(caplen) <= uint64(len(h)-pcapRecordLen) {
				n := pcapRecordLen + int(caplen)
				f.Data = h[pcapRecordLen:n:n]
				p.pos += n
				s.frames++
				f.Time = time.Unix(int64(p.u32(h)), int64(p.u32(h[4:])*p.nanoMul)).UTC()
				f.LinkType, f.WireLen = s.link, int(wirelen)
				if f.Comments != nil {
					f.Comments = nil
				}
				return nil
			}
		}
	}
	var err error
	*f, err = s.Next()
	return err
}

// next is Next for anything but a whole record in the buffer.
func (s *FileSource) next() (trace.Frame, error) {
	if s.err != nil {
		return trace.Frame{}, s.err
	}
	if s.pcap != nil {
		return s.nextPcap()
	}
	return s.nextNg()
}

// nextPcap is Next for a classic pcap file.
func (s *FileSource) nextPcap() (trace.Frame, error) {
	var f trace.Frame
	start := s.pcap.offset()
	if err := s.pcap.next(&f); err != nil {
		// io.EOF is a clean end only where no byte of a record was read.
		if err == io.EOF && s.pcap.offset() == start {
			s.err = io.EOF
		} else {
			s.err = s.damaged(start, err)
		}
		return trace.Frame{}, s.err
	}
	if !s.shared {
		f.Data = append(make([]byte, 0, len(f.Data)), f.Data...)
	}
	f.LinkType = s.link
	s.frames++
	return f, nil
}

// nextNg is Next for a pcapng file.
func (s *FileSource) nextNg() (trace.Frame, error) {
	start := s.Offset()
	var (
		data []byte
		ci   gopacket.CaptureInfo
		opts pcapgo.NgPacketOptions
		err  error
	)
	if s.shared {
		data, ci, opts, err = s.ng.ZeroCopyReadPacketDataWithOptions()
	} else {
		data, ci, opts, err = s.ng.ReadPacketDataWithOptions()
	}
	if err != nil {
		// NgReader returns io.EOF only between blocks.
		if err == io.EOF {
			s.err = io.EOF
		} else {
			s.err = s.damaged(start, err)
		}
		return trace.Frame{}, s.err
	}
	s.frames++
	return trace.Frame{
		Time:     ci.Timestamp,
		LinkType: s.ngLinkType(ci),
		Data:     data,
		WireLen:  max(ci.Length, len(data)),
		Comments: opts.Comments,
	}, nil
}

// ngLinkType is the link type of the interface the packet was captured on.
func (s *FileSource) ngLinkType(ci gopacket.CaptureInfo) int {
	if len(ci.AncillaryData) > 0 {
		if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
			return int(lt)
		}
	}
	intf, err := s.ng.Interface(ci.InterfaceIndex)
	if err != nil {
		return -1 // cannot happen: the reader checked the index
	}
	return int(intf.LinkType)
}

func (s *FileSource) damaged(start int64, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &DamagedError{Format: s.format, Frames: s.frames, Offset: start, At: s.Offset(), Err: err}
}

// Close closes the file OpenFile opened; it does not close stdin or a
// reader given to NewFileSource.
func (s *FileSource) Close() error {
	if s.closer == nil {
		return nil
	}
	err := s.closer.Close()
	s.closer = nil
	return err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
