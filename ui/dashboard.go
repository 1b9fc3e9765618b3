package ui

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
)

// Options configure the dashboard.
type Options struct {
	// Listing is the scenario's Python program; "" for a replay.
	Listing string
	// Inspect decodes one frame field by field for the detail pane; nil
	// shows the packet's summary only. It is called on the UI goroutine,
	// for the selected packet only.
	Inspect func(frame int) *Inspection
	// Step lets a scenario in step mode make the call it waits to make.
	// It must not block; the dashboard calls it on its own goroutine.
	Step func()
	// Input, when set, takes the lines the user types for an interactive
	// scenario (chat): `i` opens a prompt, Enter sends the line. The
	// dashboard calls it on its own goroutine.
	Input func(line string)
	// Replay starts at the first row, paused, instead of following the
	// newest row.
	Replay bool
	// NoColor draws with attributes only (bold, reverse, underline). The
	// NO_COLOR environment variable sets it too.
	NoColor bool
	// Screen is the terminal; nil opens the real one. Tests pass a
	// tcell.SimulationScreen.
	Screen tcell.Screen
	// ready, for tests: called with the running application.
	ready func(*tview.Application, *dashboard)
}

// PanicError is a panic that happened while the dashboard ran: the
// terminal was restored before it was returned.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("dashboard panic: %v\n%s", e.Value, e.Stack)
}

// Run shows the model until the user quits or ctx ends (SIGTERM, SIGHUP),
// and restores the terminal whatever happens. Producers keep feeding the
// model meanwhile; nothing but the dashboard's own goroutine touches the
// terminal. A panic in the dashboard is returned as a *PanicError once the
// terminal is restored.
func Run(ctx context.Context, m *Model, opts Options) (err error) {
	d := newDashboard(m, opts)
	return d.run(ctx)
}

type pane int

const (
	paneLadder pane = iota
	paneDetail
	paneCode
	paneStates
	numPanes
)

var paneNames = [numPanes]string{"Ladder", "Detail", "Code", "States"}

// dashboard is the UI state; after run starts, only the tview goroutine
// reads or writes it.
type dashboard struct {
	app   *tview.Application
	root  *rootView
	model *Model
	opts  Options
	theme theme

	ver    uint64
	v      *view
	status Status
	step   *StepPrompt

	visible     []int32 // rows shown under the connection filter; nil: all
	filter      int     // connection shown, 0: all
	filterLanes []int   // the lanes the filtered connection runs between
	filteredTo  int     // rows of the view the filter has looked at
	sel         int     // selected position in the shown rows
	top         int     // first shown row on screen
	follow      bool    // keep the newest row selected
	focus       pane
	tab         pane // narrow layout: which pane is below the ladder

	help     bool
	picking  bool // the connection list is open
	pickSel  int
	finding  bool
	typing   bool   // the input prompt is open (Options.Input)
	draft    []rune // what the user is typing
	query    []rune
	lastFind string
	message  string
	msgUntil time.Time

	playing   bool
	speed     float64
	playClock time.Duration // playback position, relative to the first row
	lastTick  time.Time

	scroll [numPanes]int // scroll offsets of the side panes

	// caches for the detail pane
	detailKey struct {
		v any // the view, or the Index of an index's views
		k int
		w int
	}
	detailCache []line
	narrGen     uint64 // the index's narrations when the detail was made

	rects     layoutRects
	animating atomic.Bool // the ticker should redraw even without new data

	quit     chan struct{}
	quitOnce sync.Once
	now      func() time.Time
}

func newDashboard(m *Model, opts Options) *dashboard {
	noColor := opts.NoColor || os.Getenv("NO_COLOR") != ""
	d := &dashboard{
		model:  m,
		opts:   opts,
		theme:  newTheme(noColor),
		follow: !opts.Replay,
		speed:  0,
		quit:   make(chan struct{}),
		now:    time.Now,
		tab:    paneDetail,
	}
	d.app = tview.NewApplication()
	d.root = &rootView{Box: tview.NewBox(), d: d}
	d.app.SetRoot(d.root, true).EnableMouse(true)
	d.app.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		if ev.Key() == tcell.KeyCtrlC {
			d.requestQuit()
			return nil
		}
		return ev
	})
	d.pull()
	return d
}

func (d *dashboard) requestQuit() { d.quitOnce.Do(func() { close(d.quit) }) }

