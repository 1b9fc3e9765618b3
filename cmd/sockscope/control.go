package main

import (
	"bufio"
	"context"
	"sync"

	"github.com/sockscope/sockscope/capture/sandbox"
	"github.com/sockscope/sockscope/trace"
)

// control reads the parent's control pipe in the child: go-aheads for step
// mode and the lines the user types for an interactive scenario. When the
// parent goes away, steps run freely and input ends.
type control struct {
	steps chan struct{}
	lines chan string
}

func startControl(ctx context.Context) *control {
	c := &control{steps: make(chan struct{}), lines: make(chan string)}
	ctl := sandbox.Control()
	if ctl == nil {
		close(c.steps)
		close(c.lines)
		return c
	}
	go func() {
		defer close(c.steps) // the parent is gone: run freely
		defer close(c.lines) // … and nobody types any more
		r := bufio.NewReader(ctl)
		for {
			msg, err := sandbox.ReadControl(r)
			if err != nil {
				return
			}
			if msg.Step {
				select {
				case c.steps <- struct{}{}:
				case <-ctx.Done():
					return
				}
				continue
			}
			select {
			case c.lines <- msg.Line:
			case <-ctx.Done():
				return
			}
		}
	}()
	return c
}

// input is the scenario's Options.Input: the next typed line.
func (c *control) input(ctx context.Context) func() (string, bool) {
	return func() (string, bool) {
		select {
		case l, ok := <-c.lines:
			return l, ok
		case <-ctx.Done():
			return "", false
		}
	}
}

// stepHook is the scenario's Options.Step: it tells the parent which call
// waits, then waits for the go-ahead.
func (c *control) stepHook(ctx context.Context, stream *sandbox.Stream) func(string, trace.Op, int) {
	var mu sync.Mutex
	return func(lane string, op trace.Op, line int) {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		_ = stream.Send(sandbox.Record{Step: &sandbox.StepWait{Lane: lane, Op: op, Line: line}})
		select {
		case <-c.steps:
		case <-ctx.Done():
		}
	}
}
