package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine is what the docs say about where and when a suite ran.
type machine struct {
	date      string // UTC, 2006-01-02
	commit    string // short hash, "unknown" outside a git work tree
	dirty     bool   // the work tree had uncommitted changes
	cpus      int
	cpuModel  string // from /proc/cpuinfo; "" when unknown
	vm        bool   // the CPU flags include hypervisor
	memory    string // from /proc/meminfo: total, available, swap
	goVersion string
	kernel    string
	tmpFS     string // the file system of the temp dir the data directories are in
	load      string // the 1-minute load average before the suite
	took      time.Duration
}

// describeMachine looks at this machine and the git work tree in the
// current directory; what it cannot find it leaves empty.
func describeMachine(tmpDir string) machine {
	m := machine{date: time.Now().UTC().Format("2006-01-02"), cpus: runtime.NumCPU(),
		goVersion: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH, commit: "unknown"}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain").Output(); err == nil {
			m.dirty = len(bytes.TrimSpace(st)) > 0
		}
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.cpuModel, m.vm = parseCPUInfo(data)
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.memory = parseMemInfo(data)
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(data))
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) > 0 {
			m.load = f[0]
		}
	}
	if data, err := os.ReadFile("/proc/self/mounts"); err == nil {
		dir := tmpDir
		if d, err := filepath.EvalSymlinks(tmpDir); err == nil {
			dir = d
		}
		if mnt, fs, ok := mountOf(data, dir); ok {
			m.tmpFS = fmt.Sprintf("%s (%s mounted on %s)", tmpDir, fs, mnt)
		}
	}
	return m
}

// parseCPUInfo returns the first model name of a /proc/cpuinfo and whether
// its flags include hypervisor (a virtual machine).
func parseCPUInfo(data []byte) (model string, vm bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case k == "model name" && model == "":
			model = v
		case k == "flags" && !vm:
			vm = strings.Contains(" "+v+" ", " hypervisor ")
		}
	}
	return model, vm
}

// parseMemInfo returns "23.4 GiB total, 21.0 GiB available, no swap" from
// a /proc/meminfo.
func parseMemInfo(data []byte) string {
	kb := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseFloat(f[0], 64); err == nil {
			kb[k] = n
		}
	}
	gib := func(k float64) string { return fmt.Sprintf("%.1f GiB", k/(1<<20)) }
	if kb["MemTotal"] == 0 {
		return ""
	}
	s := gib(kb["MemTotal"]) + " total, " + gib(kb["MemAvailable"]) + " available, "
	if kb["SwapTotal"] == 0 {
		return s + "no swap"
	}
	return s + gib(kb["SwapTotal"]) + " swap"
}

// mountOf returns the mount point and file system type of the mount that
// holds dir (the longest mount point that is dir or a parent of it) in a
// /proc/self/mounts.
func mountOf(mounts []byte, dir string) (mnt, fsType string, ok bool) {
	dir = filepath.Clean(dir)
	sc := bufio.NewScanner(bytes.NewReader(mounts))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		p := unescapeMount(f[1])
		if p != "/" && dir != p && !strings.HasPrefix(dir, p+"/") {
			continue
		}
		if !ok || len(p) >= len(mnt) { // later mounts hide earlier ones on the same point
			mnt, fsType, ok = p, f[2], true
		}
	}
	return mnt, fsType, ok
}

// unescapeMount undoes the octal escapes (\040 for a space) of a mounts
// field.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
