package main

import (
	"strings"
	"testing"

	"github.com/sockscope/sockscope/capture/sandbox"
	"github.com/sockscope/sockscope/scenarios"
)

// TestCaptureBufferFollowsTheTraffic: in the sandbox, a run's ring is
// twice what its scenario sends, within 8 and 128 MiB: the small
// scenarios get the smallest, bulk the largest by default and less for a
// smaller transfer; a scenario's ring grows with the messages it is
// given to send; on the host's loopback, where other programs' traffic
// lands too, every scenario gets the largest.
func TestCaptureBufferFollowsTheTraffic(t *testing.T) {
	for _, sc := range scenarios.All() {
		want := minCaptureBuffer
		if sc.Name == "bulk" {
			want = maxCaptureBuffer
		}
		if got := captureBuffer(sc.Traffic(scenarios.Options{}), sandbox.Isolated); got != want {
			t.Errorf("%s in the sandbox: a ring of %d MiB, want %d", sc.Name, got>>20, want>>20)
		}
		if got := captureBuffer(sc.Traffic(scenarios.Options{}), sandbox.Host); got != maxCaptureBuffer {
			t.Errorf("%s on the host: a ring of %d MiB, want %d", sc.Name, got>>20, maxCaptureBuffer>>20)
		}
	}
	echo, ok := scenarios.Lookup("tcp-echo")
	if !ok {
		t.Fatal("no tcp-echo scenario")
	}
	big := scenarios.Options{Message: []string{strings.Repeat("x", 1<<20)}} // sent by up to 16 clients, and answered
	// Twice (1 MiB of its own lines + 16 clients × 2 × 1 MiB).
	if got, want := captureBuffer(echo.Traffic(big), sandbox.Isolated), 66<<20; got != want {
		t.Errorf("tcp-echo of a 1 MiB message: a ring of %d MiB, want %d", got>>20, want>>20)
	}
	bulk, ok := scenarios.Lookup("bulk")
	if !ok {
		t.Fatal("no bulk scenario")
	}
	for _, tc := range []struct {
		bytes int64
		want  int
	}{
		{64 << 10, 8 << 20},
		{16 << 20, 32 << 20},
		{64 << 20, 128 << 20},
		{1 << 30, 128 << 20},
	} {
		if got := captureBuffer(bulk.Traffic(scenarios.Options{Bytes: tc.bytes}), sandbox.Isolated); got != tc.want {
			t.Errorf("bulk of %d bytes: a ring of %d MiB, want %d", tc.bytes, got>>20, tc.want>>20)
		}
	}
}
