package main

import (
	"os"
	"testing"
	"time"
)

func TestReadStat(t *testing.T) {
	st, err := readStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != os.Getppid() {
		t.Errorf("ppid %d, want %d", st.ppid, os.Getppid())
	}
}

func TestParseProcStat(t *testing.T) {
	data := []byte("cpu  100 20 30 5000 70 4 6 10 50 0\ncpu0 50 10 15 2500 35 2 3 5 25 0\nintr 1 2 3\n")
	// user 100 + nice 20 + system 30 + irq 4 + softirq 6 + steal 10 ticks; not idle, iowait or guest.
	if got, err := parseProcStat(data); err != nil || got != 1700*time.Millisecond {
		t.Errorf("parseProcStat = %v, %v; want 1.7s", got, err)
	}
	if _, err := parseProcStat([]byte("cpu0 1 2 3\n")); err == nil {
		t.Error("no cpu line accepted")
	}
	if _, err := parseProcStat([]byte("cpu 1 2 3\n")); err == nil {
		t.Error("short cpu line accepted")
	}
	if d, err := machineCPU(); err != nil || d <= 0 {
		t.Errorf("machineCPU() = %v, %v", d, err)
	}
}
