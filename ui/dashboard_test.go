package ui

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/sockscope/sockscope/trace"
)

// echoStory synthesises the events of a tcp-echo run: the server listens
// and accepts, the client connects (three-way handshake), sends "hello",
// gets it back, and closes first.
func echoStory() []trace.Event {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(us int) time.Time { return t0.Add(time.Duration(us) * time.Microsecond) }
	srv := netip.MustParseAddrPort("127.0.0.1:5000")
	cli := netip.MustParseAddrPort("127.0.0.1:40000")
	var evs []trace.Event
	id := 0
	call := func(lane string, op trace.Op, fd, start, end, ret int, st trace.State, line int, mod func(*trace.Call)) {
		id++
		c := &trace.Call{ID: id, Lane: lane, Op: op, FD: fd, Proto: "tcp", Start: at(start), End: at(end), Ret: ret, State: st, Line: line}
		if mod != nil {
			mod(c)
		}
		evs = append(evs, trace.CallEvent(c))
	}
	frame := 0
	pkt := func(us int, from, to netip.AddrPort, flags string, rseq, rack uint32, data string, changes ...[2]any) {
		frame++
		p := &trace.Packet{Frame: frame, Time: at(us), Proto: "tcp", Src: from, Dst: to, Flags: flags,
			Seq: 1000 + rseq, Ack: 5000 + rack, RSeq: rseq, RAck: rack, Win: 512, Len: len(data), Payload: []byte(data), Conn: 1}
		if strings.Contains(flags, "S") {
			p.Win, p.Options = 65495, "mss 65495,sackOK,TS val 1 ecr 0,nop,wscale 7"
		}
		evs = append(evs, trace.PacketEvent(p))
		for _, ch := range changes {
			evs = append(evs, trace.StateEvent(&trace.StateChange{Time: at(us), Endpoint: ch[0].(netip.AddrPort), Conn: 1,
				From: ch[1].([2]trace.State)[0], To: ch[1].([2]trace.State)[1], Source: trace.SourceInferred}))
		}
	}
	ch := func(ep netip.AddrPort, from, to trace.State) [2]any { return [2]any{ep, [2]trace.State{from, to}} }
	withLocal := func(l, r netip.AddrPort) func(*trace.Call) {
		return func(c *trace.Call) { c.Local, c.Remote = l, r }
	}
	call("server", trace.OpSocket, -1, 0, 10, 3, trace.StateClosed, 3, func(c *trace.Call) { c.Family, c.Type = "AF_INET", "SOCK_STREAM" })
	call("server", trace.OpBind, 3, 20, 30, 0, trace.StateClosed, 4, withLocal(srv, netip.AddrPort{}))
	call("server", trace.OpListen, 3, 40, 50, 0, trace.StateListen, 5, withLocal(srv, netip.AddrPort{}))
	call("server", trace.OpAccept, 3, 60, 260, 4, trace.StateEstablished, 7, withLocal(srv, cli))
	call("client", trace.OpSocket, -1, 100, 110, 5, trace.StateClosed, 15, nil)
	call("client", trace.OpConnect, 5, 120, 230, 0, trace.StateEstablished, 16, withLocal(cli, srv))
	pkt(130, cli, srv, "S", 0, 0, "", ch(cli, trace.StateClosed, trace.StateSynSent))
	pkt(150, srv, cli, "S.", 0, 1, "", ch(srv, trace.StateListen, trace.StateSynRecv), ch(cli, trace.StateSynSent, trace.StateEstablished))
	pkt(170, cli, srv, ".", 1, 1, "", ch(srv, trace.StateSynRecv, trace.StateEstablished))
	call("client", trace.OpSend, 5, 300, 350, 5, trace.StateEstablished, 18, func(c *trace.Call) {
		c.Local, c.Remote, c.Len, c.Data = cli, srv, 5, []byte("hello")
	})
	pkt(310, cli, srv, "P.", 1, 1, "hello")
	pkt(320, srv, cli, ".", 1, 6, "")
	pkt(700, cli, srv, "F.", 6, 1, "", ch(cli, trace.StateEstablished, trace.StateFinWait1), ch(srv, trace.StateEstablished, trace.StateCloseWait))
	pkt(720, srv, cli, "F.", 1, 7, "", ch(srv, trace.StateCloseWait, trace.StateLastAck), ch(cli, trace.StateFinWait1, trace.StateTimeWait))
	pkt(730, cli, srv, ".", 7, 2, "", ch(srv, trace.StateLastAck, trace.StateClosed))
	trace.SortEvents(evs)
	return evs
}

