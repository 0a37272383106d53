package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// freeLoopbackAddr returns a loopback address with a port that was free a
// moment ago, for the server's -debug-addr.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startProfile, with -profile, takes a CPU profile of the first server
// (through its -debug-addr) for -profile-seconds after -profile-delay and
// writes it to the -profile file. The returned function waits until it is
// written, so call it before stopping the server; it returns the error of
// taking it. Without -profile both do nothing.
func startProfile(ctx context.Context, c config) (wait func() error) {
	if c.profile == "" {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() {
		select {
		case <-time.After(c.profileDelay):
		case <-ctx.Done():
			done <- ctx.Err()
			return
		}
		done <- fetchProfile(ctx, c.debugAddr, c.profileSeconds, c.profile)
	}()
	return func() error {
		if err := <-done; err != nil {
			return fmt.Errorf("-profile: %w", err)
		}
		fmt.Printf("cpu profile: %s (%v from %v after the start)\n", c.profile, c.profileSeconds, c.profileDelay)
		return nil
	}
}

// fetchProfile asks the pprof listener at addr for a CPU profile of d and
// writes it to path.
func fetchProfile(ctx context.Context, addr string, d time.Duration, path string) error {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: time.Duration(secs)*time.Second + 30*time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", url, resp.StatusCode, bytes.TrimSpace(data))
	}
	return os.WriteFile(path, data, 0o644)
}

// profileTop is a CPU profile summarized: its header, the flat CPU time by
// function and by package, and the cumulative time of pusher's own
// functions.
type profileTop struct {
	header    []string // pprof's "Duration: 8s, Total samples = 6.2s (77.5%)" line
	total     time.Duration
	functions []profileEntry // by flat time, largest first
	packages  []profileEntry // the functions' flat time summed by package, largest first (no cum)
	own       []profileEntry // the functions of ownModule, by cumulative time, largest first
}

// profileEntry is a function or a package and its flat and cumulative CPU
// time.
type profileEntry struct {
	name      string
	flat, cum time.Duration
}

// ownModule prefixes the names of pusher's own functions.
const ownModule = "github.com/pusher-hq/pusher/"

// summarizeProfile runs go tool pprof -top on the profile at path and
// summarizes its output.
func summarizeProfile(path string) (profileTop, error) {
	// Every node, however small: the shares are of all samples.
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=1000000", "-nodefraction=0", "-edgefraction=0", path).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return profileTop{}, fmt.Errorf("go tool pprof: %w", err)
	}
	return parsePprofTop(out)
}

// parsePprofTop parses the output of go tool pprof -top: the header lines,
// then a "flat flat% sum% cum cum%" table with the function name last.
func parsePprofTop(out []byte) (profileTop, error) {
	var p profileTop
	byPkg := map[string]time.Duration{}
	inTable := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !inTable {
			if strings.HasPrefix(line, "flat ") {
				inTable = true
				continue
			}
			if strings.HasPrefix(line, "Duration:") {
				p.header = append(p.header, line)
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		flat, err := parsePprofDuration(f[0])
		if err != nil {
			return p, fmt.Errorf("pprof line %q: %w", line, err)
		}
		cum, err := parsePprofDuration(f[3])
		if err != nil {
			return p, fmt.Errorf("pprof line %q: %w", line, err)
		}
		name := strings.Join(f[5:], " ")
		name = strings.TrimSuffix(name, " (inline)")
		p.total += flat
		e := profileEntry{name: name, flat: flat, cum: cum}
		p.functions = append(p.functions, e)
		if strings.HasPrefix(name, ownModule) && !isClosure(name) {
			p.own = append(p.own, e)
		}
		byPkg[packageOf(name)] += flat
	}
	if !inTable {
		return p, fmt.Errorf("no table in the pprof output: %q", firstLine(out))
	}
	for name, d := range byPkg {
		p.packages = append(p.packages, profileEntry{name: name, flat: d})
	}
	byFlat := func(a, b profileEntry) int {
		return cmp.Or(cmp.Compare(b.flat, a.flat), strings.Compare(a.name, b.name))
	}
	slices.SortFunc(p.functions, byFlat)
	slices.SortFunc(p.packages, byFlat)
	slices.SortFunc(p.own, func(a, b profileEntry) int {
		return cmp.Or(cmp.Compare(b.cum, a.cum), strings.Compare(a.name, b.name))
	})
	return p, nil
}

// isClosure reports whether fn names a function literal ("F.func1",
// "F.func2.1"): the middleware chains and goroutine bodies that only
// repeat their callers' cumulative time.
func isClosure(fn string) bool {
	i := strings.LastIndex(fn, ".func")
	if i < 0 {
		return false
	}
	rest := fn[i+len(".func"):]
	return rest != "" && rest[0] >= '0' && rest[0] <= '9'
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// parsePprofDuration parses pprof's durations: "1.20s", "350ms", "10us",
// "0" (and "1.5mins" or "2hrs" for long profiles).
func parsePprofDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"mins", time.Minute}, {"hrs", time.Hour}, {"ms", time.Millisecond}, {"us", time.Microsecond},
		{"µs", time.Microsecond}, {"ns", time.Nanosecond}, {"s", time.Second}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(f * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("duration %q", s)
}

// packageOf returns the import path of the package of a function as pprof
// names it: "net/http.(*conn).serve" → "net/http",
// "modernc.org/libc.Xmemcpy" → "modernc.org/libc",
// "github.com/a/b/c.F.func1" → "github.com/a/b/c". Assembly routines of
// the runtime without a package in their name (aeshashbody,
// indexbytebody) are "(assembly)"; other names without one (such as
// "[vdso]") are returned as they are.
func packageOf(fn string) string {
	if !strings.ContainsAny(fn, "./[") {
		return "(assembly)"
	}
	name := fn
	if i := strings.IndexByte(name, '['); i >= 0 { // type arguments may hold paths
		name = name[:i]
	}
	slash := strings.LastIndexByte(name, '/')
	dot := strings.IndexByte(name[slash+1:], '.')
	if dot < 0 {
		return fn
	}
	return name[:slash+1+dot]
}
