package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/sockscope/sockscope/ui"
)

// TestDashboardReplaysALongCaptureWhole: a capture of 300000 packets (far
// more than the bounded replay's 100000 events) is shown whole in the
// dashboard on a simulated screen: it reads to the end, G reaches the last
// row (the last connection's summary), the detail of the last packet shows
// its own fields read again from the file (absolute numbers, the layers,
// the bytes), and the heap stays small.
func TestDashboardReplaysALongCaptureWhole(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and replays 300000 packets")
	}
	const convs = 30000
	t.Chdir(t.TempDir()) // a short path: the header has room for the row number
	path := "long.pcap"
	writeConversations(t, path, convs)

	scr := newSimulatedScreen(t)
	dashboardForTest = func(o *ui.Options) { o.Screen = scr }
	defer func() { dashboardForTest = nil }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- replayFile(ctx, path, replayFlags{outputFlags: outputFlags{format: "dashboard"}}, io.Discard, io.Discard)
	}()
	text := func() string { return strings.Join(scr.lines(), "\n") }
	waitFor := func(what string, ok func(string) bool) string {
		t.Helper()
		return waitUntil(t, done, what, 60*time.Second, text, ok)
	}
	waitFor("first rows", func(s string) bool { return strings.Contains(s, "S seq=0") })
	scr.SetSize(120, 110) // tall enough for a packet's whole detail
	waitFor("end of reading", func(s string) bool {
		return strings.Contains(s, fmt.Sprintf("%d packets", convs*10)) && !strings.Contains(s, "reading")
	})
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	t.Logf("heap in use after indexing %d packets: %d MiB", convs*10, m.HeapInuse>>20)
	if m.HeapInuse > 120<<20 {
		t.Errorf("heap in use %d MiB after indexing", m.HeapInuse>>20)
	}

	scr.InjectKey(tcell.KeyRune, 'G', tcell.ModNone)
	last := regexp.MustCompile(`row (\d+)/(\d+)`)
	s := waitFor("the last row", func(s string) bool {
		m := last.FindStringSubmatch(s)
		return m != nil && m[1] == m[2] && strings.Contains(s, fmt.Sprintf("Connection %d:", convs))
	})
	// Fifteen rows a conversation (ten packets, four inferred calls, the
	// summary), each once, and nothing else.
	if m := last.FindStringSubmatch(s); m[2] != fmt.Sprint(convs*15) {
		t.Errorf("%s rows, want %d", m[2], convs*15)
	}
	scr.InjectKey(tcell.KeyLeft, 0, tcell.ModNone) // the last packet: the client's final ACK
	waitFor("the last packet's detail", func(s string) bool { return strings.Contains(s, fmt.Sprintf("Frame %d", convs*10)) })
	cseq := 1000*(convs-1) + 7 // after the SYN, "hello" and the FIN (writeConversations)
	seen := waitFor("the whole detail", func(s string) bool { return strings.Contains(s, "Bytes (") })
	for _, want := range []string{fmt.Sprintf("(absolute %d)", cseq), "IPv4", "TCP", "captured)", fmt.Sprintf("connection  %d", convs)} {
		if !strings.Contains(seen, want) {
			t.Errorf("the detail lacks %q:\n%s", want, seen)
		}
	}
	quitReplay(t, scr, done)
}

// quitReplay presses q and waits for the replay to end without error.
func quitReplay(t *testing.T, scr lockedScreen, done chan error) {
	t.Helper()
	scr.InjectKey(tcell.KeyRune, 'q', tcell.ModNone)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("replay: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("q did not end the replay")
	}
}

// lockedScreen is a simulation screen a test may read while the
// dashboard draws on it: tcell's Init takes no lock, and GetContents hands
// out the very cells the next Show overwrites, so Init and Show are held
// under a lock of ours that contents also takes while it reads the cells.
type lockedScreen struct {
	tcell.SimulationScreen
	mu *sync.Mutex
}

func (s lockedScreen) Init() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.SimulationScreen.(sync.Locker) // Init races with SetSize too
	l.Lock()
	defer l.Unlock()
	return s.SimulationScreen.Init()
}

func (s lockedScreen) Show() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.SimulationScreen.Show()
}

func (s lockedScreen) Sync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.SimulationScreen.Sync()
}

// contents is a copy of the cells on the screen, its width and height.
func (s lockedScreen) contents() ([]tcell.SimCell, int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cells, w, h := s.GetContents()
	return append([]tcell.SimCell(nil), cells...), w, h
}

// lines are the screen's text, a string per row.
func (s lockedScreen) lines() []string {
	cells, w, h := s.contents()
	out := make([]string, h)
	for y := range h {
		var sb strings.Builder
		for x := range w {
			if c := cells[y*w+x]; len(c.Runes) > 0 {
				sb.WriteString(string(c.Runes))
			} else {
				sb.WriteByte(' ')
			}
		}
		out[y] = sb.String()
	}
	return out
}

// waitUntil polls get until ok holds of what it returns, and returns it;
// it fails the test when the replay ends first (done) or after timeout.
func waitUntil(t *testing.T, done chan error, what string, timeout time.Duration, get func() string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := get()
		if ok(s) {
			return s
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("the replay ended (%v) before %s:\n%s", err, what, s)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s:\n%s", what, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newSimulatedScreen is an initialised simulation screen that tests may
// read while the dashboard runs.
func newSimulatedScreen(t *testing.T) lockedScreen {
	t.Helper()
	scr := lockedScreen{tcell.NewSimulationScreen("UTF-8"), &sync.Mutex{}}
	if err := scr.Init(); err != nil {
		t.Fatal(err)
	}
	return scr
}
