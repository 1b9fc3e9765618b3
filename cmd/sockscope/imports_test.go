package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/sockscope/sockscope"

// TestImportDirection enforces the layout of DESIGN.md: imports point one
// way, cmd → {scenarios, capture, decode, ui} → trace, decode stays pure and
// only ui touches the terminal libraries.
func TestImportDirection(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go tool is not on PATH")
	}
	rules := []struct {
		pkg       string
		stdOnly   bool
		forbidden []string
	}{
		{pkg: "trace", stdOnly: true},
		{pkg: "scenarios", forbidden: []string{module + "/capture", module + "/decode", module + "/ui", "github.com/gopacket/", "github.com/rivo/", "github.com/gdamore/"}},
		{pkg: "decode", forbidden: []string{module + "/capture", module + "/ui", module + "/scenarios", "github.com/rivo/", "github.com/gdamore/"}},
		{pkg: "capture/...", forbidden: []string{module + "/decode", module + "/ui", module + "/scenarios", "github.com/rivo/", "github.com/gdamore/"}},
		{pkg: "ui/...", forbidden: []string{module + "/capture", module + "/decode", module + "/scenarios", "github.com/gopacket/"}},
	}
	// decode is pure: no I/O of its own, whatever its libraries import.
	out, err := exec.Command("go", "list", "-f", "{{join .Imports \"\\n\"}}", "../../decode").CombinedOutput()
	if err != nil {
		t.Fatalf("go list decode: %v\n%s", err, out)
	}
	for _, imp := range strings.Fields(string(out)) {
		switch imp {
		case "os", "os/exec", "os/signal", "syscall", "golang.org/x/sys/unix", "net/http", "io/ioutil":
			t.Errorf("decode must stay pure, but imports %s", imp)
		}
	}
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", "../../"+r.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", r.pkg, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			path, std, _ := strings.Cut(line, " ")
			if r.stdOnly && std != "true" && !strings.HasPrefix(path, module+"/trace") {
				t.Errorf("%s must import the standard library only, but depends on %s", r.pkg, path)
			}
			for _, f := range r.forbidden {
				if path == f || (strings.HasSuffix(f, "/") && strings.HasPrefix(path, f)) || (strings.HasPrefix(f, module) && strings.HasPrefix(path, f+"/")) {
					t.Errorf("%s must not depend on %s (it does, through %s)", r.pkg, f, path)
				}
			}
		}
	}
}
