package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// The classic pcap reader. gopacket's pcapgo.Reader costs about 150 ns a
// record, most of it in io.ReadFull through a bufio.Reader twice a record;
// this one slices records out of one large buffer it refills itself, and
// reads the same: the same frames, timestamps and lengths, the same
// records refused with the same messages, and the same bytes consumed
// when it stops (FileSource's offsets and damage reports depend on them).

const (
	pcapHeaderLen = 24
	pcapRecordLen = 16 // a record header

	// pcapBufStart is the buffer a reader starts with, doubled at every
	// refill after the first two (the header's and the first record's)
	// up to pcapBufSize: reading one frame by offset (FrameReader) costs
	// little more than the bufio.Reader's 64 KiB it reads through.
	pcapBufStart = 4 << 10
	// pcapBufSize is the buffer of a reader that reads on: records are
	// sliced out of it, and it is refilled about every 3000 small ones.
	pcapBufSize = 256 << 10

	// pcapEagerMax is pcapgo's eagerReadMax, libpcap's MAXIMUM_SNAPLEN: a
	// record's data may be that long whatever the snap length says.
	pcapEagerMax = 262144
)

// errPcapLengthOverflow is pcapgo's error for a length that does not fit
// an int (only possible where int has 32 bits, where this reader's checks
// and pcapgo's may differ: pcapgo's lengths are negative there).
var errPcapLengthOverflow = errors.New("length from file does not fit in int")

// pcapReader reads the records of a classic pcap file from r.
//
// buf[pos:end] holds bytes read from r and not yet consumed; base is the
// stream offset of buf[0], so base+pos is the offset of the next unread
// byte. A record is consumed whole once it is returned; when reading stops
// at a record that cannot be read, what was consumed matches pcapgo.Reader
// on a bufio.Reader: the record header alone when its lengths are refused,
// everything the stream held when it ends or fails inside the record.
type pcapReader struct {
	r        io.Reader
	buf      []byte
	pos, end int
	base     int64
	err      error // what r returned, reported once the bytes before it are used up
	reads    int   // calls of r.Read

	bigEndian bool
	nanoMul   uint32 // 1 for nanosecond timestamps, 1000 for microseconds
	snaplen   uint32
	maxCap    uint32 // the longest record data taken: snaplen, at least pcapEagerMax
	link      int
}

// newPcapReader reads the file header of a classic pcap file from r, whose
// first byte is at offset base of the stream. The magic number must be one
// of the four classic ones (NewFileSource checked it). An error is r's
// error or io.ErrUnexpectedEOF; the reader is returned with it, having
// consumed what r held.
func newPcapReader(r io.Reader, base int64) (*pcapReader, error) {
	p := &pcapReader{r: r, buf: make([]byte, pcapBufStart), base: base}
	if err := p.fill(pcapHeaderLen); err != nil {
		if err == io.EOF && p.end > 0 {
			err = io.ErrUnexpectedEOF
		}
		return p, err
	}
	h := p.buf[p.pos : p.pos+pcapHeaderLen]
	switch binary.BigEndian.Uint32(h) {
	case magicPcapMicroBE:
		p.bigEndian, p.nanoMul = true, 1000
	case magicPcapNanoBE:
		p.bigEndian, p.nanoMul = true, 1
	case magicPcapMicroLE:
		p.nanoMul = 1000
	case magicPcapNanoLE:
		p.nanoMul = 1
	default: // NewFileSource took only the four
		return p, fmt.Errorf("%w: unknown magic number %#08x", ErrFormat, binary.BigEndian.Uint32(h))
	}
	// The version (4:8) was checked by NewFileSource; timezone and
	// significant figures (8:16) are ignored, as pcapgo does.
	p.snaplen = p.u32(h[16:])
	p.maxCap = max(p.snaplen, pcapEagerMax)
	p.link = int(uint16(p.u32(h[20:]))) // pcapgo's LinkType is a uint16
	p.pos += pcapHeaderLen
	return p, nil
}

func (p *pcapReader) u32(b []byte) uint32 {
	v := binary.LittleEndian.Uint32(b)
	if p.bigEndian {
		v = bits.ReverseBytes32(v)
	}
	return v
}

// time is the timestamp of the record header h.
func (p *pcapReader) time(h []byte) time.Time {
	// The fraction is multiplied in 32 bits, as pcapgo does: a microsecond
	// field above 4294967 wraps.
	return time.Unix(int64(p.u32(h[0:])), int64(p.u32(h[4:])*p.nanoMul)).UTC()
}

// offset is the stream offset of the next unread byte.
func (p *pcapReader) offset() int64 { return p.base + int64(p.pos) }

// next reads the next record into f: its data (in p.buf, valid until the
// next call), timestamp and original length. At the end of the stream it
// returns io.EOF, with nothing of the record consumed if the stream ended
// before it; any other error is r's or the refusal of the record's
// lengths. f is left alone on an error.
func (p *pcapReader) next(f *trace.Frame) error {
	if p.end-p.pos < pcapRecordLen {
		if err := p.fill(pcapRecordLen); err != nil {
			return err
		}
	}
	h := p.buf[p.pos : p.pos+pcapRecordLen]
	caplen, wirelen := p.u32(h[8:]), p.u32(h[12:])
	// The same checks as pcapgo.Reader, in the same order, with its messages.
	if caplen > p.maxCap {
		p.pos += pcapRecordLen
		return fmt.Errorf("capture length exceeds snap length: %d > %d", int(caplen), p.snaplen)
	}
	if caplen > wirelen {
		p.pos += pcapRecordLen
		return fmt.Errorf("capture length exceeds original packet length: %d > %d", int(caplen), int(wirelen))
	}
	if uint64(caplen) > math.MaxInt-pcapRecordLen {
		p.pos += pcapRecordLen
		return errPcapLengthOverflow
	}
	n := pcapRecordLen + int(caplen)
	if p.end-p.pos < n {
		if err := p.fill(n); err != nil {
			return err
		}
	}
	f.Time = p.time(p.buf[p.pos:])
	f.Data = p.buf[p.pos+pcapRecordLen : p.pos+n : p.pos+n]
	p.pos += n
	f.WireLen = int(wirelen) // caplen ≤ wirelen
	return nil
}

// fill reads until buf[pos:] holds at least need bytes. If r fails first it
// returns r's error (io.EOF at the end) with everything read consumed.
// The data of the record returned last may be moved or overwritten.
func (p *pcapReader) fill(need int) error {
	empty := 0
	for p.end-p.pos < need {
		if p.err != nil {
			p.pos = p.end
			return p.err
		}
		if p.pos > 0 {
			p.base += int64(p.pos)
			p.end = copy(p.buf, p.buf[p.pos:p.end])
			p.pos = 0
		}
		if p.reads >= 2 && len(p.buf) < pcapBufSize || p.end == len(p.buf) {
			// Grow: by doubling up to the full size as reading goes on;
			// beyond it for a record longer than the buffer, by doubling
			// as its bytes arrive (a length from the file allocates no
			// more than twice what the file holds).
			size := 2 * len(p.buf)
			if len(p.buf) >= pcapBufSize {
				size = min(size, need)
			}
			buf := make([]byte, size)
			copy(buf, p.buf[:p.end])
			p.buf = buf
		}
		n, err := p.r.Read(p.buf[p.end:])
		p.reads++
		p.end += n
		switch {
		case err != nil:
			p.err = err
		case n == 0:
			if empty++; empty >= 100 {
				p.err = io.ErrNoProgress
			}
		}
	}
	return nil
}
