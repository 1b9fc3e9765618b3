// Package trace is the seam between sockscope's producers and consumers: the
// shared vocabulary (Call, Frame, Packet, StateChange, Note, Conn), a Timeline
// that producers append to and consumers snapshot, and its encodings (JSON
// Lines, the call comments stored in pcapng files).
//
// trace imports the standard library only; it knows nothing of gopacket,
// sockets or terminals.
package trace

import (
	"net/netip"
	"time"
)

// Endpoint is one end of a connection: an IP address and a port. Its String
// form is "ip:port" or "[ip6]:port".
type Endpoint = netip.AddrPort

// Kind names what an Event is. The names are part of the JSON Lines schema.
type Kind string

// The kinds of event.
const (
	KindCall   Kind = "call"
	KindPacket Kind = "packet"
	KindState  Kind = "state"
	KindNote   Kind = "note"
)

// Op is the socket system call a Call recorded.
type Op string

// The recorded socket operations; each is exactly one system call.
const (
	OpSocket     Op = "socket"
	OpBind       Op = "bind"
	OpListen     Op = "listen"
	OpAccept     Op = "accept"
	OpConnect    Op = "connect"
	OpSend       Op = "send"
	OpRecv       Op = "recv"
	OpSendto     Op = "sendto"
	OpRecvfrom   Op = "recvfrom"
	OpShutdown   Op = "shutdown"
	OpClose      Op = "close"
	OpSetsockopt Op = "setsockopt"
)

// Blocking reports whether the operation may wait for the peer, so that its
// entry and its return are worth showing apart.
func (o Op) Blocking() bool {
	switch o {
	case OpAccept, OpConnect, OpRecv, OpRecvfrom:
		return true
	}
	return false
}

// State is a TCP state, named as in Linux's include/net/tcp_states.h.
type State string

// TCP states. StateUnknown is the zero value: nothing is known yet.
const (
	StateUnknown     State = ""
	StateEstablished State = "ESTABLISHED"
	StateSynSent     State = "SYN_SENT"
	StateSynRecv     State = "SYN_RECV"
	StateFinWait1    State = "FIN_WAIT1"
	StateFinWait2    State = "FIN_WAIT2"
	StateTimeWait    State = "TIME_WAIT"
	StateClosed      State = "CLOSED"
	StateCloseWait   State = "CLOSE_WAIT"
	StateLastAck     State = "LAST_ACK"
	StateListen      State = "LISTEN"
	StateClosing     State = "CLOSING"
)

// Source says where a state came from.
type Source string

// State sources.
const (
	SourceInferred Source = "inferred" // deduced from the segments on the wire
	SourceKernel   Source = "kernel"   // read from the kernel (TCP_INFO, sock_diag)
)

// MaxData bounds the payload a Call keeps.
const MaxData = 256

// Call is one socket system call made by a scenario.
type Call struct {
	ID     int      // 1-based, in the order calls were entered
	Lane   string   // who made it: "client", "server", "client2" …
	Op     Op       // the system call
	FD     int      // the socket; for accept, the listening socket
	Local  Endpoint // the socket's local address after the call, if known
	Remote Endpoint // the peer's address, if known
	Proto  string   // "tcp" or "udp"

	// Arguments, as far as the op has them.
	Family  string // socket: "AF_INET", "AF_INET6"
	Type    string // socket: "SOCK_STREAM", "SOCK_DGRAM"
	Backlog int    // listen
	Flags   int    // send, recv, sendto, recvfrom
	How     string // shutdown: "SHUT_RD", "SHUT_WR", "SHUT_RDWR"
	Option  string // setsockopt: "SO_REUSEADDR=1", "SO_LINGER={1,0}"
	Len     int    // send: bytes offered; recv: buffer size

	Ret   int    // return value: a new fd for socket/accept, a byte count for send/recv
	Errno string // "" or the errno's name, e.g. "ECONNREFUSED"
	Data  []byte // payload moved, at most MaxData bytes

	Start time.Time // when the call was entered
	End   time.Time // when it returned
	State State     // the socket's TCP state after the call, as the kernel reports it
	Line  int       // the line of the scenario's listing that made the call, 0 if none

	// Inferred is set on calls nobody recorded: what the packets of a
	// capture made by another tool imply (decode.AnnotateOptions.InferCalls):
	// InferredConnect, InferredListen, InferredClose or InferredAbort. Such a
	// call has ID 0, Local the sender of the packet that implies it, Remote
	// its receiver, Frames that packet; no fd, no return value.
	Inferred string

	// Set by decode.Annotate, from the packets.
	Bytes  [2]uint32 // send/recv on TCP: the stream offsets moved, [start, end), relative as Wireshark numbers them (the first data byte is 1); {0, 0} when unknown
	Frames []int     // the frames tied to the call: the segments or datagram carrying its bytes, connect's SYN, accept's handshake, close's FIN or RST, the FIN behind a recv that returned 0, an ICMP error
}

// What a foreign capture's segments imply (Call.Inferred).
const (
	InferredConnect = "connect() called"              // a SYN: the sender called connect()
	InferredListen  = "listening socket"              // a SYN-ACK: the sender listens on that port
	InferredClose   = "close() or shutdown(SHUT_WR)"  // a FIN: the sender will send no more
	InferredAbort   = "abortive close or no listener" // a RST
)

// HasBytes reports whether Bytes is known.
func (c *Call) HasBytes() bool { return c.Bytes[1] != 0 }

// Frame is one captured link-layer frame, as read from the kernel or a file.
type Frame struct {
	Time     time.Time
	LinkType int      // pcap LINKTYPE_ value
	Data     []byte   // the captured bytes
	WireLen  int      // the length on the wire (≥ len(Data))
	Comments []string // pcapng packet comments, if any
}

