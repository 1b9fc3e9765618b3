// Package decode turns captured frames into sockscope's vocabulary: it owns
// the pure part of packet analysis.
//
//   - Frames → packets: link-layer, IP, TCP, UDP and ICMP decoding with
//     gopacket's DecodingLayerParser over preallocated layers, TCP flags and
//     options in tcpdump's notation, sequence numbers relative as Wireshark
//     shows them. The common frames (plain TCP or UDP over IPv4 or IPv6
//     after the usual link headers) take a hand-written path
//     (fastframe.go) that gives the same packets four times faster.
//
//   - Connections: TCP connections and UDP flows numbered in order of first
//     appearance, keyed by their 4-tuple.
//
//   - The per-endpoint TCP state machine: both ends of every connection,
//     inferred from the segments alone, one handler per state as in gVisor's
//     tcpconntrack, states named as in Linux's tcp_states.h.
//
//   - Annotation (Annotate, Stream): calls tied to segments, Wireshark's
//     analysis flags, inferred calls, summaries and narration; a Stream does
//     it in bounded memory, frame by frame once it saw no recorded event
//     (eager.go).
//
// A Decoder is a function of the frames fed to it, in order. It does no I/O,
// reads no clock, starts no goroutines and never imports capture, ui or
// scenarios. A frame it cannot decode becomes a packet carrying its error,
// never a panic and never the end of the stream.
package decode
