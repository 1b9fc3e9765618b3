//go:build sockscope_cpuprofile

package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// Built only with -tags sockscope_cpuprofile, by bench/pgo.sh: a command
// run with SOCKSCOPE_CPUPROFILE=file writes its CPU profile there, the
// input of the profile-guided build (default.pgo).
func init() {
	path := os.Getenv("SOCKSCOPE_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sockscope: cpu profile:", err)
		os.Exit(exitCannot)
	}
	atExit = func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "sockscope: cpu profile:", err)
		}
	}
}
