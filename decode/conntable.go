package decode

import "slices"

// connTable holds a record per live connection, by connection id. The
// decoder numbers connections 1, 2, 3… as they start, and most end soon
// after they start, so the live ids are a narrow range: a slice from the
// lowest live id holds them without hashing (maps by id, with their
// inserts and deletes for every connection, were a sixth of a replay's
// reading goroutine). Its memory is the span of live ids: one connection
// that lives for the whole capture keeps 8 bytes for every id after it,
// as the Decoder's own list does.
type connTable[T any] struct {
	base  int  // the id of items[0]
	items []*T // nil where the id is not live
	n     int  // live records in items
	far   map[int]*T

	// With reuse, drop keeps the records it deletes (up to maxFree) for
	// take to hand out again: a connection's records cost no allocation.
	reuse bool
	free  []*T
}

const maxFree = 1 << 10

// take returns a record for a new connection, not zeroed: one that drop
// kept, or a new one.
func (t *connTable[T]) take() *T {
	if n := len(t.free); n > 0 {
		v := t.free[n-1]
		t.free[n-1] = nil
		t.free = t.free[:n-1]
		return v
	}
	return new(T)
}

// drop deletes the record of id; with reuse, take may hand it out again
// (the caller holds no pointer to it any more).
func (t *connTable[T]) drop(id int) {
	v := t.get(id)
	t.del(id)
	if v != nil && t.reuse && len(t.free) < maxFree {
		t.free = append(t.free, v)
	}
}

// maxTableGap is how far beyond the live span an id may start before it
// is kept in a map instead: the decoder's ids never jump, others might.
const maxTableGap = 1 << 16

// get returns the record of id, nil if there is none.
func (t *connTable[T]) get(id int) *T {
	i := id - t.base
	if i < 0 || i >= len(t.items) {
		if t.far != nil {
			return t.far[id]
		}
		return nil
	}
	return t.items[i]
}

// put sets the record of id (id ≥ 1).
func (t *connTable[T]) put(id int, v *T) {
	if t.n == 0 {
		t.items, t.base = t.items[:0], id
	}
	if id < t.base-maxTableGap || id >= t.base+len(t.items)+maxTableGap || t.far[id] != nil {
		if t.far == nil {
			t.far = map[int]*T{}
		}
		t.far[id] = v
		return
	}
	if id < t.base { // an id older than every live one: rare
		front := make([]*T, t.base-id, t.base-id+len(t.items))
		t.items, t.base = append(front, t.items...), id
	}
	for id-t.base >= len(t.items) {
		t.items = append(t.items, nil)
	}
	if t.items[id-t.base] == nil {
		t.n++
	}
	t.items[id-t.base] = v
}

// del drops the record of id.
func (t *connTable[T]) del(id int) {
	if _, ok := t.far[id]; ok {
		delete(t.far, id)
		return
	}
	i := id - t.base
	if i < 0 || i >= len(t.items) || t.items[i] == nil {
		return
	}
	t.items[i] = nil
	t.n--
	// Drop the ids below the lowest live one: append then copies only the
	// live span when it grows the slice.
	for len(t.items) > 0 && t.items[0] == nil {
		t.items = t.items[1:]
		t.base++
	}
}

// len is the number of records.
func (t *connTable[T]) len() int { return t.n + len(t.far) }

// each calls f for every record in id order.
func (t *connTable[T]) each(f func(*T)) {
	var far []int
	for id := range t.far {
		far = append(far, id)
	}
	slices.Sort(far)
	j := 0
	for i, v := range t.items {
		for ; j < len(far) && far[j] < t.base+i; j++ {
			f(t.far[far[j]])
		}
		if v != nil {
			f(v)
		}
	}
	for ; j < len(far); j++ {
		f(t.far[far[j]])
	}
}
