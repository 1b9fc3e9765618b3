//go:build linux

package capture

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/sockscope/sockscope/trace"
)

// ErrPermission is wrapped by OpenLive's error when the kernel refuses the
// packet socket: capturing needs CAP_NET_RAW (root, sudo, setcap, or the
// sandbox's user namespace).
var ErrPermission = errors.New("not permitted to capture packets (needs CAP_NET_RAW)")

// Snaplen is the most bytes kept of one live packet: libpcap's maximum, far
// above lo's 65536-byte MTU.
const Snaplen = 262144

// The pcap link types Live produces.
const (
	LinkTypeEthernet = 1   // LINKTYPE_ETHERNET, also what lo delivers
	LinkTypeRaw      = 101 // LINKTYPE_RAW: bare IP, e.g. tun devices
)

const (
	defaultBufferSize   = 128 << 20
	defaultBlockTimeout = 20 * time.Millisecond
	defaultStopWait     = time.Second
	// A block must hold one packet of Snaplen bytes plus its headers; the
	// kernel allocates blocks in power-of-two pages anyway.
	blockSize = 512 << 10
	frameSize = 4096
)

// LiveOptions tune a live capture. The zero value is usable.
type LiveOptions struct {
	// BufferSize is the size of the ring shared with the kernel, in bytes
	// (default 128 MiB: a 200 MB bulk transfer on lo, whose frames the
	// consumer keeps, does not overflow it; 64 MiB sometimes did).
	BufferSize int
	// BlockTimeout is how long the kernel holds a partly filled block
	// before handing it over (default 20 ms). It is the capture's latency.
	BlockTimeout time.Duration
	// StopWait bounds how long Stop waits for the capture to fall quiet
	// (default 1 s), and then how long Run waits for packets the kernel
	// has not handed over yet.
	StopWait time.Duration

	pollTimeout time.Duration // tests: how often Run wakes up, instead of BlockTimeout
}

// Stats counts what a live capture saw.
type Stats struct {
	// Received is what the kernel handed to the capture socket after the
	// filter (outgoing copies on lo are filtered out), dropped ones included.
	Received uint64
	// Dropped is what the kernel dropped because the ring was full.
	Dropped uint64
	// Captured is the number of frames Run passed on.
	Captured uint64
	// Unread is how many packets the kernel had put in the ring that Run
	// had not read when it gave up waiting for them, StopWait after Stop:
	// a block the kernel never handed over. The capture misses them.
	Unread uint64
}

// Live is a capture on one interface. Call Start (or Run in a goroutine of
// its own) and then Stop.
type Live struct {
	tp           *afpacket.TPacket
	iface        string
	linkType     int
	blockTimeout time.Duration
	stopWait     time.Duration
	quietFor     time.Duration // tests: Stop's quiet period instead of two block timeouts

	// opened is when the filter was in place. Frames the kernel queued before
	// it (the window between bind and SO_ATTACH_FILTER) may be outgoing
	// duplicates; Run skips them.
	opened time.Time

	stopping atomic.Bool
	stopAt   atomic.Int64 // UnixNano when the stop flag was set
	lastRead atomic.Int64 // UnixNano of the last packet Run read
	captured atomic.Uint64
	skipped  atomic.Uint64 // frames queued before the filter, not passed on
	unread   atomic.Uint64 // Stats.Unread

	stopOnce sync.Once
	mu       sync.Mutex // guards below and every use of tp's fd outside Run
	running  bool
	done     chan struct{}
	closed   bool
	base     [2]uint64 // kernel counters (received, dropped) when opened
	final    Stats     // counters at Close
	finalErr error
}

