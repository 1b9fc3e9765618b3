package decode

import (
	"encoding/binary"
	"math/bits"
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
			b = appendUint32(b, uint32(binary.BigEndian.Uint16(data)))
		case kind == 3 && len(data) == 1:
			b = append(b, "wscale "...)
			b = appendUint32(b, uint32(data[0]))
		case kind == 4 && len(data) == 0:
			b = append(b, "sackOK"...)
		case kind == 5 && len(data)%8 == 0:
			b = append(b, "sack "...)
			b = strconv.AppendUint(b, uint64(len(data)/8), 10)
			b = append(b, ' ')
			for i := 0; i+8 <= len(data); i += 8 {
				b = append(b, '{')
				b = appendUint32(b, binary.BigEndian.Uint32(data[i:]))
				b = append(b, ':')
				b = appendUint32(b, binary.BigEndian.Uint32(data[i+4:]))
				b = append(b, '}')
			}
		case kind == 8 && len(data) == 8:
			b = append(b, "TS val "...)
			b = appendUint32(b, binary.BigEndian.Uint32(data))
			b = append(b, " ecr "...)
			b = appendUint32(b, binary.BigEndian.Uint32(data[4:]))
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

// appendUint32 appends v in decimal, as strconv.AppendUint does, writing
// the digits in place, four at a time from the right, instead of copying
// them from a buffer: the options of nearly every segment hold two such
// numbers.
func appendUint32(b []byte, v uint32) []byte {
	// The number of digits: log10 from the bit length, then corrected.
	t := bits.Len32(v|1) * 1233 >> 12
	n := t + 1
	if v|1 < pow10[t] {
		n--
	}
	l := len(b)
	if cap(b)-l < n {
		return strconv.AppendUint(b, uint64(v), 10)
	}
	b = b[:l+n]
	i := l + n
	for v >= 10000 {
		q := v / 10000
		put4(b[i-4:i], v-q*10000)
		i -= 4
		v = q
	}
	switch {
	case v >= 1000:
		put4(b[i-4:i], v)
	case v >= 100:
		q := v / 100
		b[i-3] = byte('0' + q)
		put2(b[i-2:i], v-q*100)
	case v >= 10:
		put2(b[i-2:i], v)
	default:
		b[i-1] = byte('0' + v)
	}
	return b
}

// put4 writes x < 10000 as four digits, put2 x < 100 as two.
func put4(b []byte, x uint32) {
	q := x / 100
	put2(b[:2], q)
	put2(b[2:4], x-q*100)
}

func put2(b []byte, x uint32) {
	b[0], b[1] = digitPairs[2*x], digitPairs[2*x+1]
}

var pow10 = [...]uint32{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// digitPairs holds "00" to "99".
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

func mptcpSubtype(st byte) string {
	names := [...]string{"capable", "join", "dss", "add-addr", "remove-addr", "prio", "fail", "fast-close", "tcprst"}
	if int(st) < len(names) {
		return names[st]
	}
	return "subtype-" + strconv.Itoa(int(st))
}
