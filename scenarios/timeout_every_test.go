package scenarios

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestEveryScenarioEndsAtItsTimeout runs every scenario too slowly for its
// timeout (a 200 ms pause before each call, a 500 ms timeout): each one
// must end at the timeout, not hang, with an error that wraps
// context.DeadlineExceeded, one error note saying "timed out after 500ms",
// every call it recorded complete, and no goroutine or fd left behind once
// all of them are done. They run side by side, so the whole takes about
// one timeout.
func TestEveryScenarioEndsAtItsTimeout(t *testing.T) {
	const pace, timeout = 200 * time.Millisecond, 500 * time.Millisecond
	t.Run("all", func(t *testing.T) {
		noLeaks(t)
		for _, sc := range All() {
			t.Run(sc.Name, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				evs, err := collect(t, context.Background(), sc, Options{Pace: pace, Timeout: timeout, Bytes: 1 << 20})
				took := time.Since(start)
				if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 500ms") {
					t.Fatalf("err = %v, want a timeout after 500ms", err)
				}
				// Generous: the machine may be busy; a hang would take the
				// scenario's own time or forever.
				if took < timeout || took > timeout+5*time.Second {
					t.Errorf("ended after %v, want about %v", took, timeout)
				}
				var errNotes []string
				for _, n := range notes(evs) {
					if n.Level == "error" {
						errNotes = append(errNotes, n.Text)
					}
				}
				if len(errNotes) != 1 || !strings.Contains(errNotes[0], "timed out after 500ms") {
					t.Errorf("error notes %q, want one saying it timed out", errNotes)
				}
				cs := calls(evs)
				if len(cs) == 0 {
					t.Errorf("no call recorded in %v at one call per %v", timeout, pace)
				}
				ids := map[int]bool{}
				for _, c := range cs {
					if c.End.Before(c.Start) || c.Start.IsZero() || ids[c.ID] {
						t.Errorf("call #%d %s %s: start %v end %v (or a repeated id)", c.ID, c.Lane, c.Op, c.Start, c.End)
					}
					ids[c.ID] = true
				}
			})
		}
	})
}
