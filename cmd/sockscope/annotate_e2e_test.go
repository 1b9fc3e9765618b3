package main

import (
	"strings"
	"testing"

	"github.com/sockscope/sockscope/trace"
)

// TestRunTCPEchoIsExplained: a real run of tcp-echo, annotated: every
// event narrated, every send and recv tied to the bytes it moved, every
// packet attributed to a call or to the kernel, no disagreement with the
// kernel's own states, and one summary in plain words.
func TestRunTCPEchoIsExplained(t *testing.T) {
	r := sockscope(t, 0, t.TempDir(), "run", "tcp-echo", "--format", "json", "--explain", "--lang", "en")
	needCapture(t, r)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	evs := decodeJSON(t, r.stdout)
	frames := map[int]*trace.Packet{}
	for _, ev := range evs {
		if ev.Packet != nil {
			frames[ev.Packet.Frame] = ev.Packet
		}
	}
	var summaries []string
	for _, ev := range evs {
		if ev.Explain == "" {
			t.Errorf("%s event without explain", ev.Kind)
		}
		switch {
		case ev.Call != nil && (ev.Call.Op == trace.OpSend || ev.Call.Op == trace.OpRecv) && ev.Call.Ret > 0:
			c := ev.Call
			if int(c.Bytes[1]-c.Bytes[0]) != c.Ret || len(c.Frames) == 0 {
				t.Errorf("call #%d %s = %d: bytes %v frames %v", c.ID, c.Op, c.Ret, c.Bytes, c.Frames)
			}
			for _, f := range c.Frames {
				p := frames[f]
				if p == nil || p.RSeq >= c.Bytes[1] || p.RSeq+uint32(p.Len) <= c.Bytes[0] {
					t.Errorf("call #%d bytes %v: frame %d does not carry them", c.ID, c.Bytes, f)
				}
			}
		case ev.Packet != nil:
			if ev.Packet.By != trace.ByCall && ev.Packet.By != trace.ByKernel {
				t.Errorf("frame %d: by %q", ev.Packet.Frame, ev.Packet.By)
			}
		case ev.Note != nil && ev.Note.Topic == trace.TopicKernelDisagrees:
			t.Errorf("disagreement with the kernel: %s", ev.Note.Text)
		case ev.Note != nil && ev.Note.Topic == trace.TopicSummary:
			summaries = append(summaries, ev.Note.Text)
		}
	}
	if len(summaries) != 1 || !strings.Contains(summaries[0], "normal open and close, the client closed first") {
		t.Errorf("summaries: %q", summaries)
	}
}

// TestExplainInChinese: --explain puts the narration under the rows, in
// the language LANG asks for unless --lang says otherwise.
func TestExplainInChinese(t *testing.T) {
	dir := t.TempDir()
	r := sockscope(t, 0, dir, "run", "tcp-echo", "--format", "text", "--explain", "--lang", "zh")
	needCapture(t, r)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// The narration wraps: read it as one text.
	text := strings.Join(strings.Fields(r.stdout), "")
	for _, want := range []string{"SYN 占用一个序列号", "recv() 返回 0：对方发送了 FIN", "TIME_WAIT 中等待 60 秒", "正常建立和关闭，客户端先关闭"} {
		if !strings.Contains(text, strings.ReplaceAll(want, " ", "")) {
			t.Errorf("the Chinese narration lacks %q", want)
		}
	}
	plain := sockscope(t, 0, dir, "run", "tcp-echo", "--format", "text")
	if strings.Contains(plain.stdout, "consumes one sequence number") || strings.Contains(plain.stdout, "占用") {
		t.Errorf("without --explain the ladder shows narration")
	}
	if bad := sockscope(t, 0, dir, "run", "tcp-echo", "--lang", "fr"); bad.code != exitCannot || !strings.Contains(bad.stderr, "--lang") {
		t.Errorf("--lang fr: exit %d, %s", bad.code, bad.stderr)
	}
}