const echoListing = `from socket import *
# server
sock = socket(AF_INET, SOCK_STREAM)
sock.bind(('127.0.0.1', 5000))
sock.listen(5)
while True:
    conn, addr = sock.accept()
    data = conn.recv(1024)
    conn.send(data)
    conn.close()
# client
# ...
# ...
# ...
client = socket(AF_INET, SOCK_STREAM)
client.connect(('127.0.0.1', 5000))
# ...
client.send(b'hello')
`

// harness runs a dashboard on a simulation screen.
type harness struct {
	t    *testing.T
	scr  tcell.SimulationScreen
	app  *tview.Application
	d    *dashboard
	done chan error
	stop context.CancelFunc
}

func startDashboard(t *testing.T, m *Model, opts Options, w, h int) *harness {
	t.Helper()
	scr := tcell.NewSimulationScreen("UTF-8")
	if err := scr.Init(); err != nil {
		t.Fatal(err)
	}
	opts.Screen = scr
	ready := make(chan struct{})
	hs := &harness{t: t, scr: scr, done: make(chan error, 1)}
	opts.ready = func(app *tview.Application, d *dashboard) {
		hs.app, hs.d = app, d
		close(ready)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hs.stop = cancel
	d := newDashboard(m, opts)
	go func() { hs.done <- d.run(ctx) }()
	select {
	case <-ready:
	case err := <-hs.done:
		t.Fatalf("dashboard ended at once: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("dashboard did not start")
	}
	// tview's SetScreen resets a simulation screen to 80×25: size it now.
	hs.do(func() { scr.SetSize(w, h) })
	t.Cleanup(func() {
		cancel()
		select {
		case <-hs.done:
		case <-time.After(5 * time.Second):
			t.Error("dashboard did not stop")
		}
	})
	return hs
}

// do runs f on the UI goroutine and redraws; it fails the test if the
// dashboard has ended (a panic) instead of blocking for ever.
func (h *harness) do(f func()) {
	h.t.Helper()
	ran := make(chan struct{})
	go func() {
		h.app.QueueUpdateDraw(f)
		close(ran)
	}()
	select {
	case <-ran:
	case err := <-h.done:
		h.done <- err
		h.t.Fatalf("the dashboard ended: %v", err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("the dashboard is stuck")
	}
}

// screen returns the screen's text, one string per line, read on the UI
// goroutine after a redraw.
func (h *harness) screen() []string {
	var lines []string
	h.do(func() {})
	h.do(func() {
		cells, w, hh := h.scr.GetContents()
		for y := 0; y < hh; y++ {
			var sb strings.Builder
			for x := 0; x < w; x++ {
				c := cells[y*w+x]
				if len(c.Runes) == 0 {
					sb.WriteByte(' ')
				} else {
					sb.WriteString(string(c.Runes))
				}
			}
			lines = append(lines, strings.TrimRight(sb.String(), " "))
		}
	})
	return lines
}

func (h *harness) text() string { return strings.Join(h.screen(), "\n") }

// key presses a key and lets the dashboard handle it.
func (h *harness) key(k tcell.Key, r rune) {
	h.scr.InjectKey(k, r, tcell.ModNone)
	time.Sleep(5 * time.Millisecond)
	h.do(func() {}) // let the dashboard handle it
}

func (h *harness) runes(s string) {
	for _, r := range s {
		h.key(tcell.KeyRune, r)
	}
}

// waitFor polls the screen until it contains all of want.
func (h *harness) waitFor(want ...string) string {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := h.text()
		ok := true
		for _, w := range want {
			if !strings.Contains(s, w) {
				ok = false
			}
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("screen lacks %q:\n%s", want, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) selected() (row int, text string) {
	h.do(func() {
		row = h.d.sel
		if h.d.count() > 0 {
			text = h.d.v.row(h.d.rowAt(h.d.sel)).Text
		}
	})
	return
}

func echoModel(live bool) *Model {
	m := NewModel(Status{Source: "tcp-echo", Where: "sandbox", Packets: 8, Live: live})
	m.SetEvents(echoStory())
	return m
}

// TestDashboardShowsHandshakeOnTheLadder: at 120×40 the lanes, the SYN,
// SYN-ACK and ACK arrows with their states, connect() and accept() are on
// screen, with the listing and the states beside them.
func TestDashboardShowsHandshakeOnTheLadder(t *testing.T) {
	h := startDashboard(t, echoModel(false), Options{Listing: echoListing, Replay: true}, 120, 40)
	s := h.waitFor("client 127.0.0.1:40000", "server 127.0.0.1:5000",
		"── S seq=0 win=65495 ", "◀─ S. seq=0 ack=1 win=65495 ", "── . ack=1 ",
		"connect(5, 127.0.0.1:5000)", "accept(3)", "ESTABLISHED", "SYN_SENT", "SYN_RECV",
		"sock = socket(AF_INET, SOCK_STREAM)", "States", "Detail", "tcp-echo")
	if !strings.Contains(s, "▶") {
		t.Errorf("no selection marker:\n%s", s)
	}
}

// TestSelectionMovesAndPanesFollow: Down moves the selection; on the SYN
// the detail pane shows its numbers, on connect() the listing marks the
// line of client.connect.
func TestSelectionMovesAndPanesFollow(t *testing.T) {
	h := startDashboard(t, echoModel(false), Options{Listing: echoListing, Replay: true}, 120, 40)
	h.waitFor("tcp-echo")
	if row, _ := h.selected(); row != 0 {
		t.Fatalf("a replay starts on row 0, got %d", row)
	}
	for i := 0; i < 20; i++ {
		if _, text := h.selected(); strings.HasPrefix(text, "S seq=0") {
			break
		}
		h.key(tcell.KeyDown, 0)
	}
	row, text := h.selected()
	if !strings.HasPrefix(text, "S seq=0") {
		t.Fatalf("never reached the SYN; at row %d %q", row, text)
	}
	h.waitFor("Frame 1", "0 (absolute 1000)", "65495 (SYNs are never scaled)", "mss 65495")
	h.key(tcell.KeyUp, 0)
	_, text = h.selected()
	if !strings.HasPrefix(text, "connect(5") {
		t.Fatalf("above the SYN: %q", text)
	}
	s := h.waitFor("Code · line 16 (client)", "▶ 16 client.connect(('127.0.0.1', 5000))", "Call #6")
	_ = s
	// n steps forward like Down; End jumps to the last row.
	h.key(tcell.KeyRune, 'n')
	if _, text = h.selected(); !strings.HasPrefix(text, "S seq=0") {
		t.Errorf("n: %q", text)
	}
	h.key(tcell.KeyEnd, 0)
	if _, text = h.selected(); !strings.HasPrefix(text, ". ack=2") {
		t.Errorf("End: %q", text)
	}
	h.waitFor("TIME_WAIT", "s left (of 60)")
}

// TestHelpOpensAndCloses: ? shows the keys; any key closes the help.
func TestHelpOpensAndCloses(t *testing.T) {
	h := startDashboard(t, echoModel(false), Options{Listing: echoListing, Replay: true}, 80, 24)
	h.waitFor("tcp-echo")
	h.key(tcell.KeyRune, '?')
	h.waitFor("sockscope help: keys", "step back / forward one event")
	h.key(tcell.KeyEscape, 0)
	if s := h.text(); strings.Contains(s, "sockscope help") {
		t.Errorf("help still open:\n%s", s)
	}
}

// TestQuitEndsRun: q makes Run return nil.
func TestQuitEndsRun(t *testing.T) {
	h := startDashboard(t, echoModel(false), Options{Replay: true}, 80, 24)
	h.waitFor("tcp-echo")
	h.scr.InjectKey(tcell.KeyRune, 'q', tcell.ModNone)
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		h.done <- err // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("q did not quit")
	}
}

// TestNarrowTerminalHasTabs: at 80×24 the panes share the bottom and Tab
// switches them.
func TestNarrowTerminalHasTabs(t *testing.T) {
	h := startDashboard(t, echoModel(false), Options{Listing: echoListing, Replay: true}, 80, 24)
	h.waitFor("[Detail]", "Code", "States", "client", "server")
	h.key(tcell.KeyTab, 0)
	h.waitFor("[Detail]") // focus moved to the detail tab
	h.key(tcell.KeyTab, 0)
	h.waitFor("[Code · line 3 (server)]", "sock = socket(AF_INET, SOCK_STREAM)")
	h.key(tcell.KeyTab, 0)
	h.waitFor("[States]")
}

// TestFindSelectsMatchingRow: / then text then Enter selects the FIN.
func TestFindSelectsMatchingRow(t *testing.T) {
	h := startDashboard(t, echoModel(false), Options{Replay: true}, 120, 40)
	h.waitFor("tcp-echo")
	h.key(tcell.KeyRune, '/')
	h.runes("F.")
	h.key(tcell.KeyEnter, 0)
	if _, text := h.selected(); !strings.HasPrefix(text, "F. seq=6") {
		t.Errorf("find F.: %q", text)
	}
	h.key(tcell.KeyRune, '/')
	h.key(tcell.KeyEnter, 0) // again: the next match
	if _, text := h.selected(); !strings.HasPrefix(text, "F. seq=1 ack=7") {
		t.Errorf("find again: %q", text)
	}
}

// TestLiveRowsAppearAndFollow: a live model gains rows from a producer
// goroutine while the dashboard follows the newest one.
func TestLiveRowsAppearAndFollow(t *testing.T) {
	story := echoStory()
	m := NewModel(Status{Source: "tcp-echo", Live: true, Started: time.Now()})
	h := startDashboard(t, m, Options{Listing: echoListing}, 120, 40)
	h.waitFor("waiting for the first event")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the producer: never touches the terminal
		defer wg.Done()
		for i := 1; i <= len(story); i++ {
			m.SetEvents(story[:i])
			m.SetStatus(func(s *Status) { s.Packets = i })
		}
	}()
	wg.Wait()
	h.waitFor("F. seq=1 ack=7", "following")
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, text := h.selected()
		if strings.HasPrefix(text, ". ack=2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not following the newest row: %q", text)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStepPromptReleasesTheCall: in step mode the prompt shows the waiting
// call; space calls Step once and clears it.
func TestStepPromptReleasesTheCall(t *testing.T) {
	m := NewModel(Status{Source: "tcp-echo", Live: true, Started: time.Now()})
	released := make(chan struct{}, 4)
	h := startDashboard(t, m, Options{Listing: echoListing, Step: func() { released <- struct{}{} }}, 120, 40)
	m.SetStep(&StepPrompt{Lane: "client", Op: trace.OpConnect, Line: 16})
	h.waitFor("STEP: client is about to call connect() (line 16)")
	h.key(tcell.KeyRune, ' ')
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("space did not release the call")
	}
	if s := h.text(); strings.Contains(s, "STEP:") {
		t.Errorf("prompt still shown:\n%s", s)
	}
}

// TestConnectionFilter: c, Down, Enter shows connection 1 only.
func TestConnectionFilter(t *testing.T) {
	h := startDashboard(t, echoModel(false), Options{Replay: true}, 120, 40)
	h.waitFor("tcp-echo")
	h.key(tcell.KeyRune, 'c')
	h.waitFor("all connections", "TCP 127.0.0.1:40000 → 127.0.0.1:5000  8 packets")
	h.key(tcell.KeyDown, 0)
	h.key(tcell.KeyEnter, 0)
	h.waitFor("conn 1 only")
}

// TestPlaybackWalksTheRows: space plays at the capture's pace scaled to
// about 15 s for the session; after a while the selection has moved on.
func TestPlaybackWalksTheRows(t *testing.T) {
	h := startDashboard(t, echoModel(false), Options{Replay: true}, 120, 40)
	h.waitFor("tcp-echo")
	h.key(tcell.KeyRune, '+')
	h.key(tcell.KeyRune, '+') // four times faster than the default
	h.key(tcell.KeyRune, ' ')
	h.waitFor("▶ playing")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if row, _ := h.selected(); row >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("playback did not advance")
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.key(tcell.KeyRune, ' ')
	row1, _ := h.selected()
	time.Sleep(300 * time.Millisecond)
	if row2, _ := h.selected(); row2 != row1 {
		t.Errorf("paused playback moved from %d to %d", row1, row2)
	}
}

// TestMouseClickSelectsRow: a click on a ladder line selects that row.
func TestMouseClickSelectsRow(t *testing.T) {
	h := startDashboard(t, echoModel(false), Options{Replay: true}, 120, 40)
	h.waitFor("tcp-echo")
	var y int
	h.do(func() { y = h.d.rects.ladder.y + 1 + 4 })
	h.scr.InjectMouse(5, y, tcell.Button1, tcell.ModNone)
	h.scr.InjectMouse(5, y, tcell.ButtonNone, tcell.ModNone)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if row, _ := h.selected(); row == 4 {
			break
		}
		if time.Now().After(deadline) {
			row, text := h.selected()
			t.Fatalf("click on the 5th row selected %d %q", row, text)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNoColorDrawsNoColours: with NoColor every cell keeps the default
// colours; the selection is still visible (reverse).
func TestNoColorDrawsNoColours(t *testing.T) {
	h := startDashboard(t, echoModel(false), Options{Replay: true, NoColor: true}, 120, 40)
	h.waitFor("tcp-echo")
	reversed := false
	h.do(func() {
		cells, _, _ := h.scr.GetContents()
		for _, c := range cells {
			fg, bg, attr := c.Style.Decompose()
			if fg != tcell.ColorDefault || bg != tcell.ColorDefault {
				t.Errorf("a coloured cell %q: %v %v", string(c.Runes), fg, bg)
				return
			}
			if attr&tcell.AttrReverse != 0 {
				reversed = true
			}
		}
	})
	if !reversed {
		t.Error("nothing drawn in reverse: the selection is invisible without colour")
	}
}

// TestEscapedLookingTextIsDrawnVerbatim: text like [SYN] or [red] is not
// taken for a style tag.
func TestEscapedLookingTextIsDrawnVerbatim(t *testing.T) {
	m := NewModel(Status{Source: "x"})
	now := time.Now()
	m.SetEvents([]trace.Event{trace.NoteEvent(&trace.Note{Time: now, Level: "info", Text: "[SYN] and [red]red[-] stay as written"})})
	h := startDashboard(t, m, Options{Replay: true}, 100, 30)
	h.waitFor("[SYN] and [red]red[-] stay as written")
}

func TestSpeedText(t *testing.T) {
	for s, want := range map[float64]string{1: "×1", 2: "×2", 0.001: "×1/1000", 0.25: "×1/4"} {
		if got := speedText(s); got != want {
			t.Errorf("%v: %q", s, got)
		}
	}
}

// TestPanicRestoresTheTerminal: a panic while drawing ends Run with a
// *PanicError after tview has finalised the screen, instead of leaving the
// terminal raw.
func TestPanicRestoresTheTerminal(t *testing.T) {
	scr := tcell.NewSimulationScreen("UTF-8")
	if err := scr.Init(); err != nil {
		t.Fatal(err)
	}
	boom := func(int) *Inspection { panic("inspect failed") }
	m := echoModel(false)
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), m, Options{Replay: true, Inspect: boom, Screen: scr}) }()
	time.Sleep(50 * time.Millisecond)
	for i := 0; i < 7; i++ { // down to the SYN: its detail calls Inspect
		scr.InjectKey(tcell.KeyDown, 0, tcell.ModNone)
	}
	select {
	case err := <-done:
		var pe *PanicError
		if !errors.As(err, &pe) || pe.Value != "inspect failed" {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the panic did not end Run")
	}
}

// TestFinishedRunStartsOverAtTheTop: a run followed to its end selects its
// first row when it finishes, ready to be stepped through.
func TestFinishedRunStartsOverAtTheTop(t *testing.T) {
	m := NewModel(Status{Source: "tcp-echo", Live: true, Started: time.Now()})
	m.SetEvents(echoStory())
	h := startDashboard(t, m, Options{Listing: echoListing}, 120, 40)
	h.waitFor("following")
	m.SetStatus(func(s *Status) { s.Live, s.Ended = false, time.Now() })
	h.waitFor("the run is over", "done in")
	if row, _ := h.selected(); row != 0 {
		t.Errorf("selected row %d", row)
	}
}

// TestNoTerminalIsAnErrorNotAPanic: when the terminal cannot be opened (a
// process without a controlling terminal, as under CI), Run says so instead
// of panicking inside tcell while it stops, and returns at once.
func TestNoTerminalIsAnErrorNotAPanic(t *testing.T) {
	if tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil {
		tty.Close()
		t.Skip("this process has a terminal: the dashboard would take it over")
	}
	m := NewModel(Status{Source: "test"})
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), m, Options{Replay: true}) }()
	select {
	case err := <-done:
		var pe *PanicError
		if err == nil || errors.As(err, &pe) {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run hung with no terminal")
	}
}

// TestTypingALineForTheChat: with Options.Input, `i` opens a prompt in the
// footer and Enter hands the typed line to the scenario.
func TestTypingALineForTheChat(t *testing.T) {
	got := make(chan string, 1)
	h := startDashboard(t, echoModel(true), Options{Listing: echoListing, Input: func(l string) { got <- l }}, 120, 40)
	h.waitFor("i type a message")
	h.key(tcell.KeyRune, 'i')
	h.runes("hi there")
	h.waitFor("you type: hi there")
	h.key(tcell.KeyEnter, 0)
	select {
	case l := <-got:
		if l != "hi there" {
			t.Errorf("the scenario got %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the typed line never reached the scenario")
	}
	h.waitFor(`sent to the program: "hi there"`)
}

// TestInferredCallDetail: a call the packets imply (a foreign capture) is
// shown as inferred in the detail pane, not as a recorded "Call #0".
func TestInferredCallDetail(t *testing.T) {
	ep := netip.MustParseAddrPort("10.0.0.5:40000")
	m := NewModel(Status{Source: "foreign.pcap", Where: "file"})
	m.SetEvents([]trace.Event{
		{Kind: trace.KindCall, Call: &trace.Call{Op: trace.OpConnect, Local: ep, Inferred: trace.InferredConnect, Start: time.Unix(1, 0)},
			Explain: "A SYN left 10.0.0.5:40000: its program called connect()."},
	})
	h := startDashboard(t, m, Options{Replay: true}, 120, 40)
	screen := h.waitFor("Inferred call", "connect() called on 10.0.0.5:40000")
	if strings.Contains(screen, "Call #0") {
		t.Errorf("an inferred call is shown as a recorded one:\n%s", screen)
	}
}