// run drives the application; see Run.
func (d *dashboard) run(ctx context.Context) (err error) {
	if d.opts.Screen != nil {
		d.app.SetScreen(d.opts.Screen)
	}
	tickStop := make(chan struct{})
	var tickers sync.WaitGroup
	tickers.Add(1)
	go d.ticker(tickStop, &tickers)

	// The supervisor ends the application: it stops the ticker first, so
	// that nothing queues an update after the event loop is gone.
	stopped := make(chan struct{})
	var runDone atomic.Bool
	go func() {
		defer close(stopped)
		select {
		case <-d.quit:
		case <-ctx.Done():
		}
		close(tickStop)
		tickers.Wait()
		// A Run that failed to open the terminal has already returned,
		// and stopping its half-made screen would panic inside tcell.
		if !runDone.Load() {
			d.app.Stop()
		}
	}()
	if d.opts.ready != nil {
		go func() {
			// Wait until the event loop runs: the first queued update.
			d.app.QueueUpdate(func() {})
			d.opts.ready(d.app, d)
		}()
	}

	panicked := false
	func() {
		defer func() {
			if p := recover(); p != nil {
				panicked = true
				err = &PanicError{Value: p, Stack: debug.Stack()}
			}
		}()
		err = d.app.Run()
		runDone.Store(true)
	}()
	if panicked || err != nil {
		// tview has restored the terminal (or never had it); the ticker
		// may be stuck on an update that will never run, so do not wait
		// for it.
		d.requestQuit()
		return err
	}
	d.requestQuit()
	<-stopped
	return err
}

// ticker asks for a redraw about 30 times a second when the model changed
// or something on screen moves (playback, clocks). Producers never wait on
// the terminal: they only bump the model's version.
func (d *dashboard) ticker(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	t := time.NewTicker(33 * time.Millisecond)
	defer t.Stop()
	var seen uint64
	var last time.Time
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			ver := d.model.Version()
			if ver == seen && !d.animating.Load() && now.Sub(last) < 500*time.Millisecond {
				continue
			}
			seen, last = ver, now
			d.app.QueueUpdateDraw(func() { d.tick() })
		}
	}
}

// tick runs on the UI goroutine: take the model's news, advance playback.
func (d *dashboard) tick() {
	d.pull()
	if d.v != nil && d.v.ix != nil {
		// A narration the index made again is ready: draw the detail
		// again.
		if g := d.v.ix.x.narrationGen(); g != d.narrGen {
			d.narrGen = g
			d.detailKey.v = nil
		}
	}
	now := d.now()
	if d.playing {
		d.advancePlayback(now)
	}
	d.lastTick = now
	d.animating.Store(d.playing || d.message != "")
	if d.message != "" && now.After(d.msgUntil) {
		d.message = ""
	}
}

// pull takes the model's latest snapshot and keeps the selection on the
// same row.
func (d *dashboard) pull() {
	ver, v, st, step := d.model.get()
	if ver == d.ver {
		return
	}
	ended := d.status.Live && !st.Live
	d.ver, d.status, d.step = ver, st, step
	if ended {
		defer d.runEnded()
	}
	if v == d.v {
		return
	}
	var key *Row
	if d.v != nil && d.count() > 0 {
		key = d.v.row(d.rowAt(d.sel))
	}
	old := d.v
	d.v = v
	if !d.extendFilter(old) {
		d.applyFilter()
	}
	switch {
	case d.follow || old == nil:
		if d.follow {
			d.sel = max(0, d.count()-1)
		}
	case key != nil:
		d.sel = d.find(key)
	}
	d.clamp()
}

// runEnded: a run that was followed to its end starts over at its first
// row, ready to be stepped through or played back.
func (d *dashboard) runEnded() {
	if !d.follow {
		return
	}
	d.follow = false
	if d.opts.Replay {
		// G while a file was read followed its last row: stay there.
		d.sel = max(0, d.count()-1)
		return
	}
	d.sel, d.top = 0, 0
	d.resetPaneScroll()
	d.flash("the run is over: ← → step through it, space plays it back, ? help")
}

// find is the position of the row like key in the current rows.
func (d *dashboard) find(key *Row) int {
	n := d.count()
	i := sort.Search(n, func(i int) bool { return !d.v.rowTime(d.rowAt(i)).Before(key.Time) })
	for j := i; j < n && j < i+200; j++ {
		r := d.v.row(d.rowAt(j))
		if !r.Time.Equal(key.Time) {
			break
		}
		if r.Kind == key.Kind && r.Text == key.Text {
			return j
		}
	}
	return min(i, max(0, n-1))
}

func (d *dashboard) count() int {
	if d.visible != nil {
		return len(d.visible)
	}
	return d.v.count()
}

func (d *dashboard) rowAt(i int) int {
	if d.visible != nil {
		return int(d.visible[i])
	}
	return i
}

