package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockscope/sockscope/decode/narrate"
	"github.com/sockscope/sockscope/scenarios"
)

// exitError carries an exit status out of a cobra command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

// run is the whole command line: it parses args, runs the subcommand and
// returns the exit status. stdout carries the output, stderr diagnostics.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(ctx, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "sockscope: "+ee.err.Error())
		}
		return ee.code
	}
	// cobra's own errors: unknown command or flag.
	fmt.Fprintln(stderr, "sockscope: "+err.Error())
	fmt.Fprintln(stderr, "Run 'sockscope --help' for usage.")
	return exitCannot
}

func newRootCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "sockscope",
		Short: "See what socket calls put on the wire: calls, TCP segments and states on one timeline",
		Long: `sockscope runs the socket programs of the classic tutorials (a TCP echo server and
client, ...) while it captures their loopback traffic, and shows the socket calls, the
segments on the wire (three-way handshake, data, four-way close) and each endpoint's
TCP state as one ladder. On a terminal the ladder opens in a dashboard you can step
through; piped, it is printed as text (or JSON Lines with --format json). It needs no
sudo: by default the program and the capture run in a private network namespace.`,
		Example: `  sockscope run tcp-echo                     run the TCP echo tutorial and show its ladder
  sockscope run tcp-echo --format json       the same timeline as JSON Lines
  sockscope run tcp-echo -w echo.pcapng      also save the capture, with the calls as packet comments
  sockscope replay echo.pcapng               show a saved capture the same way
  sockscope list                             the scenarios and the tutorials they come from`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newRunCommand(ctx, stdout, stderr), newReplayCommand(ctx, stdout, stderr), newListCommand(stdout))
	return root
}

// outputFlags are shared by run and replay.
type outputFlags struct {
	format  string
	lang    string
	explain bool
}

func (o *outputFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.format, "format", "auto", "output: dashboard (the terminal UI), text (the ladder), json (JSON Lines) or auto (the dashboard when standard output is a terminal, else text)")
	cmd.Flags().StringVar(&o.lang, "lang", "", "language of the explanations: en or zh (default: from LC_ALL, LC_MESSAGES or LANG; zh* gives zh)")
	cmd.Flags().BoolVar(&o.explain, "explain", false, "text output: explain every event in a sentence or two under its row")
}

func (o *outputFlags) check() error {
	lang := narrate.FromEnv(os.Getenv("LC_ALL"), os.Getenv("LC_MESSAGES"), os.Getenv("LANG"))
	if o.lang != "" {
		l, ok := narrate.ParseLang(o.lang)
		if !ok {
			return &exitError{exitCannot, fmt.Errorf("--lang %q: use en or zh", o.lang)}
		}
		lang = l
	}
	timelineOptions.Annotate.Lang, timelineOptions.Explain = lang, o.explain
	switch o.format {
	case "auto", "text", "json", "dashboard":
		return nil
	}
	return &exitError{exitCannot, fmt.Errorf("--format %q: use dashboard, text, json or auto", o.format)}
}

type runFlags struct {
	outputFlags
	write    string
	host     bool
	port     int
	clients  int
	messages []string
	pace     time.Duration
	timeout  time.Duration
	bytes    bulkBytes
	step     bool
}

// bulkBytes is --bytes: a size like 8M or 256MB (scenarios.ParseBytes).
type bulkBytes int64

func (b *bulkBytes) String() string {
	if *b == 0 {
		return ""
	}
	return fmt.Sprint(int64(*b))
}

func (b *bulkBytes) Set(s string) error {
	n, err := scenarios.ParseBytes(s)
	*b = bulkBytes(n)
	return err
}

func (b *bulkBytes) Type() string { return "size" }

func newRunCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run SCENARIO",
		Short: "Run a scenario while capturing its traffic, and show the timeline",
		Long: `run starts a scenario (see 'sockscope list') and captures its loopback traffic at the
same time. By default both run in a new user and network namespace: no sudo is needed and
the capture holds only the scenario's packets. Under sudo the capture is opened first,
then privileges drop to the invoking user before the scenario runs or any file is written.
--host runs on the host's loopback instead, so that other programs can reach the scenario
(this needs sudo or a binary with cap_net_raw).`,
		Example: `  sockscope run tcp-echo
  sockscope run tcp-echo --format json | jq -c 'select(.kind=="packet") | [.flags, .rseq, .rack, .len]'
  sockscope run tcp-echo -w echo.pcapng && tshark -r echo.pcapng -T fields -e frame.comment
  sockscope run tcp-echo --message hi --message bye --pace 500ms
  sudo sockscope run tcp-echo --host --port 12345`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			return runScenario(ctx, args[0], f, stdout, stderr)
		},
	}
	f.outputFlags.add(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&f.write, "write", "w", "", "also write the capture to this pcapng `FILE`, each socket call stored as a packet comment")
	fl.BoolVar(&f.host, "host", false, "run on the host's loopback instead of a private namespace (needs capture rights)")
	fl.IntVar(&f.port, "port", 0, "the server's port (default: chosen by the kernel)")
	fl.IntVar(&f.clients, "clients", 0, "how many clients, for scenarios that have several")
	fl.StringArrayVar(&f.messages, "message", nil, "a message the client sends (repeat for several)")
	fl.DurationVar(&f.pace, "pace", 0, "pause between the program's steps, e.g. 500ms, for a classroom")
	fl.DurationVar(&f.timeout, "timeout", 0, "end a stuck scenario after this long (default: the scenario's own)")
	fl.BoolVar(&f.step, "step", false, "pause the program before each socket call until a key is pressed (dashboard only)")
	fl.Var(&f.bytes, "bytes", "bulk: how much data to send, e.g. 8M or 1G (default 256M)")
	return cmd
}

func newReplayCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	var f replayFlags
	cmd := &cobra.Command{
		Use:   "replay FILE",
		Short: "Show a saved capture (pcap or pcapng) as a timeline",
		Long: `replay reads a pcap or pcapng file ('-' for standard input) and shows it as the same
ladder as run. Socket calls that sockscope stored in a pcapng file (as packet comments) are
restored; for other captures the ladder shows the packets and the TCP states they imply.
Text and JSON are printed as the file is read, in bounded memory: a capture of more than
16384 events is printed one line per event rather than as a ladder. A capture made by
another tool shows the calls its segments imply, marked "inferred".
Exit status: 0 read fully, 1 read with damage (what could be read is shown), 2 not readable.`,
		Example: `  sockscope replay echo.pcapng
  sockscope replay capture.pcap --format json
  tcpdump -i lo -w - port 12345 | sockscope replay -
  sockscope replay big.pcap --filter 'host 10.0.0.2 and tcp port 80' --format json
  sockscope replay big.pcap --conn 3`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			return replayFile(ctx, args[0], f, stdout, stderr)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&f.filter, "filter", "", "show only the packets this `EXPR` matches (pcap-filter style: host, net, port, portrange, tcp, udp, icmp, icmp6, ip, ip6, conn N; and, or, not, parentheses), with their states, calls and notes")
	cmd.Flags().IntVar(&f.conn, "conn", 0, "show only connection `N` (as numbered in the output's conn fields)")
	return cmd
}

func newListCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the scenarios, with the tutorial each comes from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			all := scenarios.All()
			width := 0
			for _, sc := range all {
				width = max(width, len(sc.Name))
			}
			for _, sc := range all {
				line := fmt.Sprintf("%-*s  %s", width, sc.Name, sc.Summary)
				var extra []string
				if sc.Duration != "" {
					extra = append(extra, sc.Duration)
				}
				if sc.Tutorial != "" {
					extra = append(extra, "tutorial "+sc.Tutorial)
				}
				if len(extra) > 0 {
					line += " [" + strings.Join(extra, "; ") + "]"
				}
				fmt.Fprintln(stdout, line)
			}
			return nil
		},
	}
}