// OpenLive opens a TPACKET_V3 capture on iface (e.g. "lo"). Frames that the
// interface sends are dropped by a socket filter: on lo the kernel would
// otherwise deliver every packet twice, and tcpdump shows it once.
func OpenLive(iface string, opts LiveOptions) (*Live, error) {
	if opts.BufferSize <= 0 {
		opts.BufferSize = defaultBufferSize
	}
	if opts.BlockTimeout <= 0 {
		opts.BlockTimeout = defaultBlockTimeout
	}
	if opts.BlockTimeout < time.Millisecond {
		opts.BlockTimeout = time.Millisecond // the kernel counts in ms
	}
	if opts.StopWait <= 0 {
		opts.StopWait = defaultStopWait
	}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", iface, err)
	}
	nblocks := max(opts.BufferSize/blockSize, 2)
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(iface),
		afpacket.TPacketVersion3,
		afpacket.OptBlockSize(blockSize),
		afpacket.OptFrameSize(frameSize),
		afpacket.OptNumBlocks(nblocks),
		afpacket.OptBlockTimeout(opts.BlockTimeout),
		// Run wakes up this often to look at the stop flag.
		afpacket.OptPollTimeout(cmp.Or(opts.pollTimeout, opts.BlockTimeout)),
	)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("capture on %s: %w: %w", iface, ErrPermission, err)
		}
		return nil, fmt.Errorf("capture on %s: %w", iface, err)
	}
	prog, err := dropOutgoing()
	if err == nil {
		err = tp.SetBPF(prog)
	}
	if err != nil {
		tp.Close()
		return nil, fmt.Errorf("capture on %s: attach filter: %w", iface, err)
	}
	l := &Live{
		tp:           tp,
		iface:        iface,
		linkType:     linkTypeOf(ifi),
		blockTimeout: opts.BlockTimeout,
		stopWait:     opts.StopWait,
	}
	// Reading the kernel counters resets them; what was counted before the
	// filter belongs to nobody.
	if l.base, err = l.kernelCounters(); err != nil {
		tp.Close()
		return nil, fmt.Errorf("capture on %s: read statistics: %w", iface, err)
	}
	l.opened = time.Now()
	return l, nil
}

// dropOutgoing is `ld #type; jeq #PACKET_OUTGOING, drop; ret #Snaplen`.
func dropOutgoing() ([]bpf.RawInstruction, error) {
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipFalse: 1},
		bpf.RetConstant{Val: 0},
		bpf.RetConstant{Val: Snaplen},
	})
}

// linkTypeOf guesses the pcap link type of a SOCK_RAW packet socket on ifi:
// lo and Ethernet-like devices have a 14-byte Ethernet header, devices
// without a hardware address (tun, wireguard) hand over bare IP.
func linkTypeOf(ifi *net.Interface) int {
	if ifi.Flags&net.FlagLoopback != 0 || len(ifi.HardwareAddr) == 6 {
		return LinkTypeEthernet
	}
	return LinkTypeRaw
}

// LinkType is the pcap link type of the frames Run emits.
func (l *Live) LinkType() int { return l.linkType }

// Interface is the name of the captured interface.
func (l *Live) Interface() string { return l.iface }

// Start is Run on a goroutine of its own; the channel gives Run's result.
// The capture is running when Start returns, so that a Stop right after it
// still reads every packet queued before the Stop. (With `go l.Run(emit)`
// a Stop that came before the goroutine did would close the capture
// unread: on a loaded machine, a short scenario could end that soon.)
func (l *Live) Start(emit func(trace.Frame)) <-chan error {
	result := make(chan error, 1)
	if err := l.begin(); err != nil {
		result <- err
		return result
	}
	go func() { result <- l.read(emit) }()
	return result
}

// Run reads packets and passes each to emit, in capture order, until Stop.
// It returns nil after Stop, or the read error that ended the capture. The
// frame's Data is emit's to keep. emit must not block for long: Stop waits
// for Run to return.
func (l *Live) Run(emit func(trace.Frame)) error {
	if err := l.begin(); err != nil {
		return err
	}
	return l.read(emit)
}

// begin marks the capture as running, or says why it cannot run.
func (l *Live) begin() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return fmt.Errorf("capture on %s: already stopped", l.iface)
	case l.running:
		return fmt.Errorf("capture on %s: already running", l.iface)
	}
	l.running = true
	l.done = make(chan struct{})
	return nil
}

// read is Run once begun.
func (l *Live) read(emit func(trace.Frame)) error {
	defer close(l.done)
	skipping := true // still looking at frames queued before the filter
	for {
		data, ci, err := l.tp.ZeroCopyReadPacketData()
		if err != nil {
			if errors.Is(err, afpacket.ErrTimeout) {
				if l.stopping.Load() && l.allRead() {
					return nil
				}
				continue
			}
			return fmt.Errorf("capture on %s: read: %w", l.iface, err)
		}
		l.lastRead.Store(time.Now().UnixNano())
		if skipping {
			// The pre-filter window is microseconds; the one-second bound
			// keeps a clock surprise from swallowing real frames.
			if d := l.opened.Sub(ci.Timestamp); d > 0 && d < time.Second {
				l.skipped.Add(1)
				continue
			}
			skipping = false
		}
		// The ring delivers in time order: a frame newer than the stop flag
		// means every frame before it has been read. This ends Run even if
		// the interface never falls quiet (other traffic on the host's lo).
		if l.stopping.Load() && ci.Timestamp.UnixNano() > l.stopAt.Load() {
			return nil
		}
		f := trace.Frame{
			Time:     ci.Timestamp,
			LinkType: l.linkType,
			Data:     append([]byte(nil), data...),
			WireLen:  max(ci.Length, len(data)),
		}
		l.captured.Add(1)
		emit(f)
	}
}

