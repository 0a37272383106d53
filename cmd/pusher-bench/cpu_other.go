//go:build !linux

package main

import (
	"errors"
	"time"
)

// errNoProc: the CPU accounting reads Linux's /proc.
var errNoProc = errors.New("CPU accounting needs Linux /proc")

// processCPU is not available without /proc.
func processCPU(pid int) (time.Duration, error) { return 0, errNoProc }

// postgresCPU is not available without /proc.
func postgresCPU() (time.Duration, bool, error) { return 0, false, errNoProc }

// machineCPU is not available without /proc.
func machineCPU() (time.Duration, error) { return 0, errNoProc }
