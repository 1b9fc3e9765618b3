// Package capture moves packets in and out of sockscope: live AF_PACKET
// capture on an interface (normally lo, often inside the sandbox's fresh
// network namespace), reading pcap and pcapng files, and writing pcapng files
// whose packets carry sockscope's comments.
//
// capture hands out trace.Frame values: raw link-layer bytes tagged with their
// pcap link type, time and comments. It does not decode beyond the link type
// (that is decode's job), and it never imports decode, ui or scenarios.
package capture
