//go:build !linux

package main

import "syscall"

// childSysProcAttr: only Linux can tie the server's life to the bench's.
func childSysProcAttr() *syscall.SysProcAttr { return nil }
