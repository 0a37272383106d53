//go:build linux

package main

import "syscall"

// childSysProcAttr makes the kernel send SIGTERM to the pusher server when
// the bench process dies, so an interrupted or killed run leaves no server
// behind.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
