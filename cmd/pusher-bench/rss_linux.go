//go:build linux

package main

import (
	"fmt"
	"os"
)

// peakRSS returns the peak resident set size (VmHWM) of process pid so far,
// in bytes.
func peakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmHWM(data)
}
