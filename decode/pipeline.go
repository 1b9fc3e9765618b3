package decode

import (
	"sync"
	"sync/atomic"
)

// Pipelined eager annotation (StreamOptions.Pipelined): once a stream is
// eager, the caller's goroutine reads and decodes while another annotates
// and emits, so that a long replay uses two cores for what one did. The
// decoding side gives the annotating side everything it needs of the
// decoder with each frame (eagerItem), so the two share nothing but the
// records of the frames in flight, which the decoding side does not touch
// again until the caller releases their frames: the output is the same as
// without the pipeline.

// annotatePipe carries eagerItems in batches to the annotating goroutine.
type annotatePipe struct {
	batch []eagerItem
	full  chan []eagerItem
	free  chan []eagerItem
	done  chan struct{}

	released atomic.Int64 // frames the caller released, for the annotating side's slabs
	failed   atomic.Bool  // err is set
	mu       sync.Mutex
	err      error // the annotating side's first error (from emit)
}

const (
	pipeBatch   = 256 // items per batch
	pipeBatches = 8   // batches in flight
)

// startPipe starts the annotating goroutine. From here until stopPipe,
// the annotator, held, the inferred calls' slabs and s.err belong to it.
func (s *Stream) startPipe() {
	p := &annotatePipe{
		full: make(chan []eagerItem, pipeBatches), free: make(chan []eagerItem, pipeBatches+1),
		done: make(chan struct{}),
	}
	for range pipeBatches + 1 {
		p.free <- make([]eagerItem, 0, pipeBatch)
	}
	p.batch = <-p.free
	s.pipe, s.pipePass = p, p.pass
	go s.annotatePiped(p)
}

// annotatePiped is the annotating goroutine.
func (s *Stream) annotatePiped(p *annotatePipe) {
	defer close(p.done)
	released := 0
	for b := range p.full {
		if n := int(p.released.Load()); n > released {
			released = n
			s.calls.release(n)
			s.ints.release(n)
		}
		for _, it := range b {
			s.annotateEager(it)
		}
		if s.err != nil && !p.failed.Load() {
			p.mu.Lock()
			p.err = s.err
			p.mu.Unlock()
			p.failed.Store(true)
		}
		// Not cleared: the records it points to stay reachable until it
		// is filled again (a few batches' worth, which the slabs hold
		// anyway), and the decoding core does not have to take back the
		// cache lines this one would write.
		p.free <- b[:0]
	}
}

// pass queues an item for the annotating side.
func (p *annotatePipe) pass(it eagerItem) {
	p.batch = append(p.batch, it)
	if len(p.batch) == cap(p.batch) {
		p.full <- p.batch
		p.batch = <-p.free
	}
}

// failure is the annotating side's error, if it had one.
func (p *annotatePipe) failure() error {
	if !p.failed.Load() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// stopPipe hands on what is queued and waits until it is annotated: the
// stream belongs to the caller's goroutine alone again.
func (s *Stream) stopPipe() {
	p := s.pipe
	p.full <- p.batch
	close(p.full)
	<-p.done
	s.pipe, s.pipePass = nil, nil
	if n := int(p.released.Load()); n > 0 {
		s.calls.release(n)
		s.ints.release(n)
	}
}
