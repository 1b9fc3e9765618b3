package decode

import (
	"encoding/binary"
	"strconv"
)

// TCP header flag bits (byte 13 of the header).
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
	flagURG = 0x20
	flagECE = 0x40
	flagCWR = 0x80
)

// flagLetters is tcpdump's table (print-tcp.c, tcp_flag_values) in its
// order: tcpdump 4.99 prints "[FSRP.UEW]" for a segment with every flag set,
// "[.U]" for URG+ACK, and "none" when no flag is set. The NS/AE bit is not
// printed by tcpdump 4.99.3 and is not shown here either.
var flagLetters = [...]struct {
	bit    byte
	letter byte
}{
	{flagFIN, 'F'}, {flagSYN, 'S'}, {flagRST, 'R'}, {flagPSH, 'P'},
	{flagACK, '.'}, {flagURG, 'U'}, {flagECE, 'E'}, {flagCWR, 'W'},
}

// flagStrings holds the notation of every flag byte, so that formatting
// flags never allocates.
var flagStrings = func() (t [256]string) {
	for b := range t {
		var s []byte
		for _, f := range flagLetters {
			if byte(b)&f.bit != 0 {
				s = append(s, f.letter)
			}
		}
		if len(s) == 0 {
			t[b] = "none"
		} else {
			t[b] = string(s)
		}
	}
	return t
}()

// tcpFlags renders a TCP flag byte as tcpdump does: "S", "S.", "P.", "FP.".
func tcpFlags(b byte) string { return flagStrings[b] }

// tcpOptions renders the options area of a TCP header (the bytes between
// the fixed 20-byte header and the data offset) as tcpdump prints it inside
// "options [...]": "mss 65495,sackOK,TS val 123 ecr 0,nop,wscale 7". Like
// tcpdump it stops after "eol" and marks a malformed option "[bad opt]".
// SACK blocks are shown with absolute sequence numbers ("sack 1 {a:b}"),
// MPTCP options by their subtype ("mptcp capable").
func tcpOptions(opts []byte) string {
	if len(opts) == 0 {
		return ""
	}
	return string(appendTCPOptions(make([]byte, 0, 64), opts))
}

// appendTCPOptions appends what tcpOptions returns to b.
func appendTCPOptions(b []byte, opts []byte) []byte {
	start := len(b)
	for len(opts) > 0 {
		if len(b) > start {
			b = append(b, ',')
		}
		kind := opts[0]
		switch kind {
		case 0:
			return append(b, "eol"...)
		case 1:
			b = append(b, "nop"...)
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return append(b, "[bad opt]"...)
		}
		n := int(opts[1])
		data := opts[2:n]
		opts = opts[n:]
		switch {
		case kind == 2 && len(data) == 2:
			b = append(b, "mss "...)
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(data)), 10)
		case kind == 3 && len(data) == 1:
			b = append(b, "wscale "...)
			b = strconv.AppendUint(b, uint64(data[0]), 10)
		case kind == 4 && len(data) == 0:
			b = append(b, "sackOK"...)
		case kind == 5 && len(data)%8 == 0:
			b = append(b, "sack "...)
			b = strconv.AppendUint(b, uint64(len(data)/8), 10)
			b = append(b, ' ')
			for i := 0; i+8 <= len(data); i += 8 {
				b = append(b, '{')
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(data[i:])), 10)
				b = append(b, ':')
				b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(data[i+4:])), 10)
				b = append(b, '}')
			}
		case kind == 8 && len(data) == 8:
			b = append(b, "TS val "...)
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(data)), 10)
			b = append(b, " ecr "...)
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(data[4:])), 10)
		case kind == 30 && len(data) >= 1:
			b = append(b, "mptcp "...)
			b = append(b, mptcpSubtype(data[0]>>4)...)
		default:
			b = append(b, "unknown-"...)
			b = strconv.AppendUint(b, uint64(kind), 10)
			if len(data) > 0 {
				b = append(b, ' ')
				for _, c := range data {
					b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
				}
			}
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

func mptcpSubtype(st byte) string {
	names := [...]string{"capable", "join", "dss", "add-addr", "remove-addr", "prio", "fail", "fast-close", "tcprst"}
	if int(st) < len(names) {
		return names[st]
	}
	return "subtype-" + strconv.Itoa(int(st))
}
