package narrate

// en is the English catalogue. Placeholders in braces are filled in by the
// narration: {src}/{dst}/{ep} name an end ("the client"), {seq}, {ack},
// {end}, {next} are Wireshark's relative numbers, {len} bytes of payload.
var en = map[string]string{
	// Roles.
	"role.client": "the client",
	"role.server": "the server",

	// TCP segments: what the segment is.
	"pkt.syn":              "{src} asks to connect: SYN with seq {seq}, its initial sequence number (relative numbers count from it). A SYN consumes one sequence number, so {src}'s first data byte will be {next}.",
	"pkt.syn.again":        "The same SYN again (seq {seq}): no SYN-ACK came back in time, so the kernel resent it.",
	"pkt.synack":           "{src} answers with SYN-ACK: its own SYN (seq {seq}, which consumes one number) and ACK {ack} = the peer's seq 0 + 1 for its SYN. The kernel answers by itself: no accept() is needed for the handshake.",
	"pkt.data":             "{len} bytes of data from {src}: stream bytes {first}–{last} (seq {seq}:{end}); {src}'s next byte will be {end}.",
	"pkt.fin":              "FIN from {src}: it will send no more data. A FIN consumes one sequence number: it sits at seq {end}, so {src}'s next number is {next}.",
	"pkt.fin.data":         "The last {len} bytes (seq {seq}:{end}) ride on the same segment.",
	"pkt.ack":              "A pure ACK from {src}: no data, only an acknowledgement.",
	"pkt.rst":              "RST from {src}: the connection is aborted at once. Both ends forget it without the close handshake and without TIME_WAIT; data not yet read is lost.",
	"pkt.rst.refused":      "RST from {src}: nothing listens there, so the kernel refuses the connection and the client's connect() fails with ECONNREFUSED.",
	"pkt.udp":              "A UDP datagram of {len} bytes from {src} to {dst}: no connection, no sequence number, no acknowledgement; if it were lost, nobody would send it again.",
	"pkt.icmp.unreachable": "ICMP port unreachable about the datagram {src} → {dst}: nothing listens on {dst}, so the receiving kernel answers with this error; the sender learns it as ECONNREFUSED on its next call.",
	"pkt.icmp":             "ICMP: {info}.",
	"pkt.other":            "A {proto} packet ({info}), not TCP or UDP.",
	"pkt.error":            "This frame could not be decoded fully: {error}.",

	// TCP segments: what the acknowledgement number says.
	"ack.syn":         "ACK {ack} = the peer's seq {pseq} + 1 for its SYN: the three-way handshake is complete.",
	"ack.data":        "ACK {ack} = the peer's seq {pseq} + {plen} bytes received.",
	"ack.data.fin":    "ACK {ack} = the peer's seq {pseq} + {plen} bytes + 1 for its FIN.",
	"ack.fin":         "ACK {ack} = the peer's FIN at seq {pseq} + 1: a FIN consumes one sequence number.",
	"ack.fin.delayed": "ACK {ack} = the peer's FIN at seq {pseq} + 1. The ACK of the peer's FIN was delayed and rides on this FIN, so the \"four-way\" close takes three segments.",
	"ack.repeat":      "ACK {ack} repeats its last acknowledgement: nothing new has arrived.",
	"ack.cumulative":  "ACK {ack}: {src} has received every byte before {ack}.",

	// Wireshark's analysis flags.
	"flag.retransmission":      "Retransmission: this sequence space was sent before and not acknowledged in time, so the kernel sent it again.",
	"flag.fast-retransmission": "Fast retransmission: duplicate ACKs kept asking for seq {seq}, so the kernel resent it without waiting for its timer.",
	"flag.dup-ack":             "Duplicate ACK: the same ACK {ack} again, without data: {src} is still missing byte {ack} while later data arrives.",
	"flag.out-of-order":        "Out of order: this older data arrived shortly after newer data.",
	"flag.lost-segment":        "Previous segment not captured: there is a gap before seq {seq}.",
	"flag.zero-window":         "Zero window: {src}'s receive buffer is full; the peer must stop sending until the window opens.",
	"flag.window-update":       "Window update: only the window changed ({win}); the peer may send again.",
	"flag.keep-alive":          "Keep-alive: seq {seq} is one below the next byte and carries nothing new: is the peer still there?",
	"flag.keep-alive-ack":      "The answer to the keep-alive: the peer is alive.",

	// Who sent it.
	"by.call":          "{who}'s call #{id} {op}() put it on the wire.",
	"by.kernel":        "No call sent it: the kernel did, on its own.",
	"by.kernel.resent": "No call sent it: the kernel resent it on its own.",

	// State changes inferred from the segments.
	"state.SYN_SENT":              "{ep} sent its SYN: SYN_SENT, waiting for the SYN-ACK.",
	"state.SYN_RECV":              "{ep} answered the SYN: SYN_RECV, waiting for the ACK of its SYN-ACK. It lasts one round trip, microseconds on loopback, so the kernel is never caught in it: this state is inferred.",
	"state.SYN_RECV.simultaneous": "{ep} received a SYN while its own SYN was out (a simultaneous open): SYN_RECV.",
	"state.ESTABLISHED":           "{ep} is ESTABLISHED: both SYNs are acknowledged, data may flow both ways.",
	"state.FIN_WAIT1":             "{ep} sent its FIN: FIN_WAIT1, waiting for the ACK of it.",
	"state.FIN_WAIT2":             "{ep}'s FIN is acknowledged: FIN_WAIT2, waiting for the peer's FIN. It may still receive data (a half-close).",
	"state.FIN_WAIT2.passing":     "The ACK of {ep}'s FIN arrived, so it is in FIN_WAIT2; the same segment carries the peer's FIN, so FIN_WAIT2 lasts no time.",
	"state.CLOSE_WAIT":            "{ep} received the peer's FIN: CLOSE_WAIT. Its program's recv() will return 0; it should close its socket.",
	"state.LAST_ACK":              "{ep} closed second: its FIN is out and it waits in LAST_ACK for the last ACK. It lasts one round trip, so the kernel is rarely caught in it: this state is inferred.",
	"state.CLOSING":               "The two FINs crossed (a simultaneous close): {ep} waits in CLOSING for the ACK of its FIN.",
	"state.TIME_WAIT":             "{ep} closed first, so it waits in TIME_WAIT for 60 s (Linux's 2×MSL) before the 4-tuple can be used again: if its last ACK were lost, the peer's FIN would come again and be answered.",
	"state.TIME_WAIT.closing":     "The ACK of {ep}'s FIN arrived: after a simultaneous close both ends wait in TIME_WAIT for 60 s.",
	"state.CLOSED":                "{ep} is CLOSED.",
	"state.CLOSED.lastack":        "The last ACK arrived: {ep} is CLOSED; the connection is gone on this side.",
	"state.CLOSED.reset":          "The RST closes {ep} at once: CLOSED.",
	"state.CLOSED.refused":        "{ep}'s SYN was refused: CLOSED, and connect() fails with ECONNREFUSED.",
	"state.LISTEN":                "{ep} listens: LISTEN.",
	"state.other":                 "{ep}: {from} → {to}.",

	// States the kernel reported.
	"state.kernel":       "The kernel itself reports {ep} in {to}, read right after the call (TCP_INFO on the socket, or sock_diag once it is closed).",
	"state.kernel.timer": "{left} s are left on its timer.",

	// Socket calls.
	"call.socket":             "socket() creates a {type} socket, fd {ret}: no address and no connection yet (CLOSED).",
	"call.bind":               "bind() gives fd {fd} the address {local}.",
	"call.listen":             "listen() makes fd {fd} a listening socket (LISTEN): from now on the kernel completes handshakes on {local} by itself and queues up to {backlog} connections for accept().",
	"call.setsockopt":         "setsockopt({option}) sets a socket option; nothing goes on the wire.",
	"call.accept":             "accept() returned a new socket, fd {ret}, connected to {remote}.",
	"call.accept.queued":      "accept() took a finished connection from the queue: its handshake (frames {frames}) had completed {wait} before accept() was called. The new socket is fd {ret}, connected to {remote}.",
	"call.accept.waited":      "accept() waited for a client; the handshake (frames {frames}) completed and it returned the new socket fd {ret}, connected to {remote}.",
	"call.connect":            "connect() sends the SYN (frame {syn}) and returns once the SYN-ACK has arrived: the handshake took {dur}.",
	"call.connect.udp":        "connect() on a UDP socket only records the peer's address; nothing goes on the wire.",
	"call.connect.refused":    "connect() failed with ECONNREFUSED: the RST in frame {rst} says nothing listens on {remote}.",
	"call.udp.refused":        "{op}() failed with ECONNREFUSED: the ICMP port unreachable in frame {frames} reported that nothing listened for an earlier datagram.",
	"call.send":               "send() copied {n} bytes into the kernel: stream bytes {first}–{last}, carried by frame {frames}. It returns once the bytes are in the send buffer, not when the peer has read them.",
	"call.send.untied":        "send() handed {n} bytes to the kernel.",
	"call.sendto":             "{op}() sends one datagram of {n} bytes to {remote} (frame {frames}); UDP keeps no connection.",
	"call.sendto.untied":      "{op}() handed a datagram of {n} bytes to the kernel.",
	"call.sendto.unreachable": "The ICMP port unreachable in frame {icmp} answers it: nothing listened there.",
	"call.errno.timeout.udp":  "{op}() failed with EAGAIN: nothing arrived before the receive timeout (SO_RCVTIMEO) ran out. An unconnected UDP socket is not told of ICMP errors.",
	"call.recv":               "recv() returned {n} bytes: stream bytes {first}–{last}, which arrived in frame {frames}. TCP is a byte stream: one recv() may return part of a send() or several at once.",
	"call.recv.untied":        "recv() returned {n} bytes.",
	"call.recv.eof":           "recv() returned 0: the peer sent FIN (frame {fin}); no more data will come.",
	"call.recv.eof.untied":    "recv() returned 0: the peer closed its side; no more data will come.",
	"call.recvfrom":           "recvfrom() returned one whole datagram of {n} bytes from {remote} (frame {frames}): UDP keeps message boundaries.",
	"call.recvfrom.truncated": "recvfrom() returned only {n} of the datagram's {plen} bytes (frame {frames}): the buffer was too small, and the rest of a UDP datagram is discarded, not kept for the next call.",
	"call.close":              "close() releases fd {fd}; the kernel sends its FIN (frame {fin}) and finishes the close on its own.",
	"call.close.rst":          "{op}() sends a RST (frame {rst}) instead of a FIN: the connection is aborted (unread data, or SO_LINGER 0).",
	"call.close.listener":     "close() on the listening socket: no packet; the port stops accepting connections.",
	"call.close.quiet":        "{op}() on fd {fd}: no segment was needed.",
	"call.shutdown":           "shutdown({how}) sends a FIN (frame {fin}) but keeps the socket open for reading: a half-close.",
	"call.shutdown.rd":        "shutdown({how}): nothing goes on the wire; this side stops reading.",
	"call.errno":              "{op}() failed with {errno}.",
	"call.generic":            "{op}() returned {ret}.",

	// Calls nobody recorded: what the segments of a capture made by another tool imply.
	"call.inferred.connect": "Inferred, not recorded: the SYN in frame {frame} shows that {who} called connect() to {remote}. This capture holds no socket calls; sockscope run records them.",
	"call.inferred.listen":  "Inferred, not recorded: the SYN-ACK in frame {frame} shows that {who} has a listening socket on {local} (socket, bind, listen); the kernel completes the handshake before any accept().",
	"call.inferred.close":   "Inferred, not recorded: the FIN in frame {frame} shows that {who} called close() or shutdown(SHUT_WR): it will send no more data.",
	"call.inferred.abort":   "Inferred, not recorded: the RST in frame {frame} is an abortive close by {who} (close() with SO_LINGER {1, 0}, or with unread data) or the kernel's answer on a port where nothing listens.",

	// Notes.
	"note.capture":                  "How many packets the capture holds and how many the kernel dropped: with none dropped, the ladder is complete.",
	"note.summary":                  "The connection's story in plain words.",
	"note.other":                    "{text}",
	"note.kernel-disagrees":         "The kernel says {ep} is in {kernel}, but the segments imply {inferred} (connection {conn}).",
	"note.kernel-disagrees.call":    "After call #{id} the kernel says {ep} is in {kernel}, but the segments imply {inferred} (connection {conn}).",
	"note.kernel-disagrees.explain": "The kernel's own view and the state inferred from the segments differ: a segment is missing from the capture or the inference is wrong. sockscope shows it rather than hide it.",

	// Connection summaries.
	"summary.refused":         "Connection {id}: refused. Nothing listened on {saddr}; its kernel answered the SYN with a RST.",
	"summary.noanswer":        "Connection {id}: no answer. {client} sent {n} SYN and nothing came back.",
	"summary.nohandshake":     "Connection {id}: the handshake never completed.",
	"summary.reset":           "Connection {id}: reset by {who}, after {cb} bytes from {client} and {sb} bytes from {server}.",
	"summary.normal":          "Connection {id}: normal open and close, {first} closed first; {cb} bytes from {client}, {sb} bytes from {server}.",
	"summary.simultaneous":    "Connection {id}: normal open, simultaneous close (the FINs crossed); {cb} bytes from {client}, {sb} bytes from {server}.",
	"summary.halfclose":       "Connection {id}: half-closed by {first}: {second} sent {m} more bytes after {first}'s FIN, then closed too.",
	"summary.halfopen":        "Connection {id}: half-closed by {first}; the capture ended before {second} closed.",
	"summary.open":            "Connection {id}: still open when the capture ended; {cb} bytes from {client}, {sb} bytes from {server}.",
	"summary.midstream":       "The capture began after its handshake.",
	"summary.udp":             "UDP flow {id}: datagrams from {client}: {cn}, from {server}: {sn}; no connection was set up or closed.",
	"summary.udp.unreachable": "An ICMP port unreachable said that nothing listened.",
}
