//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat; it is
// 100 on every Linux architecture (getconf CLK_TCK).
const clockTicks = 100

// procStat holds what the CPU accounting reads from /proc/<pid>/stat.
type procStat struct {
	ppid     int           // field 4
	self     time.Duration // utime + stime, fields 14 and 15
	children time.Duration // cutime + cstime of waited-for children, fields 16 and 17
}

// readStat reads /proc/<pid>/stat.
func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// Field 2, the command name in parentheses, may hold spaces and ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+1:])) // f[0] is field 3
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	field := func(n int) int64 {
		v, _ := strconv.ParseInt(f[n-3], 10, 64)
		return v
	}
	ticks := func(t int64) time.Duration { return time.Duration(t) * time.Second / clockTicks }
	return procStat{ppid: int(field(4)), self: ticks(field(14) + field(15)),
		children: ticks(field(16) + field(17))}, nil
}

// processCPU returns the CPU time process pid used so far.
func processCPU(pid int) (time.Duration, error) {
	st, err := readStat(pid)
	return st.self, err
}

// postgresCPU returns the CPU time used so far by the processes named
// postgres (/proc/<pid>/comm) plus, for each postmaster (a postgres
// process whose parent is not one), the time of its children that exited,
// such as the backends of closed connections. It reports whether there was
// any postgres process.
func postgresCPU() (time.Duration, bool, error) {
	stats, err := postgresProcesses()
	if err != nil {
		return 0, false, err
	}
	var total time.Duration
	for _, st := range stats {
		total += st.self
		if _, ok := stats[st.ppid]; !ok {
			total += st.children
		}
	}
	return total, len(stats) > 0, nil
}

// postgresProcesses returns the stat of every process named postgres, by
// pid. Processes that exit while it looks are left out.
func postgresProcesses() (map[int]procStat, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	stats := make(map[int]procStat)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		if st, err := readStat(pid); err == nil {
			stats[pid] = st
		}
	}
	return stats, nil
}

// machineCPU returns the CPU time all processes of this machine used so
// far (every core's busy time, from /proc/stat).
func machineCPU() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStat(data)
}

// parseProcStat returns the busy time of all cores from a /proc/stat: the
// user, nice, system, irq, softirq and steal fields of its "cpu" line (guest
// time is part of user).
func parseProcStat(data []byte) (time.Duration, error) {
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 9 {
			return 0, fmt.Errorf("/proc/stat cpu line has %d fields", len(f))
		}
		var ticks int64
		for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system (idle iowait) irq softirq steal
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat cpu line: %w", err)
			}
			ticks += v
		}
		return time.Duration(ticks) * time.Second / clockTicks, nil
	}
	return 0, fmt.Errorf("/proc/stat: no cpu line")
}
