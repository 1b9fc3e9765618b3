package scenarios

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockscope/sockscope/trace"
)

// DefaultTimeout bounds a scenario run when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Options tune a scenario run. The zero value runs on 127.0.0.1 with a port
// the kernel picks.
type Options struct {
	Port    int           // server port; 0: the kernel picks one
	Host    string        // IP address the server binds; "" means 127.0.0.1
	Clients int           // clients, for scenarios that have several; 0: the scenario's default
	Message []string      // what the clients send; nil: the scenario's own lines
	Pace    time.Duration // pause before every call, for classrooms
	Timeout time.Duration // 0: DefaultTimeout, plus 100 pauses when Pace is set
	Bytes   int64         // bulk: how many bytes to move; 0: the scenario's default

	// Step, when set, is called before each socket system call and blocks
	// until the user lets the call run (sockscope run --step).
	Step func(lane string, op trace.Op, line int) `json:"-"`

	// Input, when set, gives an interactive client the lines its user
	// types (chat in the dashboard); false when the user is done.
	Input func() (string, bool) `json:"-"`
}

// MaxClients bounds Options.Clients.
const MaxClients = 16

// Check says what is wrong with o, if anything: the error Run would
// return before running a scenario.
func (o Options) Check() error {
	_, err := o.withDefaults()
	return err
}

func (o Options) withDefaults() (Options, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	a, err := netip.ParseAddr(o.Host)
	if err != nil {
		return o, fmt.Errorf("host %q is not an IP address", o.Host)
	}
	if a.Zone() != "" {
		return o, fmt.Errorf("host %q: zones are not supported", o.Host)
	}
	if o.Port < 0 || o.Port > 65535 {
		return o, fmt.Errorf("port %d out of range", o.Port)
	}
	if o.Clients < 0 || o.Clients > MaxClients {
		return o, fmt.Errorf("%d clients: use 1 to %d", o.Clients, MaxClients)
	}
	if o.Bytes < 0 {
		return o, fmt.Errorf("%d bytes: use a positive number", o.Bytes)
	}
	if o.Pace < 0 {
		o.Pace = 0
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout + 100*o.Pace
	}
	return o, nil
}

// Env is what a scenario runs in: it makes sockets, starts lanes and
// records every call. An Env value also carries the listing line of the
// next call it makes: env.At(12).Socket(...).
type Env struct {
	r    *run
	line int
}

// run is the state of one scenario run, shared by every Env and Sock view.
type run struct {
	name   string
	opts   Options
	ctx    context.Context
	cancel context.CancelCauseFunc

	sinkMu sync.Mutex
	sink   func(trace.Event)

	wg   sync.WaitGroup
	diag *differ // nil if sock_diag is unavailable: close() then has no State

	mu          sync.Mutex
	nextID      int
	socks       map[*sock]struct{}   // open fds, for the watchdog and the final cleanup
	inflight    map[*flight]struct{} // calls entered and not yet returned
	stopped     bool                 // no call may start any more
	finished    bool                 // every lane has returned
	err         error                // why the run failed, first reason wins
	interrupted []string             // calls the stop cut short, "server accept(3)"
}

// flight is one call between entry and return. what names it for the
// note of a stop: the watchdog must not read the Call, which its lane is
// filling in.
type flight struct {
	c           *trace.Call
	what        string // "server accept(3)"
	interrupted bool

	// The kernel's state after the call: the socket it is of (for accept,
	// the new one), when it was read, the TIME_WAIT or FIN_WAIT2 timer
	// left. ss is nil when no state was read.
	ss   *sock
	at   time.Time
	left time.Duration
}

// errInterrupted is what a call cut short by the watchdog returns; the
// run's own error says why.
var errInterrupted = errors.New("interrupted")

// errTimeout is the context cause of a run that took too long.
var errTimeout = errors.New("scenario timeout")

