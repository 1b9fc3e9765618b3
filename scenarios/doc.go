// Package scenarios owns sockscope's socket programs: the classic tutorial
// servers and clients, each written against an instrumented BSD-socket API
// in which every method is exactly one system call on a blocking fd and is
// recorded as one trace.Call, with the kernel's TCP state of that fd after
// the call (TCP_INFO while the fd is open, an exact sock_diag lookup after
// close). Every call points at the line of the scenario's Python listing
// that makes it. When the state a call reveals differs from the last one
// recorded for its socket, a trace.StateChange with Source kernel follows
// the call (Conn 0: connection ids are decode's to assign).
//
// Scenarios are deterministic: where the tutorial's two programs would
// race (whose close() comes first), the lanes take turns (Env.Wait), and
// the listing says what each program does.
//
// scenarios imports only trace, the standard library and golang.org/x/sys.
// It must not capture or decode packets (no gopacket, capture, decode or ui),
// must not use package net for scenario sockets (net hides the system calls
// and makes MPTCP listeners), and must never invent calls: a call cut short
// by a timeout is reported as a trace.Note, not as a call.
package scenarios
