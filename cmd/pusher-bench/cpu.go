package main

import (
	"context"
	"fmt"
	"math"
	"time"
)

// cpuSample is the CPU time (user + system) used so far by the pusher
// servers and, when measured, by PostgreSQL.
type cpuSample struct {
	pusher, postgres time.Duration
	postgresSeen     bool                  // some postgres process was found
	backends         map[int]time.Duration // the run's own backends, by pid
}

// sampleCPU returns the CPU time of the processes pids and, with a schema,
// of every postgres process on this machine (including the backends that
// exited already) and of the backends serving the schema's connections.
// It needs Linux's /proc.
func sampleCPU(ctx context.Context, pids []int, schema *pgSchema) (cpuSample, error) {
	var s cpuSample
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
	var err error
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
// and per delivered message, and returns the latter in µs: pusher's, plus
// every postgres process's when there is one; NaN when not measured.
func reportCPU(before, after cpuSample, err error, messages int) float64 {
	if err != nil {
		fmt.Printf("cpu: not measured: %v\n", err)
		return math.NaN()
	}
	pusher := after.pusher - before.pusher
	name := "pusher"
	if !before.postgresSeen || !after.postgresSeen {
		fmt.Printf("cpu: %s %.2f s, per delivered message %.1f µs (pusher)\n",
			name, pusher.Seconds(), perMessage(pusher, messages))
		return perMessage(pusher, messages)
	}
	pg := after.postgres - before.postgres
	fmt.Printf("cpu: %s %.2f s, postgres %.2f s, per delivered message %.1f µs (pusher+postgres)\n",
		name, pusher.Seconds(), pg.Seconds(), perMessage(pusher+pg, messages))
	own, n := backendsDelta(before, after)
	fmt.Printf("cpu: postgres backends of this run's %d connections %.2f s (the rest: other clients, background and exited processes), "+
		"per delivered message %.1f µs (pusher+these backends)\n", n, own.Seconds(), perMessage(pusher+own, messages))
	return perMessage(pusher+pg, messages)
}

// perMessage returns d per message in microseconds.
func perMessage(d time.Duration, messages int) float64 {
	return float64(d.Microseconds()) / float64(max(messages, 1))
}