// Run runs sc to completion: its lanes, then the cleanup of every fd it left
// open. Events go to sink (which may be nil) one at a time, calls in the
// order they returned; sink need not be safe for concurrent use. When the
// run times out, ctx ends or a lane fails, the still-open sockets are shut
// down so that blocked calls return, an error Note is sent and the error is
// returned; a timeout's error wraps context.DeadlineExceeded.
func Run(ctx context.Context, sc *Scenario, opts Options, sink func(trace.Event)) error {
	if sc == nil || sc.Run == nil {
		return errors.New("scenario: nothing to run")
	}
	if opts.Host == "" {
		opts.Host = sc.host
	}
	if opts.Timeout <= 0 && sc.timeout != nil {
		opts.Timeout = sc.timeout(opts) + 100*max(opts.Pace, 0)
	}
	if sink == nil {
		sink = func(trace.Event) {}
	}
	opts, err := opts.withDefaults()
	if err != nil {
		err = fmt.Errorf("scenario %s: %w", sc.Name, err)
		sink(trace.NoteEvent(&trace.Note{Time: time.Now(), Level: "error", Text: err.Error()}))
		return err
	}
	tctx, stopTimer := context.WithTimeoutCause(ctx, opts.Timeout, errTimeout)
	defer stopTimer()
	rctx, cancel := context.WithCancelCause(tctx)
	defer cancel(nil)
	r := &run{
		name: sc.Name, opts: opts, ctx: rctx, cancel: cancel, sink: sink,
		socks: map[*sock]struct{}{}, inflight: map[*flight]struct{}{},
	}
	if d, err := openDiffer(); err == nil {
		r.diag = d
		defer d.close()
	} else {
		r.emit(trace.NoteEvent(&trace.Note{Time: time.Now(), Level: "warning",
			Text: fmt.Sprintf("no TCP states after close(): %v", err)}))
	}

	done := make(chan struct{})
	watchdogDone := make(chan struct{})
	go func() {
		defer close(watchdogDone)
		select {
		case <-rctx.Done():
			r.stop(r.reason())
		case <-done:
		}
	}()

	env := &Env{r: r}
	env.Go(func() error { return sc.Run(env) })
	r.wg.Wait()
	r.mu.Lock()
	r.finished = true
	r.mu.Unlock()
	close(done)
	<-watchdogDone

	left := r.closeAll()
	r.mu.Lock()
	err, interrupted := r.err, r.interrupted
	r.mu.Unlock()
	if err == nil {
		if left > 0 {
			r.emit(trace.NoteEvent(&trace.Note{Time: time.Now(), Level: "warning",
				Text: fmt.Sprintf("scenario %s left %d socket(s) open; sockscope closed them", r.name, left)}))
		}
		return nil
	}
	text := err.Error()
	if len(interrupted) > 0 {
		text += "; interrupted: " + strings.Join(interrupted, ", ")
	}
	if left > 0 {
		text += fmt.Sprintf("; closed %d socket(s) left open", left)
	}
	r.emit(trace.NoteEvent(&trace.Note{Time: time.Now(), Level: "error", Text: text}))
	return err
}

// reason says why the run's context ended.
func (r *run) reason() error {
	cause := context.Cause(r.ctx)
	switch {
	case errors.Is(cause, errTimeout):
		return fmt.Errorf("scenario %s timed out after %s: %w", r.name, r.opts.Timeout, context.DeadlineExceeded)
	case cause != nil:
		return fmt.Errorf("scenario %s stopped: %w", r.name, cause)
	}
	return fmt.Errorf("scenario %s stopped", r.name)
}

// fail records a lane's error and stops the other lanes.
func (r *run) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.cancel(err)
}

// stop makes blocked calls return: it shuts down every open socket (a
// shut-down listener fails accept with EINVAL, a connected socket's recv
// returns 0) and marks the calls in flight so that they are not recorded.
// Later calls are refused before their system call.
func (r *run) stop(reason error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopLocked(reason)
}

// stopLocked is stop with r.mu held.
func (r *run) stopLocked(reason error) {
	if r.finished {
		return
	}
	if r.err == nil {
		r.err = reason
	}
	r.stopped = true
	for f := range r.inflight {
		f.interrupted = true
		r.interrupted = append(r.interrupted, f.what)
	}
	sort.Strings(r.interrupted)
	for s := range r.socks {
		_ = unix.Shutdown(s.fd, unix.SHUT_RDWR)
	}
}

// closeAll closes the fds the scenario left open (unrecorded: they are
// sockscope's cleanup, not the program's) and reports how many there were.
func (r *run) closeAll() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.socks)
	for s := range r.socks {
		_ = unix.Close(s.fd)
		delete(r.socks, s)
	}
	return n
}

// adopt registers a new fd; one that arrives after the stop is shut down
// at once so that nothing can block on it.
func (r *run) adopt(s *sock) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.socks[s] = struct{}{}
	if r.stopped {
		_ = unix.Shutdown(s.fd, unix.SHUT_RDWR)
	}
}

