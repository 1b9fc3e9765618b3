package decode

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestAppendUint32 compares appendUint32 with strconv at every power of
// ten and its neighbours, at random values, and into buffers with and
// without room for the digits.
func TestAppendUint32(t *testing.T) {
	vals := []uint32{0, 1 << 31, 1<<32 - 1, 1<<32 - 2}
	for p := uint64(1); p <= 1e10; p *= 10 {
		for _, d := range []int64{-1, 0, 1} {
			if v := int64(p) + d; v >= 0 && v < 1<<32 {
				vals = append(vals, uint32(v))
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		vals = append(vals, rng.Uint32()>>rng.IntN(32))
	}
	for _, v := range vals {
		want := "x" + strconv.FormatUint(uint64(v), 10)
		for _, c := range []int{1, 2, 5, 11, 64} {
			b := append(make([]byte, 0, c), 'x')
			if got := string(appendUint32(b, v)); got != want {
				t.Fatalf("appendUint32(%d) into cap %d = %q, want %q", v, c, got, want)
			}
		}
	}
}
