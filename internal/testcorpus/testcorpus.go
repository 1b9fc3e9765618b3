// Package testcorpus finds the shared corpus of odd captures
// (../shared/corpus beside the repository) for the tests of several
// packages. Only tests import it.
package testcorpus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Dir returns the shared corpus directory, found from the module root
// above the working directory (a test runs in its package's directory),
// or an error saying why there is none.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: cannot find ../shared/corpus")
		}
		dir = parent
	}
	c := filepath.Join(dir, "..", "shared", "corpus")
	if _, err := os.Stat(c); err != nil {
		return "", fmt.Errorf("the shared corpus is not beside the repository (%s): %w", c, err)
	}
	return c, nil
}