// forget unregisters an fd that is about to be closed, so that the watchdog
// never touches its number again (the kernel may reuse it at once).
func (r *run) forget(s *sock) {
	r.mu.Lock()
	delete(r.socks, s)
	r.mu.Unlock()
}

// pause waits Options.Pace, or until the run ends.
func (r *run) pause() {
	if r.opts.Pace <= 0 {
		return
	}
	t := time.NewTimer(r.opts.Pace)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.ctx.Done():
	}
}

// enter starts a call: it gives it its ID and its start time, under one
// lock so that the order of IDs and the order of start times agree.
func (r *run) enter(c *trace.Call) (*flight, error) {
	r.pause()
	if r.opts.Step != nil {
		r.opts.Step(c.Lane, c.Op, c.Line)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped && r.ctx.Err() != nil {
		// The run ended during the pause and the watchdog has not
		// stopped it yet: the call must not run (a scenario that timed
		// out would otherwise finish with no error).
		r.stopLocked(r.reason())
	}
	if r.stopped {
		return nil, fmt.Errorf("%s: %s: %w", c.Lane, c.Op, errInterrupted)
	}
	r.nextID++
	c.ID = r.nextID
	f := &flight{c: c, what: fmt.Sprintf("%s %s(%d)", c.Lane, c.Op, c.FD)}
	if c.Op == trace.OpSocket {
		f.what = fmt.Sprintf("%s socket()", c.Lane)
	}
	r.inflight[f] = struct{}{}
	c.Start = time.Now()
	return f, nil
}

// leave ends a call; it reports false if the stop cut the call short.
func (r *run) leave(f *flight) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.inflight, f)
	return !f.interrupted
}

// emit sends evs to the sink together: a call and the state change it
// revealed arrive one after the other.
func (r *run) emit(evs ...trace.Event) {
	r.sinkMu.Lock()
	defer r.sinkMu.Unlock()
	for _, ev := range evs {
		r.sink(ev)
	}
}

// Go runs fn as a lane of the scenario in its own goroutine. Run waits for
// every lane; the first lane to fail stops the others.
func (e *Env) Go(fn func() error) {
	e.r.wg.Add(1)
	go func() {
		defer e.r.wg.Done()
		if err := fn(); err != nil {
			e.r.fail(err)
		}
	}()
}

// At returns a view of e whose next call is attributed to line of the
// scenario's listing.
func (e *Env) At(line int) *Env { return &Env{r: e.r, line: line} }

// Context ends when the run stops: timeout, cancellation or a failed lane.
// Lanes waiting on channels select on it.
func (e *Env) Context() context.Context { return e.r.ctx }

// Options are the run's options with defaults applied.
func (e *Env) Options() Options { return e.r.opts }

// Addr is the address the server binds: Options.Host and Options.Port.
func (e *Env) Addr() netip.AddrPort {
	a := netip.MustParseAddr(e.r.opts.Host) // checked by withDefaults
	return netip.AddrPortFrom(a.Unmap(), uint16(e.r.opts.Port))
}

// Clients is Options.Clients, or def when it is 0.
func (e *Env) Clients(def int) int {
	if e.r.opts.Clients > 0 {
		return e.r.opts.Clients
	}
	return def
}

// Lines is where a client's user's lines come from: typed ones
// (Options.Input) when interactive, else Messages(def), then the end.
func (e *Env) Lines(def []string) func() (string, bool) {
	if in := e.r.opts.Input; in != nil {
		return in
	}
	return scripted(e.Messages(def))
}

// Messages is Options.Message, or def when there is none.
func (e *Env) Messages(def []string) []string {
	if len(e.r.opts.Message) > 0 {
		return e.r.opts.Message
	}
	return def
}

// Sleep pauses the lane for d, as a program's time.sleep() does, or until
// the run stops. It is not a socket call: nothing is recorded.
func (e *Env) Sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-e.r.ctx.Done():
	}
}

// Wait waits until ch is closed (or sends), or the run stops; it reports
// whether ch did. Scenarios use it to order two programs' calls where the
// real programs would race (one program's close before the other's), so
// that every run tells the same story. Nothing is recorded.
func (e *Env) Wait(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-e.r.ctx.Done():
		return false
	}
}

// Family is the address family matching Options.Host.
func (e *Env) Family() int {
	if e.Addr().Addr().Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// Note adds a remark to the timeline: level is "info", "warning" or "error".
func (e *Env) Note(level, text string) {
	e.r.emit(trace.NoteEvent(&trace.Note{Time: time.Now(), Level: level, Text: text}))
}