// applyFilter computes the rows of the chosen connection: its packets and
// states, its sockets' calls, and the calls and notes of no connection
// made by the lanes it runs between.
func (d *dashboard) applyFilter() {
	d.visible = nil
	d.filterLanes = nil
	if d.filter <= 0 || d.filter > d.v.connCount() {
		d.filter = 0
		return
	}
	d.visible = make([]int32, 0, 256)
	d.filterRows(0)
}

// filterRows adds the rows of the chosen connection from row from on.
func (d *dashboard) filterRows(from int) {
	n := d.v.count()
	start := from
	if c := d.v.conn(d.filter); from == 0 && d.v.ix != nil {
		// Rows are in time order: the connection's start at the earliest.
		start = d.v.searchTime(c.First)
	}
	if len(d.filterLanes) < 2 {
		for k := start; k < n; k++ {
			kind, _, f, t, c := d.v.rowPlace(k)
			if kind == RowPacket && c == d.filter {
				d.filterLanes = appendNew(appendNew(d.filterLanes, f), t)
				if len(d.filterLanes) >= 2 {
					break
				}
			}
		}
	}
	for k := from; k < n; k++ {
		kind, lane, _, _, c := d.v.rowPlace(k)
		if c == d.filter || (c == 0 && (kind == RowNote || has(d.filterLanes, lane))) {
			d.visible = append(d.visible, int32(k))
		}
	}
	d.filteredTo = n
}

// extendFilter keeps the filtered rows of the old view when the new one
// only adds rows to it (a growing index), and filters the new rows.
func (d *dashboard) extendFilter(old *view) bool {
	if d.filter == 0 || old == nil || old.ix == nil || d.v.ix == nil || old.ix.x != d.v.ix.x || d.filteredTo != old.count() ||
		len(old.ladder.Lanes) != len(d.v.ladder.Lanes) {
		return false
	}
	d.filterRows(d.filteredTo)
	return true
}

func appendNew(s []int, v int) []int {
	if has(s, v) {
		return s
	}
	return append(s, v)
}

