package trace

import (
	"fmt"
	"strconv"
	"strings"
)

// EscapeData renders a payload as text: printable ASCII as itself, a
// backslash as \\, \r \n \t as such and every other byte as \xNN. The
// rendering is reversible with UnescapeData.
func EscapeData(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		switch {
		case c == '\\':
			sb.WriteString(`\\`)
		case c == '\r':
			sb.WriteString(`\r`)
		case c == '\n':
			sb.WriteString(`\n`)
		case c == '\t':
			sb.WriteString(`\t`)
		case c >= 0x20 && c < 0x7f:
			sb.WriteByte(c)
		default:
			fmt.Fprintf(&sb, `\x%02x`, c)
		}
	}
	return sb.String()
}

// UnescapeData reverses EscapeData.
func UnescapeData(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 >= len(s) {
			return out, fmt.Errorf("trailing backslash at byte %d", i)
		}
		i++
		switch s[i] {
		case '\\':
			out = append(out, '\\')
		case 'r':
			out = append(out, '\r')
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case 'x':
			if i+3 > len(s) {
				return out, fmt.Errorf("short \\x escape at byte %d", i-1)
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return out, fmt.Errorf("bad \\x escape at byte %d", i-1)
			}
			out = append(out, byte(v))
			i += 2
		default:
			return out, fmt.Errorf("unknown escape \\%c at byte %d", s[i], i-1)
		}
	}
	return out, nil
}