// Packet is a decoded frame.
type Packet struct {
	Frame int // 1-based frame number in the capture
	Time  time.Time
	Proto string   // "tcp", "udp", "icmp", "icmp6" or "other"
	Src   Endpoint // port 0 for protocols without ports
	Dst   Endpoint

	// TCP only.
	Flags   string // tcpdump notation: "S", "S.", ".", "P.", "F.", "R.", "R"
	Seq     uint32 // absolute
	Ack     uint32 // absolute; meaningful when Flags has "."
	RSeq    uint32 // relative to the sender's initial sequence number
	RAck    uint32 // relative to the receiver's initial sequence number
	Win     int    // the window field as sent (unscaled)
	Options string // TCP options, tcpdump style: "mss 65495,sackOK,TS val 1 ecr 0,nop,wscale 7"

	Len     int         // payload bytes (TCP or UDP); for other protocols the IP payload
	Payload []byte      // the first payload bytes, at most MaxData
	Conn    int         // connection id, 0 if none
	Info    string      // a short description for ICMP and other protocols
	Quoted  [2]Endpoint // ICMP errors: source and destination of the TCP or UDP datagram it answers
	Error   string      // why the frame could not be decoded fully, "" if it could

	// Set by decode.Annotate.
	Analysis []string // TCP: Wireshark's analysis flags (AnalysisRetransmission …) and AnalysisReset
	Calls    []int    // ids of the calls tied to this packet: the call that sent it, the call that received its bytes, accept for its handshake …
	By       string   // ByCall when a call sent it, ByKernel when the kernel sent it on its own; "" when no call was recorded (a foreign capture)
}

// Who sent a packet (Packet.By).
const (
	ByCall   = "call"   // a program's call put it on the wire: send's data, connect's SYN, close's FIN
	ByKernel = "kernel" // the kernel sent it on its own: ACKs, the SYN-ACK, retransmissions, window updates, keep-alives
)

// Analysis flags on TCP packets, with Wireshark's meanings (tcp.analysis.*).
const (
	AnalysisRetransmission     = "retransmission"      // tcp.analysis.retransmission: sequence space sent before
	AnalysisFastRetransmission = "fast-retransmission" // tcp.analysis.fast_retransmission: resent after ≥ 2 duplicate ACKs asked for it
	AnalysisDupAck             = "dup-ack"             // tcp.analysis.duplicate_ack: the same ACK, window and seq again, without data
	AnalysisOutOfOrder         = "out-of-order"        // tcp.analysis.out_of_order: older data arriving soon after newer
	AnalysisLostSegment        = "lost-segment"        // tcp.analysis.lost_segment: a gap before it: a segment was not captured
	AnalysisZeroWindow         = "zero-window"         // tcp.analysis.zero_window: the sender's receive buffer is full
	AnalysisWindowUpdate       = "window-update"       // tcp.analysis.window_update: only the window changed
	AnalysisKeepAlive          = "keep-alive"          // tcp.analysis.keep_alive: seq one below the next expected, no new data
	AnalysisKeepAliveAck       = "keep-alive-ack"      // tcp.analysis.keep_alive_ack: the answer to a keep-alive
	AnalysisReset              = "reset"               // the RST flag: the connection was aborted
)

// StateChange is a TCP endpoint moving from one state to another.
type StateChange struct {
	Time     time.Time
	Endpoint Endpoint
	Peer     Endpoint // the other end, when known: it tells connections apart before conn ids are assigned
	Conn     int      // connection id, 0 for a listener or when not yet assigned
	From, To State
	Source   Source
	TimeLeft time.Duration // kernel only: the TIME_WAIT or FIN_WAIT2 timer's time left, 0 if none
}

// Note is a remark in the timeline: a warning, a capture statistic, a disagreement.
type Note struct {
	Time  time.Time
	Level string // "info", "warning" or "error"
	Text  string
	Topic string // what the note is about, for programs: TopicSummary, TopicKernelDisagrees, or ""
	Conn  int    // the connection it is about, 0 if none
}

// Note topics.
const (
	TopicSummary         = "summary"          // a connection's story in plain words, at its end
	TopicKernelDisagrees = "kernel-disagrees" // the kernel's state differs from the state inferred from the segments
)

// Conn is one TCP connection or UDP flow.
type Conn struct {
	ID     int
	Proto  string
	Client Endpoint // the side that sent the first SYN (TCP) or datagram (UDP)
	Server Endpoint
}

// Event is one row of the timeline. Exactly one of its pointers is set.
type Event struct {
	Kind   Kind
	Call   *Call
	Packet *Packet
	State  *StateChange
	Note   *Note

	// Explain narrates the event in one or two sentences, in the language
	// asked for (decode.Annotate fills it); "" when not narrated.
	Explain string
}

// Time is when the event happened; for a call, when it was entered.
func (e Event) Time() time.Time {
	switch {
	case e.Call != nil:
		return e.Call.Start
	case e.Packet != nil:
		return e.Packet.Time
	case e.State != nil:
		return e.State.Time
	case e.Note != nil:
		return e.Note.Time
	}
	return time.Time{}
}

// CallEvent wraps c as an Event.
func CallEvent(c *Call) Event { return Event{Kind: KindCall, Call: c} }

// PacketEvent wraps p as an Event.
func PacketEvent(p *Packet) Event { return Event{Kind: KindPacket, Packet: p} }

// StateEvent wraps s as an Event.
func StateEvent(s *StateChange) Event { return Event{Kind: KindState, State: s} }

// NoteEvent wraps n as an Event.
func NoteEvent(n *Note) Event { return Event{Kind: KindNote, Note: n} }
