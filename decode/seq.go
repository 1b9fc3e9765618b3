package decode

// seq is a TCP sequence number. Its comparisons are wrap-safe (RFC 1982
// serial number arithmetic): a is before b when int32(a-b) < 0.
type seq uint32

// lt reports whether s comes before o.
func (s seq) lt(o seq) bool { return int32(s-o) < 0 }

// le reports whether s comes before o or equals it.
func (s seq) le(o seq) bool { return int32(s-o) <= 0 }

// add returns s advanced by n bytes of sequence space.
func (s seq) add(n uint32) seq { return s + seq(n) }
