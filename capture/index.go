package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sockscope/sockscope/trace"
)

// ErrNotSeekable is returned by OpenFrameReader for input whose frames
// cannot be read again by offset: standard input, a gzip-compressed file.
var ErrNotSeekable = errors.New("capture cannot be read again by offset")

// FrameReader reads single frames of a capture file again, by the byte
// offset where their record starts (FileSource.Offset before the frame was
// read), so that a long capture need not be held in memory to show one of
// its frames. Its methods may be called from several goroutines at once
// (each read has its own reader over the file).
type FrameReader struct {
	f      *os.File
	size   int64
	prefix []byte // the file's header: everything before the first frame
}

// OpenFrameReader opens path for reading frames by offset; first is the
// offset of its first frame's record (the bytes before it, the pcap header
// or the pcapng section header and interface descriptions, are read once
// and put in front of every frame read).
func OpenFrameReader(path string, first int64) (*FrameReader, error) {
	if path == "-" {
		return nil, ErrNotSeekable
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, ErrNotSeekable
	}
	prefix := make([]byte, first)
	if _, err := io.ReadFull(f, prefix); err != nil {
		f.Close()
		return nil, fmt.Errorf("read capture header: %w", err)
	}
	if len(prefix) >= 2 && prefix[0] == 0x1f && prefix[1] == 0x8b {
		f.Close()
		return nil, ErrNotSeekable
	}
	if len(prefix) >= 12 && binary.BigEndian.Uint32(prefix) == magicPcapngSHB {
		// The interface descriptions follow the section header: take every
		// block up to the first packet's into the header.
		order := binary.ByteOrder(binary.LittleEndian)
		if binary.BigEndian.Uint32(prefix[8:]) == 0x1a2b3c4d {
			order = binary.BigEndian
		}
		var hdr [8]byte
		for off := first; off+8 <= fi.Size(); {
			if _, err := f.ReadAt(hdr[:], off); err != nil {
				break
			}
			typ, n := order.Uint32(hdr[:]), int64(order.Uint32(hdr[4:]))
			if typ == 2 || typ == 3 || typ == 6 || typ == magicPcapngSHB || n < 12 || off+n > fi.Size() {
				break // a packet (or a new section): the header ends here
			}
			off += n
			prefix = prefix[:len(prefix):len(prefix)]
			blk := make([]byte, n)
			if _, err := f.ReadAt(blk, off-n); err != nil {
				break
			}
			prefix = append(prefix, blk...)
		}
	}
	return &FrameReader{f: f, size: fi.Size(), prefix: prefix}, nil
}

// ReadAt reads the first frame whose record starts at or after off (pcapng
// blocks that hold no packet are skipped, as when reading the file through).
func (r *FrameReader) ReadAt(off int64) (trace.Frame, error) {
	src, err := r.sourceAt(off)
	if err != nil {
		return trace.Frame{}, err
	}
	return src.Next()
}

// sourceAt reads the file from off on, as if its first frame were there.
func (r *FrameReader) sourceAt(off int64) (*FileSource, error) {
	if off < 0 || off >= r.size {
		return nil, fmt.Errorf("frame offset %d outside the capture (%d bytes)", off, r.size)
	}
	in := io.MultiReader(bytes.NewReader(r.prefix), io.NewSectionReader(r.f, off, r.size-off))
	return NewFileSource(in)
}

// readGap is how far apart two frames ReadFrames wants may be for it to
// read through the records between them rather than start again.
const readGap = 256 << 10

// ReadFrames reads the frames at offs, offsets as ReadAt takes them (where
// the record after the previous frame starts), in ascending order, and
// hands each to fn with its index in offs. Frames near each other are read
// in one pass through the file, the records between them skipped: a
// connection's frames cost about what reading that stretch of the file
// costs, not a new reader each. An error from fn stops it.
func (r *FrameReader) ReadFrames(offs []int64, fn func(i int, f trace.Frame) error) error {
	var (
		src      *FileSource
		base, at int64 // the file offsets of src's first record and of its next one
	)
	for i := 0; i < len(offs); {
		off := offs[i]
		if src == nil || at > off || off-at > readGap {
			var err error
			if src, err = r.sourceAt(off); err != nil {
				return err
			}
			base, at = off, off
		}
		f, err := src.Next()
		if err != nil {
			return fmt.Errorf("frame at offset %d: %w", off, err)
		}
		if at == off {
			if err := fn(i, f); err != nil {
				return err
			}
			i++
		}
		// Once a frame is read, the header before the first record has
		// been: what src consumed past it is file.
		at = base + src.Offset() - int64(len(r.prefix))
	}
	return nil
}

// Close closes the file.
func (r *FrameReader) Close() error { return r.f.Close() }
