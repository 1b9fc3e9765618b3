// Command sockscope runs the socket programs of the classic tutorials while
// it captures their loopback traffic, and shows the socket calls, the
// segments on the wire and each endpoint's TCP state as one timeline.
//
// This package is the command line only: flags, subcommands, wiring, errors
// turned into hints, exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/sockscope/sockscope/capture/sandbox"
)

// Exit statuses.
const (
	exitOK          = 0
	exitDamaged     = 1 // replay: read with damage; run: the scenario failed
	exitCannot      = 2 // usage, missing rights, unreadable input
	exitInterrupted = 130
)

func main() {
	if sandbox.IsChild() {
		os.Exit(childMain(os.Args[1:]))
	}
	// Only run needs rights, to make its child: replay (which parses files
	// from anywhere) and the rest give up any capability a setcap'd or
	// sudo'd binary had, before they read anything.
	if !slices.Contains(os.Args[1:], "run") {
		if err := sandbox.DropCapabilities(); err != nil && !errors.Is(err, sandbox.ErrCapsKept) {
			fmt.Fprintln(os.Stderr, "sockscope:", err)
			os.Exit(exitCannot)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	atExit()
	os.Exit(code)
}

// atExit runs before main exits; only the sockscope_cpuprofile build
// (cpuprofile.go, for bench/pgo.sh) gives it something to do.
var atExit = func() {}
