package main

import (
	"fmt"
	"time"
)

// cpuSample is the CPU time (user + system) used so far by the pusher
// servers and, when measured, by PostgreSQL.
type cpuSample struct {
	pusher, postgres time.Duration
	postgresSeen     bool // some postgres process was found
}

// sampleCPU returns the CPU time of the processes pids and, if withPostgres,
// of every postgres process on this machine, including the backends that
// exited already. It needs Linux's /proc.
func sampleCPU(pids []int, withPostgres bool) (cpuSample, error) {
	var s cpuSample
	for _, pid := range pids {
		t, err := processCPU(pid)
		if err != nil {
			return s, err
		}
		s.pusher += t
	}
	if withPostgres {
		var err error
		if s.postgres, s.postgresSeen, err = postgresCPU(); err != nil {
			return s, err
		}
	}
	return s, nil
}

// reportCPU prints the CPU time used between the samples before and after,
// and per delivered message.
func reportCPU(before, after cpuSample, err error, messages int, inProcess bool) {
	if err != nil {
		fmt.Printf("cpu: not measured: %v\n", err)
		return
	}
	pusher := after.pusher - before.pusher
	name := "pusher"
	if inProcess {
		name = "pusher (in-process, with the bench's publishers and receiver)"
	}
	if !before.postgresSeen || !after.postgresSeen {
		fmt.Printf("cpu: %s %.2f s, per delivered message %.1f µs (pusher)\n",
			name, pusher.Seconds(), perMessage(pusher, messages))
		return
	}
	pg := after.postgres - before.postgres
	fmt.Printf("cpu: %s %.2f s, postgres %.2f s, per delivered message %.1f µs (pusher+postgres)\n",
		name, pusher.Seconds(), pg.Seconds(), perMessage(pusher+pg, messages))
}

// perMessage returns d per message in microseconds.
func perMessage(d time.Duration, messages int) float64 {
	return float64(d.Microseconds()) / float64(messages)
}
