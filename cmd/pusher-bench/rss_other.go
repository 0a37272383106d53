//go:build !linux

package main

// peakRSS is not available without /proc.
func peakRSS(pid int) (int64, error) { return 0, errNoProc }
