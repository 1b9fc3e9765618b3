package decode

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// TestConnTableIsAMap holds connTable to a map under random puts and
// deletes: ids mostly rising and soon deleted, as the decoder's are, with
// some that live long, come from the past or jump far ahead.
func TestConnTableIsAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var tab connTable[int]
	want := map[int]*int{}
	next := 1
	for step := range 200000 {
		switch k := r.IntN(100); {
		case k < 40:
			id := next
			next++
			switch r.IntN(50) {
			case 0:
				id = r.IntN(next) + 1 // an old id again
			case 1:
				id = next + maxTableGap + r.IntN(1<<30) // far ahead
			}
			v := step
			tab.put(id, &v)
			want[id] = &v
		case k < 85 && len(want) > 0:
			// Mostly the oldest live ids end.
			ids := sortedIDs(want)
			id := ids[min(r.IntN(4), len(ids)-1)]
			if r.IntN(10) == 0 {
				id = ids[r.IntN(len(ids))]
			}
			tab.del(id)
			delete(want, id)
		default:
			id := r.IntN(next+10) - 5
			if got := tab.get(id); got != want[id] {
				t.Fatalf("step %d: get(%d) = %v, want %v", step, id, got, want[id])
			}
		}
		if tab.len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(want))
		}
		if step%997 == 0 {
			var got []int
			tab.each(func(v *int) {
				for id, w := range want {
					if w == v {
						got = append(got, id)
					}
				}
			})
			if ids := sortedIDs(want); !slices.Equal(got, ids) {
				t.Fatalf("step %d: each gives ids %v, want %v", step, got, ids)
			}
		}
	}
	if len(tab.items) > 1<<14 {
		t.Errorf("the table spans %d ids for %d live records: the ids below the lowest live one are not dropped", len(tab.items), tab.len())
	}
}

func sortedIDs(m map[int]*int) []int {
	ids := make([]int, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// TestFlowKeyEitherDirection: a tuple's key is the same both ways and
// differs from every other tuple's, protocol and address family included.
func TestFlowKeyEitherDirection(t *testing.T) {
	eps := []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.1:5000"),
		netip.MustParseAddrPort("127.0.0.1:80"),
		netip.MustParseAddrPort("127.0.0.2:5000"),
		netip.MustParseAddrPort("[::ffff:127.0.0.1]:5000"), // the same bytes as 127.0.0.1, another family
		netip.MustParseAddrPort("[::1]:5000"),
		netip.MustParseAddrPort("[::1]:80"),
	}
	type tuple struct {
		tcp      bool
		src, dst netip.AddrPort
	}
	seen := map[flowKey]tuple{}
	for _, tcp := range []bool{true, false} {
		for i, src := range eps {
			for _, dst := range eps[i:] {
				k := keyOf(tcp, src, dst)
				if back := keyOf(tcp, dst, src); back != k {
					t.Errorf("%v %v→%v: key %v, but %v the other way", tcp, src, dst, k, back)
				}
				if old, ok := seen[k]; ok {
					t.Errorf("%v %v→%v has the key of %v", tcp, src, dst, old)
				}
				seen[k] = tuple{tcp, src, dst}
			}
		}
	}
}
