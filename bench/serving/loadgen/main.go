// The serving benchmark's latency load generator (bench/serving/serving.ts builds and runs
// it): POSTs one JSON body over keep-alive loopback connections and prints one JSON line
// of results, like load.ts, with less jitter of its own. Measured against a bare Node
// HTTP server, load.ts's own p99 was ~2 ms at 1,000 requests/s — the size of the target
// it is meant to check — from its garbage collections and event loop; Go's collector
// pauses for microseconds and a locked OS thread sleeps to the microsecond.
//
//	-rate R         open loop: R requests a second on schedule, whatever the answers do;
//	                latency counts from each request's scheduled time (no coordinated omission)
//	-connections C  closed loop: C requests in flight at all times (throughput)
//
// Usage: loadgen -url URL -body FILE (-rate R | -connections C) [-seconds 10] [-warmup 2]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"
)

type phase struct {
	mu        sync.Mutex
	latencies []float64 // ms
	ok        int
	failed    int
}

func (p *phase) add(ok bool, ms float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ok {
		p.ok++
	} else {
		p.failed++
	}
	p.latencies = append(p.latencies, ms)
}

var (
	client *http.Client
	url    string
	body   []byte
)

// send POSTs the body; true for a 2xx whose body was read whole.
func send() bool {
	res, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return err == nil && res.StatusCode >= 200 && res.StatusCode < 300
}

// sleepUntil blocks this OS thread until t: nanosleep, not the runtime's timers, which
// may fire up to a millisecond late.
func sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		ts := syscall.NsecToTimespec(d.Nanoseconds())
		for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
		}
	}
}

func openLoop(rate float64, seconds float64, p *phase) {
	total := int(rate * seconds)
	var wg sync.WaitGroup
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	for i := 0; i < total; i++ {
		scheduled := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		sleepUntil(scheduled)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok := send()
			if p != nil {
				p.add(ok, float64(time.Since(scheduled).Nanoseconds())/1e6)
			}
		}()
	}
	wg.Wait()
}

func closedLoop(connections int, seconds float64, p *phase) {
	end := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	var wg sync.WaitGroup
	for c := 0; c < connections; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				t := time.Now()
				ok := send()
				if p != nil {
					p.add(ok, float64(time.Since(t).Nanoseconds())/1e6)
				}
			}
		}()
	}
	wg.Wait()
}

func main() {
	flag.StringVar(&url, "url", "", "the URL to POST to")
	bodyFile := flag.String("body", "", "file holding the JSON body")
	rate := flag.Float64("rate", 0, "open loop: requests a second")
	connections := flag.Int("connections", 16, "closed loop: requests in flight")
	seconds := flag.Float64("seconds", 10, "measured seconds")
	warmup := flag.Float64("warmup", 2, "seconds of load before measuring")
	flag.Parse()
	if url == "" || *bodyFile == "" {
		fmt.Fprintln(os.Stderr, "-url and -body are required")
		os.Exit(2)
	}
	var err error
	if body, err = os.ReadFile(*bodyFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// At most 512 connections, as load.ts's agent: against a server that cannot keep up,
	// requests past them wait here (their latency still counts from the schedule) instead
	// of opening thousands of sockets.
	client = &http.Client{Transport: &http.Transport{
		MaxConnsPerHost:     512,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 512,
		DisableCompression:  true,
	}}
	run := func(s float64, p *phase) {
		if *rate > 0 {
			openLoop(*rate, s, p)
		} else {
			closedLoop(*connections, s, p)
		}
	}
	run(*warmup, nil)
	p := &phase{}
	t0 := time.Now()
	run(*seconds, p)
	elapsed := time.Since(t0).Seconds()
	sort.Float64s(p.latencies)
	pct := func(q float64) any {
		if len(p.latencies) == 0 {
			return nil
		}
		i := int(q * float64(len(p.latencies)))
		if i >= len(p.latencies) {
			i = len(p.latencies) - 1
		}
		return p.latencies[i]
	}
	out, _ := json.Marshal(map[string]any{
		"ok": p.ok, "failed": p.failed, "seconds": elapsed, "rps": float64(p.ok) / elapsed,
		"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1),
	})
	fmt.Println(string(out))
}
