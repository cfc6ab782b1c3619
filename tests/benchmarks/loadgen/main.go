// loadgen: a closed-loop HTTP load generator for the search capacity benchmark.
//
// It reads requests (JSON lines: kind, method, url, body) from a file, runs
// them with a fixed number of concurrent clients for a fixed time, each client
// taking the next request of the list in turn, and prints one JSON object:
// per kind and overall the count, errors, queries per second and latency
// percentiles, and the CPU seconds loadgen itself used (so a reader can see
// what the load cost the machine it shares with the system under test).
//
// Written in Go, with the standard library only, because a Python client would
// take a large share of a 2-core machine at a few hundred requests a second.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type request struct {
	Kind   string          `json:"kind"`
	Method string          `json:"method"`
	URL    string          `json:"url"`
	Body   json.RawMessage `json:"body,omitempty"`
}

type sample struct {
	kind    string
	latency time.Duration
	failed  bool
}

type summary struct {
	Count  int     `json:"count"`
	Errors int     `json:"errors"`
	QPS    float64 `json:"qps"`
	P50    float64 `json:"p50_ms"`
	P90    float64 `json:"p90_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
}

type report struct {
	Concurrency int                `json:"concurrency"`
	Seconds     float64            `json:"seconds"`
	CPUSeconds  float64            `json:"loadgen_cpu_seconds"`
	Overall     summary            `json:"overall"`
	Kinds       map[string]summary `json:"kinds"`
	FirstError  string             `json:"first_error,omitempty"`
}

func load(path string) ([]request, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	var out []request
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 1<<24)
	for scanner.Scan() {
		if len(bytes.TrimSpace(scanner.Bytes())) == 0 {
			continue
		}
		var r request
		if err := json.Unmarshal(scanner.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("line %d: %w", len(out)+1, err)
		}
		out = append(out, r)
	}
	return out, scanner.Err()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func summarise(samples []sample, seconds float64) summary {
	var latencies []time.Duration
	errors := 0
	for _, s := range samples {
		if s.failed {
			errors++
			continue
		}
		latencies = append(latencies, s.latency)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	at := func(q float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		i := int(float64(len(latencies)) * q)
		if i >= len(latencies) {
			i = len(latencies) - 1
		}
		return ms(latencies[i])
	}
	return summary{
		Count: len(samples), Errors: errors, QPS: float64(len(latencies)) / seconds,
		P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: at(1.0),
	}
}

func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(usage.Utime) + tv(usage.Stime)
}

func main() {
	file := flag.String("requests", "", "JSON lines: kind, method, url, body")
	concurrency := flag.Int("c", 8, "concurrent clients")
	duration := flag.Duration("d", 20*time.Second, "how long to run")
	warmup := flag.Duration("warmup", 3*time.Second, "run this long first, unmeasured")
	timeout := flag.Duration("timeout", 30*time.Second, "per-request timeout")
	once := flag.Bool("once", false, "send each request at most once: stop early when the list is used up")
	flag.Parse()
	requests, err := load(*file)
	if err != nil || len(requests) == 0 {
		fmt.Fprintln(os.Stderr, "loadgen: no requests:", err)
		os.Exit(2)
	}
	client := &http.Client{
		Timeout: *timeout,
		Transport: &http.Transport{
			MaxIdleConns:        *concurrency * 2,
			MaxIdleConnsPerHost: *concurrency * 2,
			DisableCompression:  true,
		},
	}
	var next int64 = -1
	var firstError atomic.Value
	run := func(until time.Time, record bool, out chan<- []sample) {
		var mine []sample
		for time.Now().Before(until) {
			i := int(atomic.AddInt64(&next, 1))
			if *once && record && i >= len(requests) {
				break
			}
			r := requests[i%len(requests)]
			var body io.Reader
			if len(r.Body) > 0 {
				body = bytes.NewReader(r.Body)
			}
			req, _ := http.NewRequest(r.Method, r.URL, body)
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			began := time.Now()
			resp, err := client.Do(req)
			failed := err != nil
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				failed = resp.StatusCode != http.StatusOK
				if failed {
					firstError.CompareAndSwap(nil, fmt.Sprintf("%s %s: HTTP %d", r.Method, r.URL, resp.StatusCode))
				}
			} else {
				firstError.CompareAndSwap(nil, err.Error())
			}
			if record {
				mine = append(mine, sample{r.Kind, time.Since(began), failed})
			}
		}
		out <- mine
	}
	phase := func(d time.Duration, record bool) ([]sample, float64) {
		out := make(chan []sample, *concurrency)
		var wg sync.WaitGroup
		began := time.Now()
		until := began.Add(d)
		for i := 0; i < *concurrency; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); run(until, record, out) }()
		}
		wg.Wait()
		close(out)
		var all []sample
		for s := range out {
			all = append(all, s...)
		}
		return all, time.Since(began).Seconds()
	}
	phase(*warmup, false)
	// The measured run goes on from where the warm-up stopped: no request is sent twice.
	cpuBefore := cpuSeconds()
	samples, seconds := phase(*duration, true)
	byKind := map[string][]sample{}
	for _, s := range samples {
		byKind[s.kind] = append(byKind[s.kind], s)
	}
	rep := report{
		Concurrency: *concurrency, Seconds: seconds, CPUSeconds: cpuSeconds() - cpuBefore,
		Overall: summarise(samples, seconds), Kinds: map[string]summary{},
	}
	for kind, s := range byKind {
		rep.Kinds[kind] = summarise(s, seconds)
	}
	if e, ok := firstError.Load().(string); ok {
		rep.FirstError = e
	}
	_ = json.NewEncoder(os.Stdout).Encode(rep)
}
