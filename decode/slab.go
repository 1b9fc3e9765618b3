package decode

// slab hands out records of type T carved from slices it allocates a few
// at a time, so that decoding costs no allocation per record. Nothing
// carved is written again until the caller says, with release, that it no
// longer holds any record of the frames it was carved for: a slab all of
// whose records belong to such frames is carved again (zeroed first).
// Until release is called, slabs are never reused.
type slab[T any] struct {
	size int  // records per slice
	zero bool // zero a slice before carving it again (bytes are overwritten anyway)
	cur  []T
	i    int // next free record of cur
	last int // the last frame carved from cur

	recycling bool
	released  int           // frames up to this one are done with
	used      []usedSlab[T] // slices carved out while recycling, oldest first
}

type usedSlab[T any] struct {
	s    []T
	last int
}

// maxUsedSlabs bounds the slices a slab remembers for reuse: past it,
// the oldest is left to the collector.
const maxUsedSlabs = 1 << 12

// carve returns n records for frame number frame: zeroed if the slab
// zeroes (or was never carved), else as they were left.
func (s *slab[T]) carve(n, frame int) []T {
	if len(s.cur)-s.i < n {
		s.next(n)
	}
	out := s.cur[s.i : s.i+n : s.i+n]
	s.i += n
	s.last = frame
	return out
}

// one is &carve(1, frame)[0], without the slice: most records are carved
// one at a time.
func (s *slab[T]) one(frame int) *T {
	if s.i == len(s.cur) {
		s.next(1)
	}
	r := &s.cur[s.i]
	s.i++
	s.last = frame
	return r
}

// next replaces the exhausted slice: by the oldest one whose frames were
// all released, or a new one.
func (s *slab[T]) next(n int) {
	if s.recycling && s.cur != nil {
		if len(s.used) == maxUsedSlabs {
			clear(s.used[:1])
			s.used = s.used[1:]
		}
		s.used = append(s.used, usedSlab[T]{s.cur, s.last})
	}
	if len(s.used) > 0 && s.used[0].last <= s.released && len(s.used[0].s) >= n {
		s.cur = s.used[0].s
		s.used[0] = usedSlab[T]{}
		s.used = s.used[1:]
		if s.zero {
			clear(s.cur)
		}
	} else {
		s.cur = make([]T, max(s.size, n))
	}
	s.i = 0
}

// release says that the records of frames up to frame are no longer
// held by anyone: their memory may be carved again.
func (s *slab[T]) release(frame int) {
	s.recycling = true
	s.released = max(s.released, frame)
}
