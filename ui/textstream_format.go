package ui

import (
	"bufio"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// relFormat renders the time column of the flat rows: seconds with six
// decimals, right-aligned in timeWidth columns, exactly as fmt's "%10.6f"
// of d.Seconds() does. It keeps the last column it rendered: rows often
// share their instant, and more often their second, so that only the
// decimals change.
type relFormat struct {
	us   int64 // the microseconds text holds, if n > 0
	sec  int64 // us less its fraction of a second
	text [32]byte
	n    int // the length of text; 0 when it holds nothing
}

// exactRelLimit bounds the times rendered in fixed point: below it,
// d.Seconds() is within 0.1 ns of d, so that rounding the float to whole
// microseconds rounds d the same way unless d lies exactly halfway
// between two microseconds.
const exactRelLimit = 1e15 // ns, 11.6 days

func (r *relFormat) append(b []byte, d time.Duration) []byte {
	if d < 0 || d >= exactRelLimit || d%1000 == 500 {
		return appendRelFloat(b, d)
	}
	us := int64(d) / 1000
	if d%1000 > 500 {
		us++
	}
	if r.n == 0 || us < r.sec || us-r.sec >= 1e6 {
		r.n = len(appendRelMicros(r.text[:0], us))
		r.sec = us - us%1e6
	} else if us != r.us {
		putMicros(r.text[r.n-6:r.n], us-r.sec)
	}
	r.us = us
	if n := len(b); r.n <= 16 && cap(b)-n >= 16 {
		// One copy of 16 bytes: no call to copy a few.
		b = b[:n+16]
		*(*[16]byte)(b[n:]) = [16]byte(r.text[:16])
		return b[:n+r.n]
	}
	return append(b, r.text[:r.n]...)
}

// appendRel appends d in seconds with six decimals, right-aligned in the
// time column, as fmt's "%10.6f" of d.Seconds() does.
func appendRel(b []byte, d time.Duration) []byte {
	if d < 0 || d >= exactRelLimit || d%1000 == 500 {
		return appendRelFloat(b, d)
	}
	us := int64(d) / 1000
	if d%1000 > 500 {
		us++
	}
	return appendRelMicros(b, us)
}

// appendRelMicros appends us microseconds (≥ 0) as seconds with six
// decimals, right-aligned in the time column.
func appendRelMicros(b []byte, us int64) []byte {
	var buf [24]byte
	i := len(buf) - 6
	putMicros(buf[i:], us%1e6)
	i--
	buf[i] = '.'
	for sec := us / 1e6; ; {
		i--
		buf[i] = byte('0' + sec%10)
		sec /= 10
		if sec == 0 {
			break
		}
	}
	for n := len(buf) - i; n < timeWidth; n++ {
		b = append(b, ' ')
	}
	return append(b, buf[i:]...)
}

// putMicros writes frac (< 1e6) as six digits into b.
func putMicros(b []byte, frac int64) {
	_ = b[5]
	hi, mid, lo := frac/10000, frac/100%100, frac%100
	b[0], b[1] = smallDigits[2*hi], smallDigits[2*hi+1]
	b[2], b[3] = smallDigits[2*mid], smallDigits[2*mid+1]
	b[4], b[5] = smallDigits[2*lo], smallDigits[2*lo+1]
}

// smallDigits is "00" to "99".
const smallDigits = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// appendRelFloat is appendRel through the float, for the times fixed point
// cannot render as the float does.
func appendRelFloat(b []byte, d time.Duration) []byte {
	start := len(b)
	b = strconv.AppendFloat(b, d.Seconds(), 'f', 6, 64)
	if n := len(b) - start; n < timeWidth {
		pad := timeWidth - n
		b = append(b, "          "[:pad]...)
		copy(b[start+pad:], b[start:start+n])
		for i := start; i < start+pad; i++ {
			b[i] = ' '
		}
	}
	return b
}

// explainIndent is where narration lines start.
const explainIndent = "              " // timeWidth+4 spaces

// writeExplain prints one narration under a row as writeExplain of text.go
// does (indented, wrapped at explainWidth columns: before a space, or
// around a wide character), without making its words and lines: each line
// is a piece of text, written as it is.
func (f *flatStream) writeExplain(text string) {
	if !utf8.ValidString(text) {
		// text.go's lines replace bad bytes with U+FFFD.
		w := bufio.NewWriter(appender{&f.buf})
		writeExplain(w, []string{text})
		w.Flush()
		return
	}
	const width = explainWidth - len(explainIndent)
	ls, le := 0, 0 // the line so far: text[ls:le]
	col := 0       // its columns
	word := func(ws, we, n int) {
		if col > 0 && col+n > width {
			f.buf = appendExplainLine(f.buf, text[ls:le])
			col = 0
			for ws < we && text[ws] == ' ' {
				ws++
				n--
			}
			ls = ws
		}
		le = we
		col += n
	}
	ws, n := 0, 0 // the word so far: text[ws:i], n columns
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			if c == ' ' && i > ws {
				word(ws, i, n)
				ws, n = i, 0
			}
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		if isWide(r) {
			if i > ws {
				word(ws, i, n)
			}
			word(i, i+size, 2)
			ws, n = i+size, 0
		} else {
			n++
		}
		i += size
	}
	if ws < len(text) {
		word(ws, len(text), n)
	}
	if le > ls {
		f.buf = appendExplainLine(f.buf, text[ls:le])
	}
}

// appendExplainLine appends one narration line, without its trailing
// spaces.
func appendExplainLine(b []byte, s string) []byte {
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	b = append(b, explainIndent...)
	b = append(b, s...)
	return append(b, '\n')
}

// appender is an io.Writer appending to a byte slice.
type appender struct{ b *[]byte }

func (a appender) Write(p []byte) (int, error) {
	*a.b = append(*a.b, p...)
	return len(p), nil
}

// sinceStart is t.Sub(start) for a start without a monotonic clock
// reading, without Sub's check for overflow when t is within a century
// of start.
type sinceStart struct {
	start time.Time
	sec   int64 // start.Unix()
	nsec  int   // start.Nanosecond()
	mono  bool  // start has a monotonic reading: Sub may use it
}

func newSinceStart(start time.Time) sinceStart {
	return sinceStart{start: start, sec: start.Unix(), nsec: start.Nanosecond(), mono: start != start.Round(0)}
}

func (s *sinceStart) of(t time.Time) time.Duration {
	if d := t.Unix() - s.sec; !s.mono && d > -1<<32 && d < 1<<32 {
		return time.Duration(d)*time.Second + time.Duration(t.Nanosecond()-s.nsec)
	}
	return t.Sub(s.start)
}

// appendInt is appendUint for a signed value.
func appendInt(b []byte, v int) []byte {
	if v < 0 {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return appendUint(b, uint64(v))
}

// appendUint appends v in decimal, as strconv.AppendUint does, its digits
// written in place.
func appendUint(b []byte, v uint64) []byte {
	if v < 10 {
		return append(b, byte('0'+v))
	}
	n := 2
	for x := v / 100; x > 0; x /= 10 {
		n++
	}
	l := len(b)
	b = slices.Grow(b, n)[:l+n]
	d := b[l : l+n]
	i := n
	for v >= 100 {
		q := v / 100
		r := v - q*100
		i -= 2
		d[i], d[i+1] = smallDigits[2*r], smallDigits[2*r+1]
		v = q
	}
	if v >= 10 {
		d[i-2], d[i-1] = smallDigits[2*v], smallDigits[2*v+1]
	} else {
		d[i-1] = byte('0' + v)
	}
	return b
}