func has(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (d *dashboard) clamp() {
	n := d.count()
	d.sel = max(0, min(d.sel, n-1))
	d.top = max(0, min(d.top, n-1))
}

func (d *dashboard) flash(msg string) {
	d.message = msg
	d.msgUntil = d.now().Add(3 * time.Second)
	d.animating.Store(true)
}

// move selects the row delta rows away, and stops following when it
// leaves the newest.
func (d *dashboard) move(delta int) {
	d.sel += delta
	d.clamp()
	d.follow = d.status.Live && d.sel >= d.count()-1
	d.resetPaneScroll()
}

func (d *dashboard) moveTo(i int) {
	d.move(i - d.sel)
}

func (d *dashboard) resetPaneScroll() {
	d.scroll[paneDetail] = 0
	d.scroll[paneStates] = 0
	d.scroll[paneCode] = -1 // center on the highlighted line
}

// key handles one key press on the UI goroutine. It never queues updates.
func (d *dashboard) key(ev *tcell.EventKey) {
	if d.help {
		d.help = false
		return
	}
	if d.finding {
		d.findKey(ev)
		return
	}
	if d.typing {
		d.typeKey(ev)
		return
	}
	if d.picking {
		d.pickKey(ev)
		return
	}
	page := max(1, d.rects.ladder.h-2)
	k, r := ev.Key(), ev.Rune()
	if k == tcell.KeyRune {
		switch r {
		case 'q', 'Q':
			d.requestQuit()
		case '?', 'h':
			d.help = true
		case 'j':
			d.scrollOrMove(1)
		case 'k':
			d.scrollOrMove(-1)
		case 'n', 'l':
			d.playing = false
			d.move(1)
		case 'p':
			d.playing = false
			d.move(-1)
		case 'g':
			d.playing = false
			d.moveTo(0)
		case 'G':
			d.playing = false
			d.moveTo(d.count() - 1)
			d.follow = d.status.Live
		case '/':
			d.finding = true
			d.query = d.query[:0]
		case 'i':
			if d.opts.Input != nil {
				d.typing = true
				d.draft = d.draft[:0]
			}
		case 'c':
			if d.v.connCount() == 0 {
				d.flash("no connection yet")
			} else {
				d.picking = true
				d.pickSel = d.filter
			}
		case ' ', 's':
			if d.step != nil && d.opts.Step != nil {
				d.releaseStep()
			} else if r == ' ' {
				d.togglePlay()
			}
		case '+', '=':
			d.setSpeed(d.playSpeed() * 2)
		case '-', '_':
			d.setSpeed(d.playSpeed() / 2)
		}
		return
	}
	switch k {
	case tcell.KeyUp:
		d.scrollOrMove(-1)
	case tcell.KeyDown:
		d.scrollOrMove(1)
	case tcell.KeyRight:
		d.playing = false
		d.move(1)
	case tcell.KeyLeft:
		d.playing = false
		d.move(-1)
	case tcell.KeyPgUp:
		d.scrollOrMove(-page)
	case tcell.KeyPgDn:
		d.scrollOrMove(page)
	case tcell.KeyHome:
		d.playing = false
		d.moveTo(0)
	case tcell.KeyEnd:
		d.playing = false
		d.moveTo(d.count() - 1)
		d.follow = d.status.Live
	case tcell.KeyEnter:
		if d.focus == paneLadder {
			d.setFocus(paneDetail)
		} else {
			d.setFocus(paneLadder)
		}
	case tcell.KeyEscape:
		d.setFocus(paneLadder)
		if d.filter != 0 {
			d.filter = 0
			d.refilter()
		}
	case tcell.KeyTab:
		d.setFocus((d.focus + 1) % numPanes)
	case tcell.KeyBacktab:
		d.setFocus((d.focus + numPanes - 1) % numPanes)
	}
}

func (d *dashboard) setFocus(p pane) {
	d.focus = p
	if p != paneLadder {
		d.tab = p
	}
}

// scrollOrMove moves the selection, or scrolls the focused side pane.
func (d *dashboard) scrollOrMove(delta int) {
	if d.focus == paneLadder {
		d.playing = false
		d.move(delta)
		return
	}
	if d.scroll[d.focus] < 0 {
		d.scroll[d.focus] = 0
	}
	d.scroll[d.focus] = max(0, d.scroll[d.focus]+delta)
}

func (d *dashboard) releaseStep() {
	d.step = nil
	d.model.SetStep(nil)
	go d.opts.Step()
}

func (d *dashboard) refilter() {
	var key *Row
	if d.count() > 0 {
		key = d.v.row(d.rowAt(d.sel))
	}
	d.applyFilter()
	if key != nil {
		d.sel = d.find(key)
	}
	d.clamp()
}

// typeKey edits the line the user types for the scenario; Enter sends it.
func (d *dashboard) typeKey(ev *tcell.EventKey) {
	switch ev.Key() {
	case tcell.KeyEscape:
		d.typing = false
	case tcell.KeyEnter:
		d.typing = false
		line, input := string(d.draft), d.opts.Input
		go input(line)
		d.flash("sent to the program: " + strconv.Quote(line))
		d.follow = true
	case tcell.KeyBackspace, tcell.KeyBackspace2:
		if len(d.draft) > 0 {
			d.draft = d.draft[:len(d.draft)-1]
		}
	case tcell.KeyRune:
		d.draft = append(d.draft, ev.Rune())
	}
}

func (d *dashboard) findKey(ev *tcell.EventKey) {
	switch ev.Key() {
	case tcell.KeyEscape:
		d.finding = false
	case tcell.KeyEnter:
		d.finding = false
		q := string(d.query)
		if q == "" {
			q = d.lastFind
		}
		d.lastFind = q
		d.findNext(q)
	case tcell.KeyBackspace, tcell.KeyBackspace2:
		if len(d.query) > 0 {
			d.query = d.query[:len(d.query)-1]
		}
	case tcell.KeyRune:
		d.query = append(d.query, ev.Rune())
	}
}

// findNext selects the next row, after the selection and wrapping round,
// whose text contains q (case-insensitive).
func (d *dashboard) findNext(q string) {
	if q == "" {
		return
	}
	lq := strings.ToLower(q)
	n := d.count()
	for i := 1; i <= n; i++ {
		j := (d.sel + i) % n
		r := d.v.row(d.rowAt(j))
		if strings.Contains(strings.ToLower(rowSearchText(d.v.ladder, r)), lq) {
			d.playing = false
			d.moveTo(j)
			if j <= d.sel && i > 0 && j != d.sel {
				d.flash("search wrapped to the top")
			}
			return
		}
	}
	d.flash(fmt.Sprintf("%q not found", q))
}

func (d *dashboard) pickKey(ev *tcell.EventKey) {
	n := d.v.connCount() + 1 // "all" first
	switch ev.Key() {
	case tcell.KeyEscape:
		d.picking = false
	case tcell.KeyUp:
		d.pickSel = (d.pickSel + n - 1) % n
	case tcell.KeyDown:
		d.pickSel = (d.pickSel + 1) % n
	case tcell.KeyEnter:
		d.picking = false
		d.filter = d.pickSel
		d.refilter()
	case tcell.KeyRune:
		switch ev.Rune() {
		case 'k':
			d.pickSel = (d.pickSel + n - 1) % n
		case 'j':
			d.pickSel = (d.pickSel + 1) % n
		case 'q', 'c':
			d.picking = false
		}
	}
}

// Playback: the selection walks the rows at the capture's own pace, times
// the speed. Waits longer than maxWait are cut short.
const maxWait = 2 * time.Second

func (d *dashboard) playSpeed() float64 {
	if d.speed > 0 {
		return d.speed
	}
	// A loopback exchange lasts a millisecond: pick a power of ten that
	// plays the whole session in about 15 seconds.
	n := d.count()
	if n < 2 {
		return 1
	}
	span := d.v.rowTime(d.rowAt(n - 1)).Sub(d.v.rowTime(d.rowAt(0)))
	if span <= 0 {
		return 1
	}
	s := math.Pow(10, math.Round(math.Log10(span.Seconds()/15)))
	return min(1, max(s, 1e-9))
}

func (d *dashboard) setSpeed(s float64) {
	d.speed = min(1e3, max(s, 1e-9))
	d.flash("speed " + speedText(d.speed))
}

func speedText(s float64) string {
	if s >= 1 {
		return fmt.Sprintf("×%g", s)
	}
	return fmt.Sprintf("×1/%g", math.Round(1/s))
}

func (d *dashboard) togglePlay() {
	if d.status.Live {
		d.flash("playback once the run is over")
		return
	}
	if d.count() == 0 {
		return
	}
	d.playing = !d.playing
	if d.playing {
		if d.sel >= d.count()-1 {
			d.moveTo(0)
		}
		d.speed = d.playSpeed()
		d.playClock = d.relOf(d.sel)
		d.lastTick = d.now()
		d.animating.Store(true)
	}
}

func (d *dashboard) relOf(i int) time.Duration {
	return d.v.rowTime(d.rowAt(i)).Sub(d.v.ladder.Start)
}

func (d *dashboard) advancePlayback(now time.Time) {
	dt := now.Sub(d.lastTick)
	d.playClock += time.Duration(float64(dt) * d.speed)
	n := d.count()
	if d.sel+1 < n {
		next := d.relOf(d.sel + 1)
		if limit := time.Duration(float64(maxWait) * d.speed); next-d.playClock > limit {
			d.playClock = next - limit
		}
	}
	moved := false
	for d.sel+1 < n && d.relOf(d.sel+1) <= d.playClock {
		d.sel++
		moved = true
	}
	if moved {
		d.resetPaneScroll()
	}
	if d.sel >= n-1 {
		d.playing = false
	}
}

// rootView is the one tview primitive: it lays the panes out itself.
type rootView struct {
	*tview.Box
	d *dashboard
}

func (r *rootView) Draw(scr tcell.Screen) {
	r.d.draw(scr)
}

func (r *rootView) InputHandler() func(*tcell.EventKey, func(tview.Primitive)) {
	return r.WrapInputHandler(func(ev *tcell.EventKey, _ func(tview.Primitive)) {
		r.d.key(ev)
	})
}

func (r *rootView) MouseHandler() func(tview.MouseAction, *tcell.EventMouse, func(tview.Primitive)) (bool, tview.Primitive) {
	return r.WrapMouseHandler(func(action tview.MouseAction, ev *tcell.EventMouse, setFocus func(tview.Primitive)) (bool, tview.Primitive) {
		return r.d.mouse(action, ev), nil
	})
}

// mouse: a click selects a row or focuses a pane; the wheel scrolls.
func (d *dashboard) mouse(action tview.MouseAction, ev *tcell.EventMouse) bool {
	x, y := ev.Position()
	if d.help || d.picking {
		if action == tview.MouseLeftClick {
			d.help, d.picking = false, false
			return true
		}
		return false
	}
	at := d.rects.paneAt(x, y)
	switch action {
	case tview.MouseLeftClick:
		if at < 0 {
			return false
		}
		d.setFocus(at)
		if at == paneLadder {
			row := y - d.rects.ladder.y - 1 // under the lane heading
			if row >= 0 {
				d.playing = false
				d.moveTo(min(d.top+row, d.count()-1))
			}
		}
		return true
	case tview.MouseScrollUp, tview.MouseScrollDown:
		delta := 3
		if action == tview.MouseScrollUp {
			delta = -3
		}
		if at == paneLadder {
			d.playing = false
			d.move(delta)
		} else if at >= 0 {
			if d.scroll[at] < 0 {
				d.scroll[at] = 0
			}
			d.scroll[at] = max(0, d.scroll[at]+delta)
		}
		return true
	}
	return false
}