// allRead tells, once the capture is stopping and the ring looked empty for
// a poll timeout, whether Run read every packet the kernel put in it: the
// kernel's counter says how many. A block the kernel has not handed over
// yet holds the rest: its retire timer can fire later than Stop's quiet
// period on a loaded machine, and those would be the scenario's last
// packets. Run waits for them up to StopWait after Stop, then counts them
// as unread.
func (l *Live) allRead() bool {
	l.mu.Lock()
	c, err := l.kernelCounters()
	l.mu.Unlock()
	if err != nil {
		return true
	}
	delivered := (c[0] - l.base[0]) - (c[1] - l.base[1])
	read := l.captured.Load() + l.skipped.Load()
	if read >= delivered {
		return true
	}
	if time.Since(time.Unix(0, l.stopAt.Load())) < l.stopWait {
		return false
	}
	l.unread.Store(delivered - read)
	return true
}

// Stop ends the capture and releases the socket. It waits until no packet
// has arrived for longer than the kernel could hold one in an open block
// (bounded by LiveOptions.StopWait), so that the last packets of a scenario
// are not lost, then lets Run return at its next poll timeout and only then
// closes the socket: closing under a blocked reader is unsafe. Stop may be
// called while Run runs, after it returned, and more than once; called
// before Run started, it closes at once and Run then returns an error.
func (l *Live) Stop() {
	l.stopOnce.Do(l.stop)
}

func (l *Live) stop() {
	l.mu.Lock()
	if !l.running {
		// Closing under the lock keeps a late Run from starting on it.
		l.closeLocked()
		l.mu.Unlock()
		return
	}
	done := l.done
	l.mu.Unlock()

	l.waitQuiet()
	l.stopAt.Store(time.Now().UnixNano())
	l.stopping.Store(true)
	<-done

	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeLocked()
}

func (l *Live) closeLocked() {
	l.stopping.Store(true)
	l.final, l.finalErr = l.statsLocked()
	l.closed = true
	l.tp.Close()
}

// waitQuiet returns once nothing has been read for quietFor, counted from
// the later of the call and the last packet, or after stopWait.
func (l *Live) waitQuiet() {
	// The kernel's retire timer fires every BlockTimeout but skips a block
	// opened since its last run, so a packet can wait up to two periods.
	quietFor := 2*l.blockTimeout + 10*time.Millisecond
	if l.quietFor > 0 {
		quietFor = l.quietFor
	}
	start := time.Now()
	deadline := start.Add(l.stopWait)
	for {
		now := time.Now()
		last := time.Unix(0, l.lastRead.Load())
		if last.Before(start) {
			last = start
		}
		if now.Sub(last) > quietFor || !now.Before(deadline) {
			return
		}
		time.Sleep(min(quietFor/4, deadline.Sub(now)+time.Millisecond))
	}
}

// Stats returns the counters so far; after Stop, the final ones.
func (l *Live) Stats() (Stats, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.final, l.finalErr
	}
	return l.statsLocked()
}

func (l *Live) statsLocked() (Stats, error) {
	c, err := l.kernelCounters()
	if err != nil {
		return Stats{Captured: l.captured.Load(), Unread: l.unread.Load()}, fmt.Errorf("capture on %s: read statistics: %w", l.iface, err)
	}
	return Stats{
		Received: c[0] - l.base[0],
		Dropped:  c[1] - l.base[1],
		Captured: l.captured.Load(),
		Unread:   l.unread.Load(),
	}, nil
}

// kernelCounters returns the socket's received and dropped counters since
// it was opened. The kernel resets them on every read; afpacket keeps the
// running sums.
func (l *Live) kernelCounters() ([2]uint64, error) {
	_, v3, err := l.tp.SocketStats()
	if err != nil {
		return [2]uint64{}, err
	}
	return [2]uint64{uint64(v3.Packets()), uint64(v3.Drops())}, nil
}
