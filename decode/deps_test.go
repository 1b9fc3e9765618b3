package decode

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps enforces the package's import rules: the standard library,
// trace, gopacket and decode's own narrate only; never capture, ui or
// scenarios.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		switch {
		case p == "github.com/sockscope/sockscope/decode", p == "github.com/sockscope/sockscope/trace",
			p == "github.com/sockscope/sockscope/decode/narrate":
		case strings.HasPrefix(p, "github.com/gopacket/gopacket"):
		default:
			t.Errorf("decode depends on %s", p)
		}
	}
}
