package capture

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sockscope/sockscope/trace"
)

// TestFrameReaderReadsEachFrameAgainByOffset: the offsets a FileSource
// reports before each frame find that frame again, in pcap (micro- and
// nanoseconds) and in pcapng with two interfaces of different link types,
// in any order, and any of them in one pass (ReadFrames); a gzip file
// cannot be read by offset.
func TestFrameReaderReadsEachFrameAgainByOffset(t *testing.T) {
	fs := threeFrames(t)
	raw := append([]byte(nil), fs[1].Data[14:]...) // the IPv4 packet alone
	mixed := append(fs[:2:2], fs[2])
	mixed = append(mixed, fs[0])
	mixed[3].LinkType, mixed[3].Data, mixed[3].WireLen = 228, raw, len(raw)
	for name, c := range map[string]struct {
		file []byte
		want int
	}{
		"pcap micro": {pcapgoFile(t, false, 1, fs), 3},
		"pcap nano":  {pcapgoFile(t, true, 1, fs), 3},
		"pcapng":     {ngFile(t, []int{1, 228}, mixed), 4},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c")
			if err := os.WriteFile(path, c.file, 0o644); err != nil {
				t.Fatal(err)
			}
			src, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			first := src.Offset()
			var offs []int64
			frames := 0
			for {
				off := src.Offset()
				f, err := src.Next()
				if err != nil {
					break
				}
				offs = append(offs, off)
				frames++
				_ = f
			}
			if frames != c.want {
				t.Fatalf("%d frames read through, want %d", frames, c.want)
			}
			r, err := OpenFrameReader(path, first)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			src2, _ := OpenFile(path)
			defer src2.Close()
			var through []trace.Frame
			for range offs {
				f, err := src2.Next()
				if err != nil {
					t.Fatal(err)
				}
				f.Data = append([]byte(nil), f.Data...)
				through = append(through, f)
			}
			got := make([]trace.Frame, len(offs))
			for i := len(offs) - 1; i >= 0; i-- { // backwards: random access
				f, err := r.ReadAt(offs[i])
				if err != nil {
					t.Fatalf("frame %d at %d: %v", i+1, offs[i], err)
				}
				got[i] = f
			}
			sameFrames(t, got, through)

			// ReadFrames: every subset, in one pass (the frames between
			// those asked for are skipped).
			for set := 1; set < 1<<len(offs); set++ {
				var want []trace.Frame
				var at []int64
				for i := range offs {
					if set&(1<<i) != 0 {
						want = append(want, through[i])
						at = append(at, offs[i])
					}
				}
				var read []trace.Frame
				err := r.ReadFrames(at, func(i int, f trace.Frame) error {
					if i != len(read) {
						t.Errorf("subset %b: frame %d handed on as %d", set, len(read), i)
					}
					read = append(read, f)
					return nil
				})
				if err != nil {
					t.Fatalf("subset %b: %v", set, err)
				}
				if len(read) != len(want) {
					t.Fatalf("subset %b: %d frames, want %d", set, len(read), len(want))
				}
				sameFrames(t, read, want)
			}
		})
	}
	gz := filepath.Join(t.TempDir(), "c.gz")
	if err := os.WriteFile(gz, gzipped(t, pcapgoFile(t, false, 1, fs)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFrameReader(gz, 24); !errors.Is(err, ErrNotSeekable) {
		t.Errorf("a gzip file: %v, want ErrNotSeekable", err)
	}
	if _, err := OpenFrameReader("-", 24); !errors.Is(err, ErrNotSeekable) {
		t.Errorf("standard input: %v, want ErrNotSeekable", err)
	}
}
