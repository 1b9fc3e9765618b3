package decode

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sockscope/sockscope/decode/narrate"
	"github.com/sockscope/sockscope/trace"
)

// missingPhrase is how narrate.Say shows a phrase no catalogue has.
var missingPhrase = regexp.MustCompile(`\[[a-z]+\.[A-Za-z0-9_.-]+\]`)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// narrationStories are the timelines whose narration the golden files
// hold: the echo tutorial (calls and segments), a refused connection, a
// half-close and the lossy capture with every analysis flag (segments only).
func narrationStories(t *testing.T) map[string][]trace.Event {
	m := map[string][]trace.Event{"echo": echoStory(t).timeline()}

	st := newStory(t)
	conn := st.call("client", trace.OpConnect, -1, "")
	conn.Errno = "ECONNREFUSED"
	st.c("S", "").seg(false, "R.", "")
	st.done(conn)
	m["refused"] = st.timeline()

	st = newStory(t)
	c := st.call("client", trace.OpConnect, 0, "")
	st.c("S", "").s("S.", "").c(".", "")
	st.done(c)
	sh := st.call("client", trace.OpShutdown, 0, "")
	sh.How = "SHUT_WR"
	st.c("F.", "").s(".", "")
	st.done(sh)
	st.instant("server", trace.OpRecv, 0, "")
	snd := st.call("server", trace.OpSend, 4, "more")
	st.s("P.", "more").c(".", "")
	st.done(snd)
	st.instant("client", trace.OpRecv, 4, "more")
	cl := st.call("server", trace.OpClose, 0, "")
	st.s("F.", "").c(".", "")
	st.done(cl)
	m["half-close"] = st.timeline()

	d := NewDecoder()
	var tl trace.Timeline
	fs := lossyConversation(t)
	for i := range fs {
		tl.Append(d.Feed(&fs[i], i+1)...)
	}
	m["lossy"] = tl.Snapshot()
	return m
}

// narration renders every event's explanation, one block per event.
func narration(evs []trace.Event) string {
	var sb strings.Builder
	for _, ev := range evs {
		head := string(ev.Kind)
		switch {
		case ev.Call != nil:
			head = fmt.Sprintf("call #%d %s %s", ev.Call.ID, ev.Call.Lane, ev.Call.Op)
		case ev.Packet != nil:
			p := ev.Packet
			head = fmt.Sprintf("frame %d %s %s", p.Frame, p.Flags, strings.Join(p.Analysis, ","))
		case ev.State != nil:
			head = fmt.Sprintf("state %s %s→%s", ev.State.Endpoint, ev.State.From, ev.State.To)
		case ev.Note != nil:
			head = "note: " + ev.Note.Text
		}
		fmt.Fprintf(&sb, "%s\n    %s\n", strings.TrimSpace(head), ev.Explain)
	}
	return sb.String()
}

// TestNarrationGolden: every event of each story, narrated in English and
// in Chinese, as the golden files under testdata/ hold it (go test
// -update rewrites them; review the diff like a teacher would).
func TestNarrationGolden(t *testing.T) {
	stories := narrationStories(t)
	for _, lang := range []narrate.Lang{narrate.English, narrate.Chinese} {
		for _, name := range []string{"echo", "refused", "half-close", "lossy"} {
			t.Run(string(lang)+"/"+name, func(t *testing.T) {
				evs := Annotate(stories[name], AnnotateOptions{Lang: lang})
				for i, ev := range evs {
					if ev.Explain == "" || missingPhrase.MatchString(ev.Explain) {
						t.Errorf("event %d (%s) has no narration: %q", i, ev.Kind, ev.Explain)
					}
					if strings.Contains(ev.Explain, "{") {
						t.Errorf("event %d: placeholder left unfilled: %q", i, ev.Explain)
					}
				}
				got := narration(evs)
				path := filepath.Join("testdata", "narration", name+"."+string(lang)+".golden")
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("narration differs from %s (go test -update rewrites it):\n%s", path, firstDiff(got, string(want)))
				}
			})
		}
	}
}

// firstDiff shows the first line that differs.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n got %s\nwant %s", i+1, a, b)
		}
	}
	return ""
}

// TestStatePhrasesExist: every state statePhrase names has its phrase in
// both catalogues, so none shows as [key] where state.other would do.
func TestStatePhrasesExist(t *testing.T) {
	for _, st := range []trace.State{trace.StateSynSent, trace.StateSynRecv, trace.StateEstablished, trace.StateFinWait1,
		trace.StateFinWait2, trace.StateCloseWait, trace.StateLastAck, trace.StateClosing, trace.StateTimeWait,
		trace.StateClosed, trace.StateListen, trace.StateUnknown, "BOGUS"} {
		known := statePhrase(st) != nil
		for _, l := range []narrate.Lang{narrate.English, narrate.Chinese} {
			if has := narrate.Has(l, "state."+string(st)); has != known {
				t.Errorf("%s: %s has the phrase %v, statePhrase knows it %v", st, l, has, known)
			}
		}
	}
}
