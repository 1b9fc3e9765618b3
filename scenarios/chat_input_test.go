package scenarios

import (
	"strings"
	"testing"

	"github.com/sockscope/sockscope/trace"
)

// TestChatSendsWhatTheUserTypes: in the dashboard the chat's user types the
// lines (Options.Input); each is one send answered by one recv, and when
// the user is done the client closes first.
func TestChatSendsWhatTheUserTypes(t *testing.T) {
	noLeaks(t)
	typed := []string{"hi from the keyboard", "", "second line"}
	input := func() (string, bool) {
		if len(typed) == 0 {
			return "", false
		}
		m := typed[0]
		typed = typed[1:]
		return m, true
	}
	evs := runNamed(t, "chat", Options{Input: input})
	var sent []string
	for _, c := range lane(calls(evs), "client") {
		if c.Op == trace.OpSend {
			sent = append(sent, string(c.Data))
		}
	}
	if got := strings.Join(sent, "|"); got != "hi from the keyboard|second line" {
		t.Errorf("the client sent %q", got)
	}
	if got := ops(lane(calls(evs), "client")); !strings.HasSuffix(got, "send recv send recv close") {
		t.Errorf("client: %s", got)
	}
}
