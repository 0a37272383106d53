package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"time"
)

// cpuSample is the CPU time (user + system) used so far by the pusher
// servers, by this process (the publishers and the receiver) and, when
// measured, by PostgreSQL.
type cpuSample struct {
	at            time.Time // when it was taken
	pusher, bench time.Duration
	machine       time.Duration // every process on this machine
	postgres      time.Duration
	postgresSeen  bool                  // some postgres process was found
	backends      map[int]time.Duration // the run's own backends, by pid
}

// cpuResult is what reportCPU derives from two samples.
type cpuResult struct {
	perMsg float64 // µs of CPU per delivered message (pusher, plus postgres when seen)
	// pusherCores and benchCores are the CPU time of the pusher servers and
	// of this process over the wall time between the samples: how many of
	// the machine's cores each kept busy. otherCores is the same for every
	// other process of the machine (PostgreSQL among them): load that was
	// not the run's.
	pusherCores, benchCores, otherCores float64
}

// notMeasured is the cpuResult of a run whose CPU was not measured.
var notMeasured = cpuResult{perMsg: math.NaN(), pusherCores: math.NaN(), benchCores: math.NaN(), otherCores: math.NaN()}

// sampleCPU returns the CPU time of the processes pids, of this process
// and, with a schema, of every postgres process on this machine (including
// the backends that exited already) and of the backends serving the
// schema's connections. It needs Linux's /proc.
func sampleCPU(ctx context.Context, pids []int, schema *pgSchema) (cpuSample, error) {
	s := cpuSample{at: time.Now()}
	self, err := processCPU(os.Getpid())
	if err != nil {
		return s, err
	}
	s.bench = self
	if s.machine, err = machineCPU(); err != nil {
		return s, err
	}
	for _, pid := range pids {
		t, err := processCPU(pid)
		if err != nil {
			return s, err
		}
		s.pusher += t
	}
	if schema == nil {
		return s, nil
	}
	if s.postgres, s.postgresSeen, err = postgresCPU(); err != nil {
		return s, err
	}
	s.backends, err = backendsCPU(ctx, schema)
	return s, err
}

// backendsCPU returns the CPU time of each backend serving schema.
func backendsCPU(ctx context.Context, schema *pgSchema) (map[int]time.Duration, error) {
	pids, err := schema.backendPIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the run's backends: %w", err)
	}
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		if t, err := processCPU(pid); err == nil { // else it exited meanwhile
			out[pid] = t
		}
	}
	return out, nil
}

// backendsDelta returns the CPU time the backends alive at after used since
// before (all of it for a backend started in between), and their number.
func backendsDelta(before, after cpuSample) (time.Duration, int) {
	var d time.Duration
	for pid, t := range after.backends {
		d += t - before.backends[pid]
	}
	return d, len(after.backends)
}

// reportCPU prints the CPU time used between the samples before and after,
// per delivered message and as cores kept busy, and returns them: per
// message pusher's, plus every postgres process's when there is one.
func reportCPU(before, after cpuSample, err error, messages int) cpuResult {
	if err != nil {
		fmt.Printf("cpu: not measured: %v\n", err)
		return notMeasured
	}
	pusher := after.pusher - before.pusher
	wall := after.at.Sub(before.at)
	bench := after.bench - before.bench
	other := max(0, after.machine-before.machine-pusher-bench)
	res := cpuResult{pusherCores: cores(pusher, wall), benchCores: cores(bench, wall), otherCores: cores(other, wall)}
	fmt.Printf("cpu: cores busy over %v: pusher %.2f, this bench process (publishers, receiver) %.2f, other processes %.2f, of %d\n",
		wall.Round(time.Millisecond), res.pusherCores, res.benchCores, res.otherCores, runtime.NumCPU())
	name := "pusher"
	if !before.postgresSeen || !after.postgresSeen {
		fmt.Printf("cpu: %s %.2f s, per delivered message %.1f µs (pusher)\n",
			name, pusher.Seconds(), perMessage(pusher, messages))
		res.perMsg = perMessage(pusher, messages)
		return res
	}
	pg := after.postgres - before.postgres
	fmt.Printf("cpu: %s %.2f s, postgres %.2f s, per delivered message %.1f µs (pusher+postgres)\n",
		name, pusher.Seconds(), pg.Seconds(), perMessage(pusher+pg, messages))
	own, n := backendsDelta(before, after)
	fmt.Printf("cpu: postgres backends of this run's %d connections %.2f s (the rest: other clients, background and exited processes), "+
		"per delivered message %.1f µs (pusher+these backends)\n", n, own.Seconds(), perMessage(pusher+own, messages))
	res.perMsg = perMessage(pusher+pg, messages)
	return res
}

// cores returns cpu over wall, NaN for no wall time.
func cores(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return math.NaN()
	}
	return cpu.Seconds() / wall.Seconds()
}

// perMessage returns d per message in microseconds.
func perMessage(d time.Duration, messages int) float64 {
	return float64(d.Microseconds()) / float64(max(messages, 1))
}
