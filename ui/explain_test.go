package ui

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sockscope/sockscope/trace"
)

// TestExplainUnderEachRow: with Explain, a packet row carries its own
// narration and that of the state changes folded into it, wrapped under
// the row; without, nothing changes.
func TestExplainUnderEachRow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cli, srv := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:12345")
	syn := trace.PacketEvent(&trace.Packet{Frame: 1, Time: t0, Proto: "tcp", Src: cli, Dst: srv, Flags: "S", Conn: 1})
	syn.Explain = "The client asks to connect: SYN with seq 0. " + strings.Repeat("A SYN consumes one sequence number. ", 4)
	st := trace.StateEvent(&trace.StateChange{Time: t0, Endpoint: cli, Conn: 1, From: trace.StateClosed, To: trace.StateSynSent, Source: trace.SourceInferred})
	st.Explain = "客户端发出了 SYN：SYN_SENT，等待 SYN-ACK。" + strings.Repeat("SYN 占用一个序列号。", 8)
	note := trace.NoteEvent(&trace.Note{Time: t0.Add(time.Millisecond), Level: "info", Text: "capture: 1 packets"})
	note.Explain = note.Note.Text // a note that explains itself is not repeated
	l := Layout([]trace.Event{syn, st, note})

	var plain, explained bytes.Buffer
	if err := WriteText(&plain, l, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteText(&explained, l, TextOptions{Explain: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "consumes") {
		t.Errorf("narration without Explain:\n%s", plain.String())
	}
	out := explained.String()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var under []string
	for _, line := range lines[2:] { // the heading, the arrow
		if strings.HasPrefix(line, strings.Repeat(" ", timeWidth+4)) {
			under = append(under, strings.TrimSpace(line))
		}
		if displayWidth(line) > explainWidth {
			t.Errorf("line wider than %d columns: %q", explainWidth, line)
		}
	}
	joined := strings.Join(under, " ")
	if !strings.Contains(joined, "The client asks to connect") || !strings.Contains(strings.ReplaceAll(joined, " ", ""), "客户端发出了SYN") {
		t.Errorf("the packet's and its state's narration should follow the arrow:\n%s", out)
	}
	if len(under) < 4 {
		t.Errorf("long narration should wrap onto several lines:\n%s", out)
	}
	if strings.Count(out, "capture: 1 packets") != 1 {
		t.Errorf("a note's own text is repeated as its explanation:\n%s", out)
	}
}
